"""Sensor on $IEM_HOME/landing: launches ingestion (and the transform after it) for new files."""

import hashlib

import dagster as dg

from ingestion.loader import discover

from ...settings import Paths
from ..transform.assets import wall_clock_as_of


@dg.sensor(
    job_name="ingest_and_transform_job",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches $IEM_HOME/landing; a new or changed feed file launches ingestion. "
    "Files already loaded are skipped by content hash, so a repeated request is harmless.",
)
def landing_sensor(context: dg.SensorEvaluationContext):
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
        return dg.SkipReason("no new or changed files since the last run request")
    context.update_cursor(key)
    return dg.RunRequest(run_key=key, run_config=wall_clock_as_of())  # the running platform: wall-clock as-of


http_pull_schedule = dg.ScheduleDefinition(
    name="http_pull_schedule",
    job_name="ingest_and_transform_job",
    cron_schedule="*/15 * * * *",
    execution_timezone="Asia/Shanghai",
    run_config={"ops": {"raw_feeds": {"config": {"source": "http"}}}},  # batch as-of: see silent_feed_schedule
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every 15 minutes: pull new pages from the enterprises' HTTP endpoints ($IEM_HOME/endpoints.yaml), "
    "then rebuild what they change. Start it once endpoints are configured.",
)
