"""Monthly export: day 5 at 06:00 Asia/Shanghai, for the previous month."""

import dagster as dg

monthly_export_job = dg.define_asset_job(
    "monthly_export_job",
    selection=dg.AssetSelection.groups("export"),
    description="Quality gate and export of one month (partition) to the national system.",
)

monthly_export_schedule = dg.build_schedule_from_partitioned_job(
    monthly_export_job,
    day_of_month=5,
    hour_of_day=6,
    minute_of_hour=0,
    name="monthly_export_schedule",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
