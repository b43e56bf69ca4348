"""Sensor on $IEM_HOME/landing: launches ingestion (and the transform after it) for new files."""

import hashlib

import dagster as dg

from ingestion.loader import discover, files_not_yet_loaded

from ...database import bootstrap
from ...jobs import ingest_and_transform_job, quarter_hour_round_job
from ...resources import WarehouseResource
from ...settings import Paths
from ..transform.assets import wall_clock_as_of, warehouse_was_built


def round_or_whole_build(url: str) -> str:
    """The job new files launch: a 15-minute round (quarter_hour_round_job: readings, VEE, daily energy,
    alerts) on a warehouse built before, else the whole ingest and build (ingest_and_transform_job)."""
    return "quarter_hour_round_job" if warehouse_was_built(url) else "ingest_and_transform_job"


@dg.sensor(
    jobs=[ingest_and_transform_job, quarter_hour_round_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches $IEM_HOME/landing; a feed file whose content the ledger does not hold yet launches a "
    "15-minute round (quarter_hour_round_job: readings, VEE, daily energy, alerts), or the whole ingest and "
    "build while the warehouse has never been built. The daily build (daily_transform_schedule) brings the "
    "monthly marts up to date. Files the command line (`iem run`, `iem ingest`) already loaded launch nothing.",
)
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    landing = Paths.from_env().landing
    if not landing.exists():
        return dg.SkipReason(f"{landing} does not exist yet")
    files, _ = discover(landing)
    if not files:
        return dg.SkipReason("landing folder holds no feed files")
    fingerprint = hashlib.sha256()
    for path, rel, _ in files:
        st = path.stat()
        fingerprint.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    key = fingerprint.hexdigest()
    if context.cursor == key:
        return dg.SkipReason("no new or changed files since the last look")
    # the folder changed: ask the ledger (shared with the command line) which files are really new, so the
    # files `iem run` already loaded do not launch a second full build when the UI starts
    url = warehouse.database_url()
    bootstrap(url)
    new = files_not_yet_loaded(url, landing)
    context.update_cursor(key)
    if not new:
        return dg.SkipReason(f"all {len(files)} feed files in landing are already loaded (ledger audit.ingest_batches)")
    # the running platform: wall-clock as-of
    return dg.RunRequest(run_key=key, run_config=wall_clock_as_of(), job_name=round_or_whole_build(url))


http_pull_schedule = dg.ScheduleDefinition(
    name="http_pull_schedule",
    job=quarter_hour_round_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="Asia/Shanghai",
    run_config={"ops": {"raw_feeds": {"config": {"source": "http"}}}},  # batch as-of: see silent_feed_schedule
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every 15 minutes: pull new pages from the enterprises' HTTP endpoints ($IEM_HOME/endpoints.yaml), "
    "then build what a round can change (quarter_hour_round_job; the daily build does the monthly marts). Start it "
    "once endpoints are configured and the warehouse has had a whole build.",
)
