"""Monthly energy forecasts (预测), three months ahead with prediction intervals, per region × industry
and per enterprise of at least 100,000 tce a year. Library code: no Dagster import; the asset in
orchestration/defs/forecast wires it into the graph after the dbt marts.

Per series the model is chosen by a rolling-origin backtest over the same origins for every candidate:
- `seasonal_naive`: the same month last year (the baseline every model must beat);
- `holt_winters`: additive trend and additive 12-month seasonality (statsmodels), with ≥ 26 months;
- `holt_damped`: damped additive trend, no season, with 15–25 months.
The lower mean absolute percentage error (MAPE) over horizons 1–3 wins; a tie keeps the baseline.
Prediction intervals come from the chosen model's own backtest errors at each horizon (normal
approximation with the backtest RMSE), so they are as wide as the model has actually been wrong.
Series with fewer than 15 complete months fall back to the last value (`naive_fallback`), with an
interval from the month-to-month variation (or ±10 % per √horizon with fewer than 3 months) and a note
saying so. Output is deterministic: no random simulation anywhere.

Input: marts.fct_enterprise_monthly_history. Output (replaced atomically in one transaction):
marts.fct_forecast_monthly (forecasts and one-step backtest forecasts beside actuals) and
marts.rpt_forecast_backtest (backtest error per series and candidate model, which one was chosen)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import psycopg
import yaml
from psycopg import sql

from ..database import warehouse_build_lock
from ..settings import DBT_PROJECT_DIR

HORIZON = 3
LARGE_ENTERPRISE_TCE = 100_000
MIN_SEASONAL_MONTHS = 26
MIN_MODEL_MONTHS = 15
MAX_ORIGINS = 8
Z80, Z95 = 1.2816, 1.9600


@dataclass
class SeriesForecast:
    chosen: str
    is_fallback: bool
    note: str
    forecasts: list[tuple[date, int, float, float, float, float, float]]  # month, h, mean, lo80, hi80, lo95, hi95
    backtest: dict[str, dict] = field(default_factory=dict)  # model -> {mape, mase, origins, one_step: {month: f}}


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def _fit_predict(model: str, y: np.ndarray, h: int) -> np.ndarray:
    if model == "seasonal_naive":
        return np.array([y[len(y) - 12 + (k % 12)] for k in range(h)])
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short, smooth series
        if model == "holt_winters":
            fit = ExponentialSmoothing(
                y, trend="add", seasonal="add", seasonal_periods=12, initialization_method="estimated"
            ).fit()
        elif model == "holt_damped":
            fit = ExponentialSmoothing(y, trend="add", damped_trend=True, initialization_method="estimated").fit()
        else:
            raise ValueError(f"unknown model {model!r}")
    return np.asarray(fit.forecast(h), dtype=float)


def forecast_series(months: list[date], values: list[float], horizon: int = HORIZON) -> SeriesForecast:
    """Choose a model by backtest and forecast `horizon` months after the last one."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    if n == 0 or len(months) != n:
        raise ValueError(f"a series needs as many months as values and at least one: {len(months)} months, {n} values")
    future = [_add_months(months[-1], k + 1) for k in range(horizon)]
    if n < MIN_MODEL_MONTHS:
        level = y[-1]
        if n >= 3:
            rel = np.diff(y) / np.where(y[:-1] == 0, np.nan, y[:-1])
            sigma = float(np.nanstd(rel, ddof=1)) * abs(level) if np.isfinite(np.nanstd(rel)) else 0.1 * abs(level)
            how = "month-to-month variation"
        else:
            sigma, how = 0.1 * abs(level), "±10 % assumed"
        rows = [(m, k + 1, level, *_interval(level, sigma * math.sqrt(k + 1))) for k, m in enumerate(future)]
        return SeriesForecast(
            "naive_fallback",
            True,
            f"only {n} complete month(s) of history (< {MIN_MODEL_MONTHS}): last value carried "
            f"forward, interval from {how}",
            rows,
        )
    candidates = ["seasonal_naive", "holt_winters" if n >= MIN_SEASONAL_MONTHS else "holt_damped"]
    min_train = 24 if n >= MIN_SEASONAL_MONTHS else 12
    origins = list(range(max(min_train, n - MAX_ORIGINS), n))
    results: dict[str, dict] = {}
    scale = float(np.mean(np.abs(y[12:] - y[:-12]))) if n > 12 else float("nan")  # MASE scale: seasonal naive in-sample
    for model in candidates:
        errors: dict[int, list[float]] = {k: [] for k in range(1, horizon + 1)}
        abs_pct, abs_err, one_step = [], [], {}
        for o in origins:
            pred = _fit_predict(model, y[:o], horizon)
            for k in range(1, horizon + 1):
                if o + k - 1 >= n:
                    break
                actual = y[o + k - 1]
                e = actual - pred[k - 1]
                errors[k].append(e)
                abs_err.append(abs(e))
                if actual != 0:
                    abs_pct.append(abs(e) / abs(actual))
                if k == 1:
                    one_step[months[o]] = float(pred[0])
        results[model] = {
            "mape": float(np.mean(abs_pct)) if abs_pct else float("nan"),
            "mase": float(np.mean(abs_err)) / scale if scale and np.isfinite(scale) and scale > 0 else None,
            "origins": len(origins),
            "rmse_by_horizon": {k: float(np.sqrt(np.mean(np.square(v)))) if v else None for k, v in errors.items()},
            "one_step": one_step,
        }
    base, model = candidates
    chosen = model if results[model]["mape"] < results[base]["mape"] else base
    pred = _fit_predict(chosen, y, horizon)
    rmse = results[chosen]["rmse_by_horizon"]
    rows = []
    for k, m in enumerate(future, start=1):
        sigma = rmse.get(k) or rmse.get(1) or 0.0
        rows.append((m, k, float(pred[k - 1]), *_interval(float(pred[k - 1]), sigma)))
    return SeriesForecast(
        chosen,
        False,
        f"chosen by backtest over {len(origins)} origins (MAPE "
        f"{results[chosen]['mape']:.2%} vs seasonal naive {results[base]['mape']:.2%})",
        rows,
        results,
    )


