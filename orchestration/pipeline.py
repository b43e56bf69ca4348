"""The commands that run stages (`iem run`, `iem transform`, `iem export`, `iem evaluate`) execute a job
of the one Dagster asset graph in-process, recorded in the platform's Dagster instance
($DAGSTER_HOME, else $IEM_HOME/dagster), so the UI shows what the command line did (DESIGN §1).

`iem run`: if $IEM_HOME/landing holds no feed file, a demo feed is simulated there first (fixed seed and
dates, DESIGN §7). The month is --month, else the last complete month in the data: the latest month
whose end is not after the data watermark (latest period_end in the warehouse or in landing files).
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import psycopg

if TYPE_CHECKING:
    from .console import Terminal

log = logging.getLogger(__name__)

# The job each stage-running command executes (tests/snapshots/definitions.json records them).
COMMAND_JOBS = {
    "run": "iem_main_job",
    "transform": "transform_job",
    "export": "monthly_export_job",
    "evaluate": "ingest_and_transform_job",
}

STAGE_OF_STEP = {
    "raw_feeds": "ingest",
    "dbt_warehouse": "transform",
    "forecasts": "transform",
    "export__national_export": "export",
    "dashboards__monthly_dashboards": "dashboards",
}


@dataclass(frozen=True)
class JobRun:
    """What a command learns from one in-process run of a job of the graph."""

    job: str
    run_id: str
    success: bool
    failed_steps: list[str]
    stage_seconds: dict[str, float]
    ingest: dict | None = None  # the raw_feeds summary (files, rows read = loaded + quarantined + duplicate)
    export: dict | None = None  # export_month's result, also when a blocked region failed the run
    forecasts: dict | None = None  # run_forecasts' summary
    checks: dict[str, int] = field(default_factory=dict)  # asset check outcomes: passed / warned / failed
    failed_checks: list[str] = field(default_factory=list)  # "<asset key>:<check>" of the failed ones

    @property
    def status(self) -> str:
        return "success" if self.success else "failure"

    def to_dict(self) -> dict:
        return {**asdict(self), "status": self.status}


INSTANCE_SETTINGS = Path(__file__).with_name("dagster.yaml")


def prepare_dagster_home(home: Path):
    """The Dagster instance in `home`, made ready before any of its processes start: IEM's instance
    settings (orchestration/dagster.yaml: a code-server startup timeout a busy machine needs, no
    telemetry; a home with its own dagster.yaml keeps it) and its storage. A webserver and a daemon that
    start at once on a fresh home both create the storage and can stamp it twice ("Version table
    'alembic_version' has more than one head present"): the code location then fails to load and the UI
    has no jobs."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        template = INSTANCE_SETTINGS.read_text(encoding="utf-8")
        settings.write_text(template.replace("base_dir: HOME/", f"base_dir: {home.resolve()}/"), encoding="utf-8")
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def dagster_instance():
    """The platform's Dagster instance: $DAGSTER_HOME when set (the running platform's), else
    $IEM_HOME/dagster, created on first use."""
    from .settings import Paths

    return prepare_dagster_home(Path(os.environ.get("DAGSTER_HOME") or Paths.from_env().dagster_home))


def _stage_of(step: str) -> str:
    return STAGE_OF_STEP.get(step, "check" if ("gx_" in step or "freshness" in step) else step)


def _metadata_value(md: Any) -> Any:
    return getattr(md, "value", md)


def execute_job(
    name: str,
    *,
    partition_key: str | None = None,
    run_config: dict | None = None,
    resources: dict | None = None,
    instance=None,
    terminal: Terminal | None = None,
    log_path: Path | None = None,
) -> JobRun:
    """Run one job of the definitions in this process and read back what the command reports; with a
    `terminal`, say there when long steps finish (orchestration/console.py)."""
    import uuid

    from .console import followed
    from .definitions import defs

    job = defs.resolve_job_def(name)
    instance = instance or dagster_instance()
    config: dict = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}, **(run_config or {})}
    run_id = str(uuid.uuid4())
    with followed(instance, run_id, terminal, log_path):
        result = job.execute_in_process(
            partition_key=partition_key,
            instance=instance,
            raise_on_error=False,
            run_config=config,
            resources=resources,
            run_id=run_id,
        )

    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
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
        by_stage[_stage_of(step)] += ends.get(step, t) - t

    ingest = export = forecasts = None
    checks = {"passed": 0, "warned": 0, "failed": 0}
    failed_steps = []
    failed_checks: list[str] = []
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            failed_steps.append(ev.step_key)
            failure = getattr(ev.event_specific_data, "user_failure_data", None)
            if failure is not None and "export" in (failure.metadata or {}):
                export = _metadata_value(failure.metadata["export"])
        elif ev.event_type_value == "ASSET_MATERIALIZATION":
            mat = ev.event_specific_data.materialization
            key = "/".join(mat.asset_key.path)
            md = mat.metadata or {}
            if key.startswith("raw/") and "ingest_summary" in md:
                ingest = _metadata_value(md["ingest_summary"])
            elif key == "export/national_export" and "export" in md:
                export = _metadata_value(md["export"])
            elif key == "marts/fct_forecast_monthly":
                forecasts = {k: _metadata_value(v) for k, v in md.items()}
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = ev.event_specific_data
            if evaluation.passed:
                checks["passed"] += 1
            elif str(getattr(evaluation.severity, "value", evaluation.severity)).upper() == "WARN":
                checks["warned"] += 1
            else:
                checks["failed"] += 1
                failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    return JobRun(
        job=name,
        run_id=result.run_id,
        success=result.success,
        failed_steps=failed_steps,
        stage_seconds={k: round(v, 2) for k, v in by_stage.items()},
        ingest=ingest,
        export=export,
        forecasts=forecasts,
        checks=checks,
        failed_checks=failed_checks,
    )


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


