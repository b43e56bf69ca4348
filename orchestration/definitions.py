"""The one asset graph of IEM. `dagster dev -m orchestration.definitions` opens it in the UI;
`iem run` executes the same graph in-process. Per-domain modules live in orchestration/defs/."""

from __future__ import annotations

import dagster as dg

from .defs.dashboards import monthly_dashboards
from .defs.export import monthly_export_schedule, national_export
from .defs.forecast import forecasts
from .defs.ingestion import feed_freshness, http_pull_schedule, landing_sensor, raw_feed_assets
from .defs.quality import quality_checks
from .defs.transform import dbt_warehouse_assets
from .defs.transform.assets import dbt_resource
from .jobs import (
    daily_transform_schedule,
    ingest_and_transform_job,
    main_job,
    silent_feed_job,
    silent_feed_schedule,
    transform_job,
)
from .resources import PlatformPathsResource, WarehouseResource


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[raw_feed_assets, dbt_warehouse_assets, forecasts, national_export, monthly_dashboards],
        asset_checks=[*quality_checks, feed_freshness],
        jobs=[main_job, ingest_and_transform_job, transform_job, silent_feed_job],
        schedules=[daily_transform_schedule, silent_feed_schedule, monthly_export_schedule, http_pull_schedule],
        sensors=[landing_sensor],
        resources={
            "warehouse": WarehouseResource(),
            "platform_paths": PlatformPathsResource(),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions()
