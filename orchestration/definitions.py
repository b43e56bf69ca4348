"""The one asset graph of IEM. `dagster dev -m orchestration.definitions` opens it in the UI; the
commands that run stages execute its jobs in-process (orchestration/pipeline.py, COMMAND_JOBS).
Per-domain modules live in orchestration/defs/.

Runs execute in one process (in_process_executor): each step of the default multiprocess executor
starts a Python process that imports Dagster, dbt and Great Expectations again (seconds per step, for
steps that are mostly small queries on one warehouse); one machine at pilot scale gains nothing from
running the checks side by side. Scaling out (DESIGN §8, docs/scale-out.md) is its own job,
`regional_platforms_job` (orchestration/defs/scale_out/): each region's platform ingested, built and
exported by the Celery executor's workers, regions side by side."""

from __future__ import annotations

import dagster as dg

from .defs.dashboards import monthly_dashboards
from .defs.export import monthly_export_schedule, national_export
from .defs.forecast import forecasts
from .defs.ingestion import feed_freshness, http_pull_schedule, landing_sensor, raw_feed_assets
from .defs.quality import quality_checks
from .defs.scale_out import regional_assets, regional_platforms_job
from .defs.transform import dbt_warehouse_assets
from .defs.transform.assets import dbt_resource
from .jobs import (
    daily_transform_schedule,
    ingest_and_transform_job,
    main_job,
    quarter_hour_round_job,
    silent_feed_job,
    silent_feed_schedule,
    transform_job,
)
from .resources import PlatformPathsResource, WarehouseResource


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[
            raw_feed_assets,
            dbt_warehouse_assets,
            forecasts,
            national_export,
            monthly_dashboards,
            *regional_assets,
        ],
        asset_checks=[*quality_checks, feed_freshness],
        jobs=[
            main_job,
            ingest_and_transform_job,
            quarter_hour_round_job,
            transform_job,
            silent_feed_job,
            regional_platforms_job,
        ],
        schedules=[daily_transform_schedule, silent_feed_schedule, monthly_export_schedule, http_pull_schedule],
        sensors=[landing_sensor],
        executor=dg.in_process_executor,
        resources={
            "warehouse": WarehouseResource(),
            "platform_paths": PlatformPathsResource(),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions()
