"""Group `dashboards`: self-contained HTML dashboards per month under $IEM_HOME/dashboards/<YYYY-MM>/."""

from datetime import date

import dagster as dg

from dashboards import render_month

from ...database import stage_url
from ...partitions import monthly_partitions
from ...resources import PlatformPathsResource, WarehouseResource


@dg.asset(
    group_name="dashboards",
    partitions_def=monthly_partitions,
    deps=[
        dg.AssetKey(["marts", "fct_region_monthly"]),
        dg.AssetKey(["marts", "fct_region_industry_monthly"]),
        dg.AssetKey(["marts", "fct_enterprise_monthly"]),
        dg.AssetKey(["export", "national_export"]),
        dg.AssetKey(["marts", "fct_forecast_monthly"]),
        dg.AssetKey(["marts", "fct_region_carbon_monthly"]),
        dg.AssetKey(["marts", "fct_region_industry_carbon_monthly"]),
        dg.AssetKey(["marts", "fct_enterprise_carbon_monthly"]),
        dg.AssetKey(["marts", "fct_enterprise_energy_co2_monthly"]),
    ],
    key=dg.AssetKey(["dashboards", "monthly_dashboards"]),
    kinds={"html"},
    description="Region overview, industry views, enterprise drill-downs and the acceptance report (HTML, "
    "charts embedded as SVG, nothing loaded from the network).",
)
def monthly_dashboards(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, platform_paths: PlatformPathsResource
) -> dg.MaterializeResult:
    month = date.fromisoformat(context.partition_key)
    out = platform_paths.paths().dashboards / f"{month:%Y-%m}"
    pages = render_month(stage_url(warehouse.database_url(), "exporter"), month, out)
    return dg.MaterializeResult(metadata={"pages": len(pages), "folder": dg.MetadataValue.path(str(out))})
