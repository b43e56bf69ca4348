"""Forecasts: with 36 months of history every region × industry series is backtested, the
backtest error is published per series, the chosen model beats seasonal naive on most series, and
forecasts come 3 months ahead with nested intervals; with two months of history the run still completes
and every series says it fell back."""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg
import pytest

from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.dbt_env import run_dbt
from orchestration.lib.forecasting import forecast_series, run_forecasts

START = date(2026, 1, 1)


def _frame(url: str, sql: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _warehouse(tmp_path_factory, fresh_database, history_months: int):
    feed = tmp_path_factory.mktemp(f"forecast_feed_{history_months}")
    simulate(feed, enterprises=8, start=START, days=31, seed=23, faults="none", history_months=history_months)
    url = fresh_database()
    ingest_path(url, feed)
    run_dbt(["build"], url)
    return url, run_forecasts(url)


@pytest.fixture(scope="module")
def long_history(tmp_path_factory, fresh_database):
    return _warehouse(tmp_path_factory, fresh_database, 36)


def test_history_joins_reported_totals_to_metered_months(long_history):
    url, _ = long_history
    h = _frame(url, "select enterprise_id, month, source, calibration_months from marts.fct_enterprise_monthly_history")
    per_ent = h.groupby("enterprise_id")
    assert per_ent.size().min() == 37, "36 reported months + January 2026 metered"
    assert set(h.loc[h["month"] == START, "source"]) == {"metered"}
    assert set(h.loc[h["month"] < START, "source"]) == {"reported"}
    assert (h["calibration_months"] >= 1).all(), "January overlaps reported and metered: calibration rests on it"


def test_backtest_published_and_chosen_model_beats_seasonal_naive_on_most_series(long_history):
    url, summary = long_history
    bt = _frame(url, "select * from marts.rpt_forecast_backtest")
    ri = bt[bt["series_kind"] == "region_industry"]
    series = ri["series_id"].nunique()
    assert series == summary["region_industry_series"] >= 3
    assert summary["fallback_series"] == 0
    assert set(ri["model"]) == {"seasonal_naive", "holt_winters"}
    assert (ri["mape"].notna() & (ri["mape"] >= 0)).all() and (ri["origins"] == 8).all()
    chosen = ri[ri["is_chosen"]]
    assert len(chosen) == series, "exactly one chosen model per series"
    beats = chosen["model"].ne("seasonal_naive").sum()
    assert beats > series / 2, f"chosen model beats seasonal naive on only {beats} of {series} series"


def test_forecasts_three_months_ahead_with_nested_intervals(long_history):
    url, _ = long_history
    fc = _frame(url, "select * from marts.fct_forecast_monthly where forecast_kind = 'forecast'")
    assert set(fc["month"]) == {date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)}
    assert set(fc["horizon"]) == {1, 2, 3}
    assert fc.groupby(["series_kind", "series_id"]).size().eq(3).all()
    assert (fc["lower_95_tce"] <= fc["lower_80_tce"]).all() and (fc["lower_80_tce"] < fc["forecast_tce"]).all()
    assert (fc["forecast_tce"] < fc["upper_80_tce"]).all() and (fc["upper_80_tce"] <= fc["upper_95_tce"]).all()
    bt = _frame(url, "select * from marts.fct_forecast_monthly where forecast_kind = 'backtest'")
    assert bt["actual_tce"].notna().all() and len(bt) > 0
    big = _frame(
        url,
        "select enterprise_id, sum(comprehensive_tce_equivalent) * 12 / count(*) as annual "
        "from marts.fct_enterprise_monthly_history where month >= '2025-02-01' group by 1",
    )
    expected = set(big.loc[big["annual"] >= 100_000, "enterprise_id"])
    assert set(fc.loc[fc["series_kind"] == "enterprise", "series_id"]) == expected


def test_two_months_of_history_still_completes_and_says_it_fell_back(tmp_path_factory, fresh_database):
    url, summary = _warehouse(tmp_path_factory, fresh_database, 2)
    assert summary["series"] > 0 and summary["fallback_series"] == summary["series"]
    fc = _frame(url, "select * from marts.fct_forecast_monthly")
    assert (fc["model"] == "naive_fallback").all() and fc["is_fallback"].all()
    assert fc["note"].str.contains("only 3 complete month").all()


def test_forecast_series_is_deterministic_and_rejects_empty_input():
    months = [date(2020 + (m // 12), m % 12 + 1, 1) for m in range(30)]
    values = [100 + 10 * ((m % 12) in (0, 1)) + m for m in range(30)]
    a, b = forecast_series(months, values), forecast_series(months, values)
    assert a.forecasts == b.forecasts and a.chosen == b.chosen
    with pytest.raises(ValueError, match="at least one"):
        forecast_series([], [])
