"""`iem run`: the main job, executed in-process over the Dagster asset graph.

If $IEM_HOME/landing holds no feed file, a demo feed is simulated there first (fixed seed and dates,
DESIGN §7). The month is --month, else the last complete month in the data: the latest month whose
end is not after the data watermark (latest period_end in the warehouse or in landing files).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg

log = logging.getLogger(__name__)

STAGE_OF_STEP = {
    "raw_feeds": "ingest",
    "dbt_warehouse": "transform",
    "forecasts": "transform",
    "export__national_export": "export",
    "dashboards__monthly_dashboards": "dashboards",
}


def _future_tolerance() -> timedelta:
    from ingestion.reference import load_reference

    return timedelta(minutes=load_reference().limits.get("future_tolerance_minutes", 15))


def _landing_watermark(landing: Path, now: datetime | None = None) -> datetime | None:
    """Latest period_end of the readings waiting in landing files, counting only the rows the door will
    accept as to time: a reading ending after its sent_at or after the clock (plus the tolerance of
    the door_limits seed) is rejected at ingest, so it neither moves the month nor stops the run."""

    from ingestion.loader import discover
    from ingestion.validate import TS_FORMAT, normalise_timestamp

    latest_allowed = (now or datetime.now(UTC)) + _future_tolerance()
    tol = _future_tolerance()
    latest = None
    files, _ = discover(landing)
    for path, _, entity in files:
        if entity != "readings":
            continue
        try:
            schema = {"period_end": pl.String, "sent_at": pl.String}
            if path.suffix == ".jsonl":
                frame = pl.read_ndjson(path, ignore_errors=True, schema=schema)
            else:
                frame = pl.read_csv(
                    path,
                    columns=["period_end", "sent_at"],
                    schema_overrides=schema,
                    ignore_errors=True,
                    truncate_ragged_lines=True,
                    encoding="utf8-lossy",
                )
            parsed = [normalise_timestamp(c).str.to_datetime(TS_FORMAT, strict=False, time_zone="UTC") for c in schema]
            ts = (
                frame.select(parsed[0].alias("end"), parsed[1].alias("sent"))
                .filter((pl.col("end") <= latest_allowed) & (pl.col("end") <= pl.col("sent") + tol))
                .select(pl.col("end").max())
                .item()
            )
        except Exception as exc:  # noqa: BLE001 - a file too broken to scan is still ingested (and quarantined) later
            log.info("watermark scan skipped %s: %s", path, exc)
            continue
        if ts is not None and (latest is None or ts > latest):
            latest = ts
    return latest


def _warehouse_watermark(url: str) -> datetime | None:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT max(period_end) FROM raw.readings WHERE period_end <= now() + %s", (_future_tolerance(),)
        ).fetchone()[0]


def last_complete_month(watermark: datetime) -> date:
    """Latest month (Asia/Shanghai) whose end is not after the watermark: data up to
    2026-03-01T00:00+08:00 completes February; data up to 2026-02-28T23:45 completes only January."""
    from zoneinfo import ZoneInfo

    local = watermark.astimezone(ZoneInfo("Asia/Shanghai"))
    return (local.date().replace(day=1) - timedelta(days=1)).replace(day=1)


def run_pipeline(month: date | None = None) -> dict:
    import dagster as dg

    from ingestion.loader import discover

    from .database import bootstrap, database_url
    from .definitions import defs
    from .settings import DEMO_FEED, Paths

    paths = Paths.from_env().ensure()
    t_start = time.perf_counter()
    stage_seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    url = database_url()
    bootstrap(url)
    stage_seconds["database"] = time.perf_counter() - t0

    demo = False
    if not discover(paths.landing)[0]:
        from ingestion.simulator import simulate

        t0 = time.perf_counter()
        simulate(paths.landing, truth_path=paths.home / "demo-truth.jsonl", **DEMO_FEED)
        stage_seconds["simulate"] = time.perf_counter() - t0
        demo = True

    if month is None:
        marks = [m for m in (_landing_watermark(paths.landing), _warehouse_watermark(url)) if m is not None]
        if not marks:
            raise ValueError(f"no readings in {paths.landing} or in the warehouse: nothing to run a month for")
        month = last_complete_month(max(marks))

    job = defs.resolve_job_def("iem_main_job")
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(
        partition_key=month.isoformat(),
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )

    # stage times from the run's step events
    starts, ends = {}, {}
    for entry in instance.all_logs(result.run_id):
        ev = entry.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            starts[ev.step_key] = entry.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[ev.step_key] = entry.timestamp
    by_stage: dict[str, float] = defaultdict(float)
    for step, t in starts.items():
        stage = STAGE_OF_STEP.get(step, "check" if ("gx_" in step or "freshness" in step) else step)
        by_stage[stage] += ends.get(step, t) - t
    for stage in ("ingest", "transform", "check", "export", "dashboards"):
        stage_seconds[stage] = by_stage.pop(stage, 0.0)
    stage_seconds.update(by_stage)

    export = None
    for mat in result.asset_materializations_for_node("export__national_export"):
        md = mat.metadata.get("export")
        export = md.value if md is not None else None
    ingest = None
    for mat in result.asset_materializations_for_node("raw_feeds"):
        md = mat.metadata.get("ingest_summary")
        ingest = md.value if md is not None else ingest
    failures = [ev.step_key for ev in result.all_events if ev.event_type_value == "STEP_FAILURE"]
    stage_seconds["total"] = time.perf_counter() - t_start
    return {
        "status": "success" if result.success else "failure",
        "failed_steps": failures,
        "month": f"{month:%Y-%m}",
        "demo_feed_written": demo,
        "home": str(paths.home),
        "export_dir": str(paths.outbox / f"{month:%Y-%m}"),
        "dashboard_dir": str(paths.dashboards / f"{month:%Y-%m}"),
        "ingest": ingest,
        "export": export,
        "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()},
        "run_id": result.run_id,
    }
