"""Forecast quality on simulated history: how often the backtest-chosen model beats seasonal naive.

A fresh database on the cluster; the simulator writes `--enterprises` with `--history-months` of daily
totals before a metered month (clean, fixed seed); ingest, dbt build, forecasts; prints the series
counts and the median backtest MAPE of each candidate over the region × industry series. Usage:

    python -m benchmarks.forecast_backtest --enterprises 40 --history-months 36 [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg

from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.database import database_url, scratch_database
from orchestration.dbt_env import run_dbt
from orchestration.lib.forecasting import run_forecasts


def run(cluster_url: str, enterprises: int, history_months: int, seed: int = 2026) -> dict:
    with scratch_database(cluster_url, "iem_bench_fc") as url:
        with tempfile.TemporaryDirectory() as tmp:
            simulate(
                Path(tmp),
                enterprises=enterprises,
                start=date(2026, 1, 1),
                days=31,
                seed=seed,
                faults="none",
                history_months=history_months,
            )
            ingest_path(url, Path(tmp))
        run_dbt(["build", "--quiet"], url)
        t0 = time.perf_counter()
        summary = run_forecasts(url)
        seconds = time.perf_counter() - t0
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "select series_id, model, mape, is_chosen from marts.rpt_forecast_backtest "
                "where series_kind = 'region_industry'"
            ).fetchall()
    mape: dict[str, list[float]] = {}
    chosen: dict[str, int] = {}
    for _, model, value, is_chosen in rows:
        if value is not None:
            mape.setdefault(model, []).append(value)
        if is_chosen:
            chosen[model] = chosen.get(model, 0) + 1
    return {
        "enterprises": enterprises,
        "history_months": history_months,
        "seconds": round(seconds, 1),
        "summary": summary,
        "median_mape": {m: round(statistics.median(v), 4) for m, v in mape.items()},
        "chosen_region_industry": chosen,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--enterprises", type=int, default=40)
    p.add_argument("--history-months", type=int, default=36)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(database_url(), args.enterprises, args.history_months)
    s = result["summary"]
    print(
        f"{s['series']} series ({s['region_industry_series']} region x industry, "
        f"{s['enterprise_series']} enterprises), "
        f"{s['fallback_series']} fallbacks; region x industry chosen: {result['chosen_region_industry']}; "
        f"median backtest MAPE: {result['median_mape']}; forecasting {result['seconds']} s"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