def _interval(mean: float, sigma: float) -> tuple[float, float, float, float]:
    return mean - Z80 * sigma, mean + Z80 * sigma, mean - Z95 * sigma, mean + Z95 * sigma


def load_series(url: str) -> list[dict]:
    """The series to forecast: each region × industry (sum of its enterprises over the trailing months
    in which all of them have data) and each enterprise of ≥ 100,000 tce over its last 12 months."""
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "select enterprise_id, month, region_code, industry_code, comprehensive_tce_equivalent::float8 "
            "from marts.fct_enterprise_monthly_history where region_code is not null order by 1, 2"
        )
        hist = pd.DataFrame(cur.fetchall(), columns=["enterprise_id", "month", "region_code", "industry_code", "tce"])
    out: list[dict] = []
    if hist.empty:
        return out
    for (region, industry), g in hist.groupby(["region_code", "industry_code"], sort=True):
        wide = g.pivot(index="month", columns="enterprise_id", values="tce").sort_index()
        wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq="MS").date)
        complete = wide.notna().all(axis=1).to_numpy()
        start = len(complete)
        while start > 0 and complete[start - 1]:
            start -= 1
        part = wide.iloc[start:]
        if len(part):
            out.append(
                {
                    "series_kind": "region_industry",
                    "series_id": f"{region}/{industry}",
                    "region_code": region,
                    "industry_code": industry,
                    "enterprise_id": None,
                    "enterprises": wide.shape[1],
                    "months": list(part.index),
                    "values": part.sum(axis=1).tolist(),
                }
            )
    for ent, unsorted in hist.groupby("enterprise_id", sort=True):
        g = unsorted.sort_values("month")
        if g["tce"].tail(12).sum() * 12 / min(12, len(g)) < LARGE_ENTERPRISE_TCE:
            continue
        s = g.set_index("month")["tce"]
        s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="MS").date)
        trailing = s[s.isna().cumsum() == s.isna().sum()].dropna() if s.isna().any() else s
        out.append(
            {
                "series_kind": "enterprise",
                "series_id": ent,
                "region_code": g["region_code"].iloc[-1],
                "industry_code": g["industry_code"].iloc[-1],
                "enterprise_id": ent,
                "enterprises": 1,
                "months": list(trailing.index),
                "values": trailing.tolist(),
            }
        )
    return out


FORECAST_DDL = """
create table marts.fct_forecast_monthly (
    series_kind text not null, series_id text not null, region_code text, industry_code text, enterprise_id text,
    month date not null, forecast_kind text not null, horizon int not null, model text not null,
    forecast_tce double precision, lower_80_tce double precision, upper_80_tce double precision,
    lower_95_tce double precision, upper_95_tce double precision, actual_tce double precision,
    is_fallback boolean not null, note text,
    primary key (series_kind, series_id, forecast_kind, month))
"""
BACKTEST_DDL = """
create table marts.rpt_forecast_backtest (
    series_kind text not null, series_id text not null, region_code text, industry_code text, enterprise_id text,
    history_months int not null, last_actual_month date not null, model text not null, origins int,
    mape double precision, mase double precision, is_chosen boolean not null, beats_seasonal_naive boolean,
    note text, primary key (series_kind, series_id, model))
"""
SOURCES_YML = DBT_PROJECT_DIR / "models" / "marts" / "forecast" / "_forecast__sources.yml"


