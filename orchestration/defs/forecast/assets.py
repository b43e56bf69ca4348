"""Forecasts (预测) in the marts group: built after the dbt marts by every transform, like the alerts."""

import dagster as dg

from ...database import stage_url
from ...lib.forecasting import run_forecasts
from ...resources import WarehouseResource


@dg.multi_asset(
    group_name="marts",
    specs=[
        dg.AssetSpec(
            dg.AssetKey(["marts", "fct_forecast_monthly"]),
            kinds={"python", "postgres"},
            deps=[dg.AssetKey(["marts", "fct_enterprise_monthly_history"])],
            description="Monthly 综合能耗 forecasts, 3 months ahead with 80/95 % intervals, per region × "
            "industry and per enterprise ≥100,000 tce; model chosen per series by backtest.",
        ),
        dg.AssetSpec(
            dg.AssetKey(["marts", "rpt_forecast_backtest"]),
            kinds={"python", "postgres"},
            deps=[dg.AssetKey(["marts", "fct_enterprise_monthly_history"])],
            description="Backtest error (MAPE, MASE) per forecast series and candidate model; the chosen one.",
        ),
    ],
)
def forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    summary = run_forecasts(stage_url(warehouse.database_url(), "transformer"))
    context.log.info(f"forecasts: {summary}")
    yield dg.MaterializeResult(asset_key=dg.AssetKey(["marts", "fct_forecast_monthly"]), metadata=summary)
    yield dg.MaterializeResult(
        asset_key=dg.AssetKey(["marts", "rpt_forecast_backtest"]),
        metadata={
            "backtested_series": summary["backtested_series"],
            "chosen_model_beats_seasonal_naive": summary["chosen_model_beats_seasonal_naive"],
        },
    )
