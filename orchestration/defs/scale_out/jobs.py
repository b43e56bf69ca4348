"""Regions built in parallel: one run fans out over the regions, and each region's platform is ingested,
built and exported by its own steps (DESIGN §8, docs/scale-out.md).

`regional_platforms_job` — step `regions_to_build` yields one dynamic output per region (the mapping key is
the region code, one of `region_partitions`); per region, `ingest_region[<code>]` loads that region's
landing folder into its own warehouse database (created and bootstrapped on first use),
`build_region[<code>]` runs the dbt build and the forecasts there, and `export_region[<code>]` runs the
quality gate and writes the region's monthly export (contracts v1 and v2) to its own outbox. Each step
records a materialization of `regional/<stage>` for its region partition, with the host and process that
ran it and when.

With the Celery executor (`iem_celery_executor`) every step is a Celery task taken by whichever worker
process is free, on any host: the regions' steps run side by side. No data passes between steps (their
outputs are Nothing: a region's state is its database), so no shared IO-manager storage is needed; what
the workers do need is the Dagster instance's storage (PostgreSQL on several hosts) and each region's
database and folders (platforms.py). `execute_in_process` runs the same job serially in one process."""

import contextlib
import os
import socket
import time
from datetime import date

import dagster as dg
import psycopg
from psycopg import sql

from .executor import iem_celery_executor
from .platforms import RegionPlatform, pilot_regions, resolve_platform

region_partitions = dg.StaticPartitionsDefinition(pilot_regions())

# What the job's steps record, one partition per region: declared so the UI shows each region's last
# ingest, build and export (when, on which host) on the asset pages. They are materialized only by
# `regional_platforms_job` (no asset job selects them: `AssetSelection.all()` leaves such assets out).
regional_assets = [
    dg.AssetSpec(
        dg.AssetKey(["regional", "ingest"]),
        group_name="regional",
        partitions_def=region_partitions,
        description="A region's feed files loaded into its own warehouse database (regional_platforms_job).",
    ),
    dg.AssetSpec(
        dg.AssetKey(["regional", "warehouse"]),
        group_name="regional",
        partitions_def=region_partitions,
        deps=[dg.AssetKey(["regional", "ingest"])],
        description="A region's warehouse built: dbt build (seeds → marts, with tests) and forecasts.",
    ),
    dg.AssetSpec(
        dg.AssetKey(["regional", "export"]),
        group_name="regional",
        partitions_def=region_partitions,
        deps=[dg.AssetKey(["regional", "warehouse"])],
        description="A region's monthly export (contracts v1 and v2) behind its quality gate, in its own outbox.",
    ),
]


class RegionalPlatformsResource(dg.ConfigurableResource):
    """Where the regions' platforms live (platforms.py). Unset fields: IEM_DATABASE_URL's server and
    database name as the prefix, $IEM_HOME/regions, and the regions file of the environment. Do not put a
    password in `base_url` (run config is stored with the run): the workers' IEM_DATABASE_URL or a
    password file supplies it."""

    base_url: str | None = None
    database_prefix: str | None = None
    root: str | None = None
    regions_file: str | None = None

    def platform(self, region: str) -> RegionPlatform:
        return resolve_platform(
            region,
            base_url=self.base_url,
            database_prefix=self.database_prefix,
            root=self.root,
            regions_yaml=self.regions_file,
        )


class RegionsConfig(dg.Config):
    """regions: the region codes to build (pilot regions of the regions seed); empty means all of them."""

    regions: list[str] = []  # noqa: RUF012 - a Config field (pydantic copies the default)


class ExportConfig(dg.Config):
    """month: the month to export (YYYY-MM or YYYY-MM-01); empty means each region's last complete month."""

    month: str | None = None


@contextlib.contextmanager
def _recorded(context: dg.OpExecutionContext, stage: str, platform: RegionPlatform, metadata: dict):
    """Record the step as a materialization of regional/<stage> for the region partition: which host and
    process ran it, from when to when, and what the caller put in `metadata`."""
    started = time.time()
    yield
    finished = time.time()
    context.log_event(
        dg.AssetMaterialization(
            asset_key=dg.AssetKey(["regional", stage]),
            partition=platform.region,
            metadata={
                "database": platform.dbname,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": started,
                "finished_at": finished,
                "seconds": round(finished - started, 3),
                **metadata,
            },
        )
    )


def ensure_region_database(platform: RegionPlatform) -> None:
    """Create the region's warehouse database on its server if missing, and bootstrap it (idempotent)."""
    from ...database import bootstrap, database_on_cluster

    admin = database_on_cluster(platform.database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (platform.dbname,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # created concurrently elsewhere
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(platform.dbname)))
    bootstrap(platform.database_url)


@dg.op(out=dg.DynamicOut(dg.Nothing), description="One dynamic output per region to build (mapping key: region code).")
def regions_to_build(context: dg.OpExecutionContext, config: RegionsConfig):
    known = region_partitions.get_partition_keys()
    regions = config.regions or known
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise dg.Failure(f"not pilot regions of the regions seed: {unknown} (known: {known})")
    for region in dict.fromkeys(regions):  # once each, in the order given
        yield dg.DynamicOutput(None, mapping_key=region)