_ALERT_STATES = """
select alert_id, family, fault_kind, severity, status
  from marts.fct_alerts
"""


def _alert_states(url: str) -> dict[str, tuple[str, str, str, str]]:
    """alert_id → (family, kind, severity, status) as the warehouse holds them now ({} before its first build)."""
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('marts.fct_alerts')").fetchone()[0] is None:
            return {}
        return {r[0]: r[1:] for r in conn.execute(_ALERT_STATES)}


def alert_changes(before: dict, after: dict) -> dict:
    """What a run did to the alerts, by family and kind: raised (new alerts, and resolved ones open
    again; a new alert whose fault the same data already shows mended is raised and resolved at once),
    and resolved (open before, resolved now); how many are open now, how many of those critical."""
    raised: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    resolved: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for alert_id, (family, kind, _severity, status) in after.items():
        was = before.get(alert_id)
        if was is None or (status == "open" and was[3] != "open"):
            raised[family][kind] += 1
        elif status == "resolved" and was[3] == "open":
            resolved[family][kind] += 1
    still_open = [a for a in after.values() if a[3] == "open"]
    return {
        "raised": {family: dict(kinds) for family, kinds in sorted(raised.items())},
        "resolved": {family: dict(kinds) for family, kinds in sorted(resolved.items())},
        "open": len(still_open),
        "open_critical": sum(a[2] == "critical" for a in still_open),
    }


def rejected_reasons(url: str, batch_ids: list[int], top: int = 5) -> list[dict]:
    """The most frequent reasons rows of these batches were rejected at the door (entity, field, reason)."""
    if not batch_ids:
        return []
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select entity, field, reason, count(*) from quarantine.rejected_rows where batch_id = any(%s)"
            " group by 1, 2, 3 order by 4 desc, 1, 2, 3 limit %s",
            (batch_ids, top),
        ).fetchall()
    return [{"entity": e, "field": f, "reason": r, "rows": n} for e, f, r, n in rows]


