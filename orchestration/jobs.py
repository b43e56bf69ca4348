"""Jobs and schedules over the one asset graph."""

import dagster as dg
from dagster_dbt import build_dbt_asset_selection

from .defs.quality import quality_checks
from .defs.transform.assets import dbt_warehouse_assets, wall_clock_as_of

ALL_STAGES = dg.AssetSelection.all()

# `iem run`: ingest landing, transform, check, export, dashboards — one run, one month partition.
main_job = dg.define_asset_job(
    "iem_main_job",
    selection=ALL_STAGES,  # partitioned by month through its export and dashboard assets
    description="The whole pipeline for one month: ingest landing → dbt build (with checks) → export → dashboards.",
)

ingest_and_transform_job = dg.define_asset_job(
    "ingest_and_transform_job",
    selection=dg.AssetSelection.groups("raw", "reference", "staging", "intermediate", "marts"),
    description="Load new feed files and rebuild whatever they change (incremental dbt build).",
)

# A 15-minute round (the landing sensor, the HTTP pull): load the new files and build only what readings can
# change within the day (dbt_project/selectors.yml: quarter_hour_round), with the dbt tests of those models
# (keys, not-null, the booking identities). The Great Expectations suites read whole tables (raw and staged
# readings: 9.5 s of a round on 300 enterprises × 20 meters, growing with the history held), so they run with
# the daily build and the export, like the monthly marts.
QUARTER_HOUR_ROUND = build_dbt_asset_selection([dbt_warehouse_assets], dbt_selector="quarter_hour_round")

quarter_hour_round_job = dg.define_asset_job(
    "quarter_hour_round_job",
    selection=(dg.AssetSelection.groups("raw") | QUARTER_HOUR_ROUND) - dg.AssetSelection.checks(*quality_checks),
    description="A 15-minute round: load new feed files, then rebuild the readings' staging, the VEE chain, "
    "the enterprises' daily energy and the alerts (dbt selector quarter_hour_round) with their dbt tests. Seeds, "
    "monthly marts, forms, carbon, the scorecard and the Great Expectations suites wait for the daily build "
    "(daily_transform_schedule).",
)

transform_job = dg.define_asset_job(
    "transform_job",
    selection=dg.AssetSelection.groups("reference", "staging", "intermediate", "marts"),
    description="dbt build of whatever is new (seeds, staging, VEE, marts) with dbt tests and GX checks.",
)

silent_feed_job = dg.define_asset_job(
    "silent_feed_job",
    selection=dg.AssetSelection.assets(
        dg.AssetKey(["intermediate", "int_alert_candidates"]), dg.AssetKey(["marts", "fct_alerts"])
    ),
    description="Re-judge the alert rules against the wall clock (silent feeds, calibration): rebuilds only "
    "int_alert_candidates and fct_alerts.",
)


@dg.schedule(
    name="daily_transform_schedule",
    job=transform_job,
    cron_schedule="30 1 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 01:30 Asia/Shanghai: rebuild the indicator marts with yesterday's data; "
    "time-relative alert rules judge against the wall clock.",
)
def daily_transform_schedule(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_config=wall_clock_as_of(context.scheduled_execution_time))


@dg.schedule(
    name="silent_feed_schedule",
    job=silent_feed_job,
    cron_schedule="*/10 * * * *",
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 10 minutes: a meter that has sent nothing for 4 cadences (at least an hour) "
    "before now raises a silent_feed alert; it resolves when data arrives.",
)
def silent_feed_schedule(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_config=wall_clock_as_of(context.scheduled_execution_time))