@dg.op(ins={"start": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing), tags={"kind": "ingest"})
def ingest_region(context: dg.OpExecutionContext, regional_platforms: RegionalPlatformsResource):
    """Load every new feed file of the region's landing folder into its warehouse (exactly once)."""
    from ingestion.loader import ingest_path

    from ...database import stage_url

    platform = regional_platforms.platform(context.get_mapping_key() or "")
    landing = platform.paths.ensure().landing
    summary: dict = {}
    with _recorded(context, "ingest", platform, summary):
        ensure_region_database(platform)
        totals = ingest_path(stage_url(platform.database_url, "loader"), landing).to_dict()
        batches = totals.pop("batches")
        summary.update(
            files=len(batches),
            rows_loaded=sum(b["rows_loaded"] for b in batches),
            rows_quarantined=sum(b["rows_quarantined"] for b in batches),
            failed_files=sum(b["status"] == "failed" for b in batches),
        )
    context.log.info(f"region {platform.region}: {summary} from {landing} into {platform.dbname}")


@dg.op(ins={"start": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing), tags={"kind": "dbt"})
def build_region(context: dg.OpExecutionContext, regional_platforms: RegionalPlatformsResource):
    """dbt build of the region's warehouse (seeds, staging, VEE, marts, with dbt tests), then its forecasts."""
    from ...database import stage_url
    from ...dbt_env import run_dbt, warehouse_target_path
    from ...lib.forecasting import run_forecasts

    platform = regional_platforms.platform(context.get_mapping_key() or "")
    summary: dict = {}
    with _recorded(context, "warehouse", platform, summary):
        # dbt's artifacts and its log in the warehouse's own folder: builds of two regions never share one
        target = warehouse_target_path(platform.database_url)
        result = run_dbt(["build", "--log-path", str(target / "logs")], platform.database_url)
        summary["dbt_nodes"] = len(getattr(result.result, "results", []) or [])
        summary["forecast_series"] = run_forecasts(stage_url(platform.database_url, "transformer")).get(
            "backtested_series"
        )
    context.log.info(f"region {platform.region}: built {platform.dbname} ({summary})")


def _month(explicit: str | None, url: str) -> date:
    if explicit:
        return date.fromisoformat(explicit if len(explicit) > 7 else f"{explicit}-01").replace(day=1)
    from ...pipeline import _warehouse_watermark, last_complete_month

    watermark = _warehouse_watermark(url)
    if watermark is None:
        raise dg.Failure("no readings in the region's warehouse: nothing to export")
    return last_complete_month(watermark)


@dg.op(ins={"start": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing), tags={"kind": "export"})
def export_region(context: dg.OpExecutionContext, config: ExportConfig, regional_platforms: RegionalPlatformsResource):
    """The quality gate and the monthly export (contracts v1 and v2) of the region, into its own outbox.
    A region whose blocking checks fail is not exported and the step fails, as in the national export."""
    from expectations import run_quality_gate

    from ...database import stage_url
    from ...lib.export import export_month

    platform = regional_platforms.platform(context.get_mapping_key() or "")
    paths = platform.paths.ensure()
    month = _month(config.month, platform.database_url)
    # a region's platform exports its own region only: another region's enterprises in its feed (a file
    # dropped into the wrong region's landing) would otherwise be exported twice, by two platforms
    with psycopg.connect(stage_url(platform.database_url, "exporter")) as conn:
        others = [
            r[0]
            for r in conn.execute(
                "select distinct region_code from marts.fct_region_monthly where month = %s and region_code <> %s"
                " order by 1",
                (month, platform.region),
            )
        ]
    if others:
        raise dg.Failure(
            description=f"region {platform.region}'s warehouse holds {month:%Y-%m} data of other regions "
            f"{others}: their feed files belong in their own regions' landing folders; nothing was exported"
        )
    summary: dict = {"month": month.isoformat()}
    with _recorded(context, "export", platform, summary):
        quality = run_quality_gate(stage_url(platform.database_url, "transformer"), month=month, docs_dir=paths.quality)
        result = export_month(stage_url(platform.database_url, "exporter"), month, paths.outbox, quality=quality)
        summary["status"] = result["status"]
        summary["regions"] = [{"region": r["region_code"], "status": r["status"]} for r in result["regions"]]
    blocked = [r for r in result["regions"] if r["status"] == "blocked"]
    if blocked:
        lines = [f"{r['region_code']}: {', '.join(r['failed_checks'])}" for r in blocked]
        raise dg.Failure(description="Export blocked for " + "; ".join(lines))
    context.log.info(f"region {platform.region}: export {month:%Y-%m} {result['status']} into {paths.outbox}")


@dg.job(
    executor_def=iem_celery_executor,
    resource_defs={"regional_platforms": RegionalPlatformsResource()},
    description="Per region, in parallel on Celery workers: ingest its landing → dbt build → export, each "
    "region into its own warehouse database (docs/scale-out.md).",
    tags={"iem/scale_out": "regions"},
)
def regional_platforms_job():
    regions_to_build().map(lambda region: export_region(build_region(ingest_region(region))))
