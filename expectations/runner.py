"""Run the suites with Great Expectations (ephemeral context, one PostgreSQL data source) and turn
the validation results into a QualityReport the export and Dagster can act on."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

log = logging.getLogger(__name__)


@dataclass
class CheckResult:
    name: str
    layer: str
    severity: str  # blocking | warning
    success: bool
    region_code: str | None = None  # set when the result concerns one pilot region
    details: dict = field(default_factory=dict)


@dataclass
class QualityReport:
    results: list[CheckResult]
    docs_index: str | None = None

    def blocking_failures(self, region_code: str | None = None) -> list[CheckResult]:
        """Failed blocking checks: global ones, plus those of `region_code` when given (all when not)."""
        return [
            r
            for r in self.results
            if r.severity == "blocking"
            and not r.success
            and (region_code is None or r.region_code in (None, region_code))
        ]

    def warnings(self, region_code: str | None = None) -> list[CheckResult]:
        return [
            r
            for r in self.results
            if r.severity == "warning"
            and not r.success
            and (region_code is None or r.region_code in (None, region_code))
        ]

    def to_dict(self) -> dict:
        return {
            "checks": len(self.results),
            "blocking_failures": len(self.blocking_failures()),
            "warnings": len(self.warnings()),
            "docs_index": self.docs_index,
            "results": [asdict(r) for r in self.results],
        }


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


WAREHOUSE_SCHEMAS = ("raw", "staging", "intermediate", "marts", "audit", "reference")


def _relations(check) -> list[str]:
    """The schema-qualified tables a check reads."""
    if check.table:
        return [check.table]
    return [
        w
        for w in check.query.replace(",", " ").replace("(", " ").split()
        if "." in w and w.split(".")[0] in WAREHOUSE_SCHEMAS
    ]


def _existing_relations(url: str, relations: set[str]) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        exists = "select to_regclass(%s) is not null"
        return {r for r in sorted(relations) if cast("tuple", conn.execute(exists, (r,)).fetchone())[0]}


def run_quality_gate(
    url: str, *, month: date | None = None, layers=("raw", "staging", "marts"), docs_dir: Path | None = None
) -> QualityReport:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx

    from .docs import write_quality_docs
    from .suites import checks
    from .thresholds import load_thresholds

    month_filter = f"and month = '{month:%Y-%m-01}'" if month else ""
    selected = [c for c in checks(month_filter, load_thresholds(url)) if c.layer in layers]
    ctx = gx.get_context(mode="ephemeral")
    with contextlib.suppress(Exception):  # only cosmetics: older GX contexts have no progress bars setting
        ctx.variables.progress_bars = {"globally": False}  # type: ignore[assignment]  # GX accepts the plain dict
    # The generic SQL data source, not add_postgres: GX's PostgresDsn insists on a host name and rejects
    # the embedded database's Unix-socket URL (postgresql://user@/iem?host=/path), which CI runs on.
    with warnings.catch_warnings():  # "a more specific PostgresDatasource may be more appropriate": see above
        warnings.simplefilter("ignore")
        source = ctx.data_sources.add_sql(name="warehouse", connection_string=_sqlalchemy_url(url))
    results: list[CheckResult] = []
    definitions = []
    existing = _existing_relations(url, {r for c in selected for r in _relations(c)})
    for check in selected:
        missing = [r for r in _relations(check) if r not in existing]
        if missing:
            results.append(
                CheckResult(
                    check.name,
                    check.layer,
                    check.severity,
                    False,
                    None,
                    {"error": f"missing relation(s): {', '.join(missing)}", "description": check.description},
                )
            )
            continue
        asset: Any
        if check.table:
            schema, table = check.table.split(".")
            with warnings.catch_warnings():  # GX 1.x deprecates schema_name, but the warehouse has many schemas
                warnings.simplefilter("ignore", DeprecationWarning)
                asset = source.add_table_asset(name=check.name, table_name=table, schema_name=schema)
        else:
            asset = source.add_query_asset(name=check.name, query=cast(str, check.query))  # a table or a query
        suite = ctx.suites.add(
            gx.ExpectationSuite(
                name=f"{check.layer}.{check.name}",
                expectations=list(check.expectations),  # built anew by checks() on every run
                meta={"severity": check.severity, "description": check.description},
            )
        )
        definitions.append(
            (
                check,
                ctx.validation_definitions.add(
                    gx.ValidationDefinition(
                        name=check.name, data=asset.add_batch_definition_whole_table("all"), suite=suite
                    )
                ),
            )
        )
    for check, vd in definitions:
        index_cols = [*((check.region_column,) if check.region_column else ()), *check.index_columns]
        result_format: dict[str, Any] = {"result_format": "COMPLETE"}
        if index_cols:
            result_format["unexpected_index_column_names"] = index_cols
        checkpoint = ctx.checkpoints.add(
            gx.Checkpoint(name=f"gate_{check.name}", validation_definitions=[vd], result_format=result_format)
        )
        run = checkpoint.run()
        for vr in run.run_results.values():
            results.extend(_interpret(check, vr))
    docs_index = None
    if docs_dir is not None:  # our own offline site (expectations/docs.py), not GX's CDN-bound renderer
        index = write_quality_docs(
            Path(docs_dir), results, selected, layers=layers, month=month, run_at=datetime.now(UTC)
        )
        docs_index = str(index)
    return QualityReport(results, docs_index)


def _plain(obj):
    """JSON-safe copy of GX result details (Decimals, dates and numpy values become plain values)."""
    import json
    from decimal import Decimal

    def default(o):
        if isinstance(o, Decimal):
            return float(o)
        if hasattr(o, "item"):
            return o.item()
        return str(o)

    return json.loads(json.dumps(obj, default=default))


def _interpret(check, validation_result) -> list[CheckResult]:
    """One CheckResult per check; region-scoped checks give one per failing region (and one passing
    result when none fails), so the export can block exactly those regions."""
    failures_by_region: dict[str | None, list] = {}
    details_all = []
    for res in validation_result.results:
        r = res.result or {}
        detail = {
            "expectation": res.expectation_config.type,
            "kwargs": {k: v for k, v in res.expectation_config.kwargs.items() if k != "batch_id"},
            "unexpected_count": r.get("unexpected_count"),
            "observed_value": r.get("observed_value"),
        }
        if res.exception_info and res.exception_info.get("raised_exception"):
            detail["error"] = res.exception_info.get("exception_message")
        details_all.append(detail)
        if res.success:
            continue
        rows = r.get("unexpected_index_list") or []
        if check.region_column and rows:
            for row in rows:
                failures_by_region.setdefault(row.get(check.region_column), []).append({**detail, "row": row})
        else:
            failures_by_region.setdefault(None, []).append({**detail, "rows": rows[:50]})
    base = {"description": check.description}
    if not failures_by_region:
        return [
            CheckResult(
                check.name, check.layer, check.severity, True, None, _plain({**base, "expectations": details_all})
            )
        ]
    return [
        CheckResult(check.name, check.layer, check.severity, False, region, _plain({**base, "failures": f}))
        for region, f in sorted(failures_by_region.items(), key=lambda kv: kv[0] or "")
    ]