def _comments() -> list[tuple[str, str | None, str]]:
    """(table, column or None, description) from the dbt source YAML: the docs site and the PostgreSQL
    comments that BI tools show come from one text."""
    spec = yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))
    out: list[tuple[str, str | None, str]] = []
    for source in spec["sources"]:
        for table in source["tables"]:
            out.append((table["name"], None, " ".join(table["description"].split())))
            out.extend((table["name"], c["name"], c["description"]) for c in table.get("columns", []))
    return out


def _copy(conn, table: str, columns: list[str], rows: list[tuple]) -> None:
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin") as cp:
        for r in rows:
            cp.write_row(r)


def run_forecasts(url: str) -> dict:
    """Forecast every series and replace both forecast tables atomically. Returns a summary."""
    with warehouse_build_lock(url):
        return _run_forecasts(url)


def _run_forecasts(url: str) -> dict:
    series = load_series(url)
    fc_rows: list[tuple] = []
    bt_rows: list[tuple] = []
    chosen_beats = compared = fallbacks = 0
    for s in series:
        f = forecast_series(s["months"], s["values"])
        key = (s["series_kind"], s["series_id"], s["region_code"], s["industry_code"], s["enterprise_id"])
        actual = dict(zip(s["months"], s["values"], strict=True))
        for month, h, mean, lo80, hi80, lo95, hi95 in f.forecasts:
            fc_rows.append(
                (*key, month, "forecast", h, f.chosen, mean, lo80, hi80, lo95, hi95, None, f.is_fallback, f.note)
            )
        if f.is_fallback:
            fallbacks += 1
            bt_rows.append((*key, len(s["values"]), s["months"][-1], f.chosen, 0, None, None, True, None, f.note))
            continue
        for month, pred in f.backtest[f.chosen]["one_step"].items():
            fc_rows.append(
                (*key, month, "backtest", 1, f.chosen, pred, None, None, None, None, actual[month], False, None)
            )
        base = f.backtest["seasonal_naive"]["mape"]
        for model, r in f.backtest.items():
            beats = None if model == "seasonal_naive" else bool(r["mape"] < base)
            bt_rows.append(
                (
                    *key,
                    len(s["values"]),
                    s["months"][-1],
                    model,
                    r["origins"],
                    r["mape"],
                    r["mase"],
                    model == f.chosen,
                    beats,
                    f.note if model == f.chosen else None,
                )
            )
        compared += 1
        chosen_beats += int(f.chosen != "seasonal_naive")
    with psycopg.connect(url) as conn:  # one transaction: readers see the old tables or the new ones
        conn.execute("drop table if exists marts.fct_forecast_monthly")
        conn.execute("drop table if exists marts.rpt_forecast_backtest")
        conn.execute(FORECAST_DDL)
        conn.execute(BACKTEST_DDL)
        for table, column, text in _comments():
            target = (
                sql.SQL("column {}").format(sql.Identifier("marts", table, column))
                if column
                else sql.SQL("table {}").format(sql.Identifier("marts", table))
            )
            conn.execute(sql.SQL("comment on {} is {}").format(target, sql.Literal(text)))
        _copy(
            conn,
            "marts.fct_forecast_monthly",
            [
                "series_kind",
                "series_id",
                "region_code",
                "industry_code",
                "enterprise_id",
                "month",
                "forecast_kind",
                "horizon",
                "model",
                "forecast_tce",
                "lower_80_tce",
                "upper_80_tce",
                "lower_95_tce",
                "upper_95_tce",
                "actual_tce",
                "is_fallback",
                "note",
            ],
            fc_rows,
        )
        _copy(
            conn,
            "marts.rpt_forecast_backtest",
            [
                "series_kind",
                "series_id",
                "region_code",
                "industry_code",
                "enterprise_id",
                "history_months",
                "last_actual_month",
                "model",
                "origins",
                "mape",
                "mase",
                "is_chosen",
                "beats_seasonal_naive",
                "note",
            ],
            bt_rows,
        )
    return {
        "series": len(series),
        "region_industry_series": sum(s["series_kind"] == "region_industry" for s in series),
        "enterprise_series": sum(s["series_kind"] == "enterprise" for s in series),
        "fallback_series": fallbacks,
        "backtested_series": compared,
        "chosen_model_beats_seasonal_naive": chosen_beats,
        "forecast_rows": len(fc_rows),
    }
