"""Great Expectations suites as Dagster asset checks, each declared blocking or warning (DESIGN §6).

Each layer's suite runs once per run and gives both of its checks:
- `*_integrity` checks judge the warehouse's own logic (schema, keys, identities, coefficients):
  severity ERROR. Raw and staging integrity are blocking: downstream assets do not run when they fail.
  Marts integrity is region-scoped: it is reported here as ERROR and enforced per region by the
  export, which exports the regions that pass and fails its run listing the blocked ones.
- `*_data_quality` checks judge the enterprises' data (completeness, totals consistency, timeliness):
  severity WARN, never blocking; shortfalls are reported in the export and the scorecard.
"""

import dagster as dg

from expectations import run_quality_gate

from ...database import stage_url
from ...resources import PlatformPathsResource, WarehouseResource

CHECKED_ASSET = {
    "raw": dg.AssetKey(["raw", "readings"]),
    "staging": dg.AssetKey(["staging", "stg_raw__readings"]),
    "marts": dg.AssetKey(["marts", "fct_enterprise_monthly"]),
}
DAGSTER_BLOCKING = {"raw": True, "staging": True, "marts": False}


# what a failed integrity check stops, in the words the UI shows beside the check
ENFORCED = {
    "raw": "blocking: the assets downstream of raw readings do not run while it fails",
    "staging": "blocking: the assets downstream of staged readings do not run while it fails",
    "marts": "not blocking here: region-scoped, enforced by the export, which exports the regions that pass "
    "and fails its run naming the blocked ones",
}


def _result(report, layer: str, severity: str, check_name: str) -> dg.AssetCheckResult:
    relevant = [r for r in report.results if r.layer == layer and r.severity == severity]
    failed = [r for r in relevant if not r.success]
    return dg.AssetCheckResult(
        asset_key=CHECKED_ASSET[layer],
        check_name=check_name,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if severity == "blocking" else dg.AssetCheckSeverity.WARN,
        metadata={
            "checks_run": len(relevant),
            "checks_failed": len(failed),
            "failed": dg.MetadataValue.json(
                [{"name": r.name, "region_code": r.region_code, "details": r.details} for r in failed]
            ),
        },
    )


def _check_name(layer: str, severity: str) -> str:
    return f"gx_{layer}_{'integrity' if severity == 'blocking' else 'data_quality'}"


def _make(layer: str):
    """One Great Expectations run of the layer's suite gives both of its checks: the integrity checks
    (severity ERROR) and the data-quality checks (severity WARN, never blocking)."""
    specs = [
        dg.AssetCheckSpec(
            name=_check_name(layer, "blocking"),
            asset=CHECKED_ASSET[layer],
            blocking=DAGSTER_BLOCKING[layer],
            description=f"Great Expectations {layer} suite, integrity checks (severity ERROR); {ENFORCED[layer]}",
            metadata={"gx_severity": "error", "layer": layer},
        ),
        dg.AssetCheckSpec(
            name=_check_name(layer, "warning"),
            asset=CHECKED_ASSET[layer],
            blocking=False,
            description=f"Great Expectations {layer} suite, data-quality checks of the enterprises' data "
            "(severity WARN, never blocking; shortfalls are reported in the export and the scorecard)",
            metadata={"gx_severity": "warn", "layer": layer},
        ),
    ]

    @dg.multi_asset_check(specs=specs, name=f"gx_{layer}_suite", can_subset=True)
    def _suite(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, platform_paths: PlatformPathsResource
    ):
        url = stage_url(warehouse.database_url(), "transformer")
        report = run_quality_gate(url, layers=(layer,), docs_dir=platform_paths.paths().quality)
        selected = {key.name for key in context.selected_asset_check_keys}
        for severity in ("blocking", "warning"):
            name = _check_name(layer, severity)
            if name in selected:
                yield _result(report, layer, severity, name)

    return _suite


quality_checks = [_make(layer) for layer in CHECKED_ASSET]
