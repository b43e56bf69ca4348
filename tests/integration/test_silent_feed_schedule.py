"""Silent feeds against the wall clock: the batch build judges against the data watermark and
raises nothing on a clean feed; the running platform's schedule passes its own tick time as the as-of,
and the Dagster job it launches (rebuilding only the alert models) opens one silent_feed alert per meter
once every feed has been quiet for more than four of its cadences; the next tick updates them rather
than duplicating. A later batch run (at the data watermark) leaves those alerts open until their meter
sends again."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import psycopg
import pytest

from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.dbt_env import run_dbt


def _alerts(url: str, kind: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select meter_id, status, evidence->>'as_of' from marts.fct_alerts where fault_kind = %s order by meter_id",
            (kind,),
        ).fetchall()


@pytest.fixture
def clean_warehouse(fresh_database, tmp_path, monkeypatch):
    simulate(tmp_path / "feed", enterprises=2, start=date(2026, 2, 1), days=2, seed=3, faults="none")
    url = fresh_database()
    ingest_path(url, tmp_path / "feed")
    run_dbt(["build"], url)
    monkeypatch.setenv("IEM_DATABASE_URL", url)  # the Dagster resources read the warehouse from here
    return url


def test_schedule_tick_time_becomes_the_as_of_and_opens_silent_feed_alerts(clean_warehouse, tmp_path):
    from orchestration.definitions import defs
    from orchestration.jobs import silent_feed_schedule

    url = clean_warehouse
    assert _alerts(url, "silent_feed") == [], "a clean feed is not silent at its own watermark"
    with psycopg.connect(url) as conn:
        watermark = conn.execute("select max(period_end) from raw.readings").fetchone()[0]
        meters = conn.execute("select count(*) from raw.meters").fetchone()[0]

    tick = watermark + timedelta(days=5)  # beyond 4 cadences of the daily (coal, gas) meters too
    request = silent_feed_schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick)).run_requests[
        0
    ]
    assert request.run_config["ops"]["dbt_warehouse"]["config"]["as_of"] == tick.isoformat()

    job = defs.resolve_job_def("silent_feed_job")
    result = job.execute_in_process(
        run_config=request.run_config, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    planned = {tuple(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert planned == {("intermediate", "int_alert_candidates"), ("marts", "fct_alerts")}
    silent = _alerts(url, "silent_feed")
    assert len(silent) == meters and all(status == "open" for _, status, _ in silent)

    # the next tick finds the same silence: still one open alert per meter, as-of moved on
    later = tick + timedelta(minutes=10)
    again = silent_feed_schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=later)).run_requests[
        0
    ]
    assert job.execute_in_process(run_config=again.run_config, instance=dg.DagsterInstance.ephemeral()).success
    after = _alerts(url, "silent_feed")
    assert len(after) == meters

    # a batch build at the data watermark (no new data) does not see the silence, but nothing ended it: the
    # wall-clock alerts stay open (before, the batch run "resolved" every one of them)
    run_dbt(["build", "--select", "int_alert_candidates", "fct_alerts"], url)
    assert [status for _, status, _ in _alerts(url, "silent_feed")] == ["open"] * meters

    # new data for one meter ends its silence; the others stay open
    with psycopg.connect(url) as conn:
        eid, mid, last_end, unit = conn.execute(
            "select enterprise_id, meter_id, max(period_end), min(unit) from raw.readings "
            "where period_start is not null group by 1, 2 "
            "having max(period_end - period_start) = interval '15 minutes' order by 1, 2 limit 1"
        ).fetchone()
    feed = tmp_path / "resumed"
    feed.mkdir()
    start, end = last_end.isoformat(), (last_end + timedelta(minutes=15)).isoformat()
    (feed / "readings_resumed.csv").write_text(
        "enterprise_id,meter_id,period_start,period_end,value,unit,quality,sent_at\n"
        f"{eid},{mid},{start},{end},1,{unit},measured,{end}\n",
        encoding="utf-8",
    )
    assert ingest_path(url, feed).to_dict()["rows_loaded"] == 1
    run_dbt(["build"], url)
    statuses = {(e, m): s for e, m, s in _alert_statuses(url)}
    assert statuses.pop((eid, mid)) == "resolved"
    assert set(statuses.values()) == {"open"} and len(statuses) == meters - 1


def _alert_statuses(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select enterprise_id, meter_id, status from marts.fct_alerts where fault_kind = 'silent_feed'"
        ).fetchall()