def run_pipeline(month: date | None = None, terminal: Terminal | None = None, log_path: Path | None = None) -> dict:
    """`iem run`: the main job for one month partition (demo feed first when landing is empty)."""
    from ingestion.loader import discover

    from .database import bootstrap, database_url
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

    if terminal is not None:
        terminal.say(f"iem run for {month:%Y-%m}" + (" on the demo feed written to landing" if demo else ""))
    alerts_before = _alert_states(url)
    run = execute_job(COMMAND_JOBS["run"], partition_key=month.isoformat(), terminal=terminal, log_path=log_path)
    loaded = (run.ingest or {}).get("batch_ids", [])
    by_stage = dict(run.stage_seconds)
    for stage in ("ingest", "transform", "check", "export", "dashboards"):
        stage_seconds[stage] = by_stage.pop(stage, 0.0)
    stage_seconds.update(by_stage)
    stage_seconds["total"] = time.perf_counter() - t_start
    return {
        "status": run.status,
        "failed_steps": run.failed_steps,
        "month": f"{month:%Y-%m}",
        "demo_feed_written": demo,
        "home": str(paths.home),
        "export_dir": str(paths.outbox / f"{month:%Y-%m}"),
        "export_v2_dir": str(paths.outbox / "v2" / f"{month:%Y-%m}"),
        "dashboard_dir": str(paths.dashboards / f"{month:%Y-%m}"),
        "ingest": run.ingest,
        "rejected_reasons": rejected_reasons(url, loaded),
        "checks": run.checks,
        "failed_checks": run.failed_checks,
        "alerts": alert_changes(alerts_before, _alert_states(url)),
        "export": run.export,
        "quality_docs": str(paths.quality / "index.html"),
        "log_file": str(log_path) if log_path else None,
        "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()},
        "run_id": run.run_id,
    }


def evaluate(
    cluster_url: str,
    *,
    enterprises: int = 50,
    days: int = 60,
    seed: int = 2026,
    start: date = date(2026, 1, 1),
    faults: str = "default",
    workdir: Path | None = None,
    keep_database: bool = False,
) -> dict:
    """`iem evaluate`: simulate a feed with ground truth, load and build it with the graph's
    ingest_and_transform_job in a scratch database `<name>_evaluate_<8 hex>` beside the warehouse (its
    own name: two evaluations never drop each other's), and score the alerts per fault kind. The
    scratch database (hundreds of MB for the default 50 enterprises × 60 days) and its dbt target
    folder are removed when the evaluation ends, on failure too, unless keep_database, which leaves
    them for inspection and returns the database's URI."""
    import tempfile
    import uuid
    from urllib.parse import urlparse

    from ingestion.simulator import simulate

    from .database import create_database, drop_database
    from .lib.evaluation import read_alerts, read_truth, score
    from .resources import PlatformPathsResource, WarehouseResource

    dbname = f"{urlparse(cluster_url).path.lstrip('/') or 'iem'}_evaluate_{uuid.uuid4().hex[:8]}"
    url = create_database(cluster_url, dbname)
    try:
        with tempfile.TemporaryDirectory(prefix="iem-evaluate-", dir=workdir) as tmp:
            feed, truth_path = Path(tmp) / "feed", Path(tmp) / "truth.jsonl"
            simulate(
                feed, enterprises=enterprises, start=start, days=days, seed=seed, faults=faults, truth_path=truth_path
            )
            truth = read_truth(truth_path)
            run = execute_job(
                COMMAND_JOBS["evaluate"],
                run_config={"ops": {"raw_feeds": {"config": {"source": "landing", "path": str(feed)}}}},
                resources={
                    "warehouse": WarehouseResource(url=url),
                    "platform_paths": PlatformPathsResource(home=tmp),
                },
            )
        if run.ingest is None or "dbt_warehouse" in run.failed_steps or "raw_feeds" in run.failed_steps:
            raise RuntimeError(f"evaluation run {run.run_id} failed: steps {run.failed_steps}")
        alerts = read_alerts(url)
        table = score(alerts, truth)
    finally:
        if not keep_database:
            drop_database(cluster_url, dbname)  # and dbt's target folder of it
    return {
        "database": dbname,
        "database_url": url if keep_database else None,  # None: dropped
        "enterprises": enterprises,
        "days": days,
        "seed": seed,
        "faults": faults,
        "run_id": run.run_id,
        "rows_read": run.ingest["rows_read"],
        "alerts": len(alerts),
        "data_fault_alerts": sum(a["family"] == "data_fault" for a in alerts),
        "kinds": table,
    }
