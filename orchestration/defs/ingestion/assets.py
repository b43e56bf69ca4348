"""Group `raw`: enterprise feeds loaded into raw.* — file drops in $IEM_HOME/landing (or a given
path) and HTTP pulls from the endpoints in $IEM_HOME/endpoints.yaml. Same validation, ledger and
quarantine either way."""

from pathlib import Path
from typing import Literal

import dagster as dg
import psycopg

from ingestion.contract import ENTITIES
from ingestion.http_pull import pull_all
from ingestion.loader import ingest_path

from ...database import stage_url
from ...resources import PlatformPathsResource, WarehouseResource

RAW_TABLES = [dg.AssetKey(["raw", e]) for e in ENTITIES]


class IngestConfig(dg.Config):
    source: Literal["landing", "http"] = "landing"
    path: str | None = None  # for source=landing: default $IEM_HOME/landing


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key,
            group_name="raw",
            description=f"Feed rows as received ({key.path[-1]}), append-only, "
            "with batch and row number; rejected rows go to quarantine with a reason.",
            kinds={"postgres"},
        )
        for key in RAW_TABLES
    ],
    can_subset=False,
    name="raw_feeds",
)
def raw_feed_assets(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    warehouse: WarehouseResource,
    platform_paths: PlatformPathsResource,
):
    """Load every new feed file (exactly once, by content hash) or every new HTTP page (cursor advanced
    with the batch)."""
    paths = platform_paths.paths()
    url = stage_url(warehouse.database_url(), "loader")  # untrusted content: the least privileged writer
    if config.source == "http":
        summary = pull_all(url, paths.endpoints_file)
    else:
        root = Path(config.path) if config.path else paths.landing
        summary = ingest_path(url, root)
    totals = summary.to_dict()
    batches = totals.pop("batches")
    # the batches this run loaded: the run summary reads their rejected rows' reasons
    totals["batch_ids"] = [b["batch_id"] for b in batches if b["status"] == "loaded" and b["batch_id"] is not None]
    for b in batches:
        context.log.info(
            f"{b['source_name']}: {b['status']} read={b['rows_read']} loaded={b['rows_loaded']} "
            f"quarantined={b['rows_quarantined']} duplicate={b['rows_duplicate']}"
            + (f" ({b['message']})" if b["message"] else "")
        )
    per_entity = {e: {"rows_loaded": 0, "rows_quarantined": 0, "rows_duplicate": 0, "files": 0} for e in ENTITIES}
    for b in batches:
        if b["status"] == "loaded":
            agg = per_entity[b["entity"]]
            agg["files"] += 1
            for k in ("rows_loaded", "rows_quarantined", "rows_duplicate"):
                agg[k] += b[k]
    for key in RAW_TABLES:
        e = key.path[-1]
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                **{k: dg.MetadataValue.int(v) for k, v in per_entity[e].items()},
                "ingest_summary": dg.MetadataValue.json(totals),
            },
        )
    if totals["failures"]:
        # each failed file or page is a failed batch in audit.ingest_batches with its reason (an HTTP
        # endpoint's cursor stays where it was); one enterprise's broken input never stops the others
        # from being transformed, checked and exported, so the step succeeds and says what failed
        failed = [f"{b['source_name']}: {b['message']}" for b in batches if b["status"] == "failed"]
        context.log.warning(f"{len(failed)} file(s)/page(s) failed: " + "; ".join(failed)[:4000])


@dg.asset_check(
    asset=dg.AssetKey(["raw", "readings"]),
    name="feed_freshness",
    blocking=False,
    description="Per enterprise: latest reading received (period_end), its lag behind the data "
    "watermark, and the last HTTP pull error. Warns when a feed lags more than 1 day.",
)
def feed_freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with psycopg.connect(stage_url(warehouse.database_url(), "transformer")) as conn:
        rows = conn.execute(
            """WITH latest AS (SELECT enterprise_id, max(period_end) AS last_period_end FROM raw.readings GROUP BY 1),
                    mark AS (SELECT max(last_period_end) AS watermark FROM latest)
               SELECT e.enterprise_id, l.last_period_end,
                      round(extract(epoch FROM (m.watermark - l.last_period_end)) / 3600.0, 2) AS lag_hours,
                      (SELECT string_agg(c.last_error, '; ') FROM audit.pull_cursors c
                        WHERE c.enterprise_id = e.enterprise_id AND c.last_error IS NOT NULL) AS pull_error
                 FROM (SELECT DISTINCT enterprise_id FROM raw.enterprises) e
                 LEFT JOIN latest l USING (enterprise_id) CROSS JOIN mark m
                ORDER BY lag_hours DESC NULLS FIRST, e.enterprise_id"""
        ).fetchall()
    stale = [r for r in rows if r[2] is None or r[2] > 24]
    table = dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "enterprise_id": r[0],
                    "last_period_end": str(r[1]) if r[1] else "",
                    "lag_hours": float(r[2]) if r[2] is not None else -1.0,
                    "pull_error": r[3] or "",
                }
            )
            for r in rows
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("enterprise_id", "string"),
                dg.TableColumn("last_period_end", "string"),
                dg.TableColumn("lag_hours", "float"),
                dg.TableColumn("pull_error", "string"),
            ]
        ),
    )
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"enterprises": len(rows), "stale_or_silent": len(stale), "freshness": table},
    )
