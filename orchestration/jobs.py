"""Jobs and schedules over the one asset graph."""
import dagster as dg

ALL_STAGES = dg.AssetSelection.all()

# `iem run`: ingest landing, transform, check, export, dashboards — one run, one month partition.
main_job = dg.define_asset_job(
    "iem_main_job", selection=ALL_STAGES,  # partitioned by month through its export and dashboard assets
    description="The whole pipeline for one month: ingest landing → dbt build (with checks) → export → dashboards.",
)

ingest_and_transform_job = dg.define_asset_job(
    "ingest_and_transform_job",
    selection=dg.AssetSelection.groups("raw", "reference", "staging", "intermediate", "marts"),
    description="Load new feed files and rebuild whatever they change (incremental dbt build).",
)

transform_job = dg.define_asset_job(
    "transform_job",
    selection=dg.AssetSelection.groups("reference", "staging", "intermediate", "marts"),
    description="dbt build of whatever is new (seeds, staging, VEE, marts) with dbt tests and GX checks.",
)

daily_transform_schedule = dg.ScheduleDefinition(
    name="daily_transform_schedule", job=transform_job, cron_schedule="30 1 * * *",
    execution_timezone="Asia/Shanghai", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 01:30 Asia/Shanghai: rebuild the indicator marts with yesterday's data.",
)
