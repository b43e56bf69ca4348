"""Group `export`: the monthly export to the national system, per pilot region, behind the gate."""

import os
from datetime import date

import dagster as dg

from expectations import run_quality_gate

from ...database import stage_url
from ...lib.export import export_month
from ...partitions import monthly_partitions
from ...resources import PlatformPathsResource, WarehouseResource

MART_INPUTS = [
    dg.AssetKey(["marts", n])
    for n in (
        "fct_enterprise_monthly",
        "fct_enterprise_energy_monthly",
        "fct_region_industry_monthly",
        "fct_region_monthly",
        # contract v2
        "fct_energy_205_1_monthly",
        "fct_energy_205_3_monthly",
        "fct_region_205_1_monthly",
        "fct_enterprise_energy_co2_monthly",
        "fct_enterprise_carbon_monthly",
        "fct_region_carbon_monthly",
        "fct_region_industry_carbon_monthly",
    )
]


@dg.asset(
    key=dg.AssetKey(["export", "national_export"]),
    group_name="export",
    partitions_def=monthly_partitions,
    deps=MART_INPUTS,
    kinds={"json", "csv"},
    description="Per pilot region: JSON, CSV and manifest under $IEM_HOME/outbox/<YYYY-MM>/<region>/ (contract v1) "
    "and $IEM_HOME/outbox/v2/<YYYY-MM>/<region>/ (contract v2: 205-1, 205-3, CO2), kept byte for byte in the "
    "audit ledger with revisions and delivery attempts. A region whose blocking checks fail is not exported; "
    "the run then fails listing the failing checks.",
)
def national_export(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, platform_paths: PlatformPathsResource
) -> dg.MaterializeResult:
    month = date.fromisoformat(context.partition_key)
    paths = platform_paths.paths()
    url = warehouse.database_url()
    quality = run_quality_gate(stage_url(url, "transformer"), month=month, docs_dir=paths.quality)
    result = export_month(
        stage_url(url, "exporter"),
        month,
        paths.outbox,
        quality=quality,
        deliver_to=os.environ.get("IEM_NATIONAL_ENDPOINT") or None,
        deliver_v2_to=os.environ.get("IEM_NATIONAL_ENDPOINT_V2") or None,
    )
    context.add_output_metadata({"export": dg.MetadataValue.json(result), "status": result["status"]})
    blocked = [r for r in result["regions"] if r["status"] == "blocked"]
    # a v2 document that breaks its schema blocks v2 only (v1 is exported): the run fails all the same
    blocked += [
        {**r["v2"], "region_code": r["region_code"] + " (v2)"}
        for r in result["regions"]
        if r["status"] != "blocked" and r["v2"]["status"] == "blocked"
    ]
    if blocked:
        lines = [f"{r['region_code']}: {', '.join(r['failed_checks'])}" for r in blocked]
        raise dg.Failure(
            description="Export blocked for " + "; ".join(lines), metadata={"export": dg.MetadataValue.json(result)}
        )
    return dg.MaterializeResult(metadata={"export": dg.MetadataValue.json(result), "status": result["status"]})
