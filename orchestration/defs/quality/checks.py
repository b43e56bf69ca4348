"""Great Expectations suites as Dagster asset checks, each declared blocking or warning (DESIGN §6).

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


def _result(report, layer: str, severity: str) -> dg.AssetCheckResult:
    relevant = [r for r in report.results if r.layer == layer and r.severity == severity]
    failed = [r for r in relevant if not r.success]
    return dg.AssetCheckResult(
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


def _make(layer: str, severity: str):
    kind = "integrity" if severity == "blocking" else "data_quality"

    @dg.asset_check(
        asset=CHECKED_ASSET[layer],
        name=f"gx_{layer}_{kind}",
        blocking=DAGSTER_BLOCKING[layer] and severity == "blocking",
        description=f"Great Expectations {layer} suite, {severity} checks",
        metadata={"severity": severity, "layer": layer},
    )
    def _check(warehouse: WarehouseResource, platform_paths: PlatformPathsResource) -> dg.AssetCheckResult:
        url = stage_url(warehouse.database_url(), "transformer")
        report = run_quality_gate(url, layers=(layer,), docs_dir=platform_paths.paths().quality)
        return _result(report, layer, severity)

    return _check


quality_checks = [_make(layer, sev) for layer in CHECKED_ASSET for sev in ("blocking", "warning")]
