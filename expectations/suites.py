"""The checks, as data: each names its layer, whether it blocks (integrity of the warehouse) or only
warns (data quality of single enterprises), what it runs on (a table or a query) and the
expectations. Region-scoped checks return one row per pilot region, so a failure names the
region(s) to block while the others still export (DESIGN §6).

`{month_filter}` in a query becomes `AND month = '<YYYY-MM-01>'` when a month is given."""

from __future__ import annotations

from dataclasses import dataclass, field

import great_expectations as gx

from .thresholds import Thresholds

# The columns DESIGN §5 promises (and the export reads), per mart: a subset of each mart's enforced dbt
# contract (tests/unit/test_contracts.py checks it), verified on the warehouse as it is by the schema checks.
STABLE_COLUMNS = {
    "fct_enterprise_monthly": [
        "enterprise_id",
        "month",
        "comprehensive_tce_equivalent",
        "comprehensive_tce_equal_value",
        "tce_per_10k_yuan_value_added",
        "completeness",
        "estimated_share",
    ],
    "fct_enterprise_energy_monthly": [
        "enterprise_id",
        "month",
        "energy_code",
        "quantity",
        "unit",
        "tce_equivalent",
        "tce_equal_value",
        "completeness",
        "estimated_share",
    ],
    "fct_enterprise_energy_daily": [
        "enterprise_id",
        "date",
        "energy_code",
        "quantity",
        "unit",
        "tce_equivalent",
        "tce_equal_value",
        "completeness",
        "estimated_share",
    ],
    # read by the export
    "fct_region_monthly": [
        "region_code",
        "month",
        "comprehensive_tce_equivalent",
        "comprehensive_tce_equal_value",
        "enterprises_expected",
        "enterprises_reporting",
        "value_added_10k_yuan",
        "tce_per_10k_yuan_value_added",
    ],
    "fct_region_industry_monthly": [
        "region_code",
        "industry_code",
        "month",
        "comprehensive_tce_equivalent",
        "comprehensive_tce_equal_value",
        "enterprises_expected",
        "enterprises_reporting",
        "share_of_region",
    ],
    "fct_unit_product_energy_monthly": [
        "enterprise_id",
        "month",
        "product_code",
        "output_quantity",
        "output_unit",
        "energy_tce_equivalent",
        "unit_product_energy",
        "indicator_unit",
        "standard",
        "edition",
        "limit_grade_reached",
        "limit_value_grade3",
        "is_possible_breach",
    ],
    "dim_enterprise": ["enterprise_id", "name", "registered_region_code", "region_code", "industry_code"],
    "dim_energy_type": [
        "energy_code",
        "name_zh",
        "canonical_unit",
        "coefficient_kgce_per_unit",
        "counts_toward_comprehensive",
    ],
}


# How a boundary meter counts toward 综合能耗 (GB/T 2589-2020 boundary, 205-1 purposes of contract v1.1
# `usage`): +1 received for industrial production (raw material included), −1 supplied (out), 0 for
# non-industrial use and for energy produced or recovered inside (never added).
COUNTED_SIGN = (
    "(case when m.direction = 'out' then -1 "
    "when m.usage in ('industrial_production', 'raw_material') then 1 else 0 end)"
)


@dataclass(frozen=True)
class Check:
    name: str
    layer: str  # raw | staging | marts
    severity: str  # blocking | warning
    description: str
    table: str | None = None  # schema.table
    query: str | None = None
    region_column: str | None = None  # set for region-scoped checks
    index_columns: tuple[str, ...] = ()
    expectations: tuple = field(default_factory=tuple)


def _between(column, lo=None, hi=None, mostly=None):
    kw = {"column": column, "min_value": lo, "max_value": hi}
    if mostly is not None:
        kw["mostly"] = mostly
    return gx.expectations.ExpectColumnValuesToBeBetween(**kw)


def checks(month_filter: str, thresholds: Thresholds) -> list[Check]:
    mf = month_filter
    out = [
        # ---------------------------------------------------------------- raw (blocking: integrity)
        Check(
            "raw_readings_keys_present",
            "raw",
            "blocking",
            "raw.readings rows have their key fields",
            table="raw.readings",
            expectations=(
                gx.expectations.ExpectColumnValuesToNotBeNull(column="enterprise_id"),
                gx.expectations.ExpectColumnValuesToNotBeNull(column="meter_id"),
                gx.expectations.ExpectColumnValuesToNotBeNull(column="period_end"),
                gx.expectations.ExpectColumnValuesToNotBeNull(column="batch_id"),
            ),
        ),
        Check(
            "raw_ledger_counts_add_up",
            "raw",
            "blocking",
            "every batch: rows read = loaded + quarantined + duplicates",
            query="select batch_id, rows_read - rows_loaded - rows_quarantined - rows_duplicate as lost_rows "
            "from audit.ingest_batches where status = 'loaded'",
            expectations=(_between("lost_rows", 0, 0),),
        ),
        # ---------------------------------------------------------------- staging (blocking)
        Check(
            "staging_reading_keys_unique",
            "staging",
            "blocking",
            "one reading per key after corrections",
            table="staging.stg_raw__readings",
            expectations=(
                gx.expectations.ExpectCompoundColumnsToBeUnique(
                    column_list=["enterprise_id", "meter_id", "period_end"]
                ),
            ),
        ),
        Check(
            "every_energy_type_has_a_coefficient",
            "staging",
            "blocking",
            "every energy type used by a meter has a positive standard-coal coefficient",
            query="select m.enterprise_id, m.meter_id, coalesce(et.coefficient_kgce_per_unit, 0) as coefficient "
            "from staging.stg_raw__meters m left join reference.energy_types et using (energy_code)",
            expectations=(_between("coefficient", 1e-9, None),),
        ),
        # ---------------------------------------------------------------- marts (blocking, region-scoped)
        Check(
            "no_negative_comprehensive_energy",
            "marts",
            "blocking",
            "综合能耗 is never negative, at 当量值 nor at 等价值 (the export contract requires both ≥ 0; "
            "a power plant's own generation is valued so that it never nets below zero)",
            query="select region_code, count(*) filter (where comprehensive_tce_equivalent < 0 "
            "or comprehensive_tce_equal_value < 0) as negative_rows "
            f"from marts.fct_enterprise_monthly where true {mf} group by region_code",
            region_column="region_code",
            expectations=(_between("negative_rows", 0, 0),),
        ),
        Check(
            "region_total_equals_sum_of_enterprises",
            "marts",
            "blocking",
            "region 综合能耗 = Σ its enterprises (both values)",
            query="select r.region_code, abs(r.comprehensive_tce_equivalent - coalesce(e.eq, 0)) "
            "+ abs(r.comprehensive_tce_equal_value - coalesce(e.ev, 0)) as difference "
            "from marts.fct_region_monthly r left join (select region_code, month, "
            "sum(comprehensive_tce_equivalent) eq, sum(comprehensive_tce_equal_value) ev "
            "from marts.fct_enterprise_monthly group by 1, 2) e using (region_code, month) "
            f"where true {mf.replace('month', 'r.month')}",
            region_column="region_code",
            expectations=(_between("difference", 0, 1e-6),),
        ),
        Check(
            "enterprise_total_equals_sum_of_energy_types",
            "marts",
            "blocking",
            "enterprise 综合能耗 = Σ its energy types that count toward it (both values), relative to the total",
            query="select f.region_code, f.enterprise_id, (abs(f.comprehensive_tce_equivalent - coalesce(e.eq, 0)) "
            "+ abs(f.comprehensive_tce_equal_value - coalesce(e.ev, 0))) "
            "/ greatest(1, abs(f.comprehensive_tce_equivalent)) as relative_difference "
            "from marts.fct_enterprise_monthly f left join (select m.enterprise_id, m.month, "
            "sum(m.tce_equivalent) eq, sum(m.tce_equal_value) ev from marts.fct_enterprise_energy_monthly m "
            "join marts.dim_energy_type t using (energy_code) where t.counts_toward_comprehensive "
            "group by 1, 2) e using (enterprise_id, month) "
            f"where true {mf.replace('month', 'f.month')}",
            region_column="region_code",
            index_columns=("enterprise_id",),
            expectations=(_between("relative_difference", 0, 1e-9),),
        ),
        Check(
            "region_total_equals_sum_of_industries",
            "marts",
            "blocking",
            "region 综合能耗 = Σ its region × industry rows (both values)",
            query="select r.region_code, abs(r.comprehensive_tce_equivalent - coalesce(i.eq, 0)) "
            "+ abs(r.comprehensive_tce_equal_value - coalesce(i.ev, 0)) as difference "
            "from marts.fct_region_monthly r left join (select region_code, month, "
            "sum(comprehensive_tce_equivalent) eq, sum(comprehensive_tce_equal_value) ev "
            "from marts.fct_region_industry_monthly group by 1, 2) i using (region_code, month) "
            f"where true {mf.replace('month', 'r.month')}",
            region_column="region_code",
            expectations=(_between("difference", 0, 1e-6),),
        ),
        Check(
            "enterprise_keys_unique",
            "marts",
            "blocking",
            "one row per enterprise and month",
            query="select region_code, count(*) - count(distinct (enterprise_id, month)) as duplicate_rows "
            f"from marts.fct_enterprise_monthly where true {mf} group by region_code",
            region_column="region_code",
            expectations=(_between("duplicate_rows", 0, 0),),
        ),
        Check(
            "marts_reconcile_with_raw",
            "marts",
            "blocking",
            "every enterprise with raw readings in the month is in the monthly mart (a reading belongs to the "
            "month its period starts in; one without period_start — a register, an end-only interval — to the "
            "month of the instant before its end, except a meter's first, which only opens its register)",
            query="select d.region_code, count(*) filter (where f.enterprise_id is null) as missing_enterprises "
            "from (select distinct enterprise_id, month from (select r.enterprise_id, "
            "date_trunc('month', coalesce(r.period_start, r.period_end - interval '1 microsecond') "
            "at time zone 'Asia/Shanghai')::date as month, r.period_start is null and r.period_end = "
            "min(r.period_end) over (partition by r.enterprise_id, r.meter_id) as opens_register "
            "from raw.readings r) as readings where not opens_register) x "
            "join marts.dim_enterprise d using (enterprise_id) "
            "left join marts.fct_enterprise_monthly f using (enterprise_id, month) "
            f"where true {mf.replace('month', 'x.month')} group by d.region_code",
            region_column="region_code",
            expectations=(_between("missing_enterprises", 0, 0),),
        ),
        # The gate recomputes: the energy marts from the VEE layer (per meter and day), so a
        # mart whose quantities or tce went wrong consistently across marts (×10, ×2) is caught, and each
        # energy row's tce against quantity × coefficient (GB/T 2589: the meter's measured coefficient
        # where it declares one, else the energy type's), both values, relative to the row's size.
        Check(
            "energy_marts_reconcile_with_vee",
            "marts",
            "blocking",
            "per enterprise, month and energy type: quantity = Σ boundary meter-days of the VEE layer (in for "
            "industrial production, raw material included, − out: what counts toward 综合能耗)",
            query="select e.region_code, f.enterprise_id, f.month, f.energy_code, "
            "abs(f.quantity - coalesce(v.quantity, 0)) / greatest(1, abs(f.quantity)) as relative_difference "
            "from marts.fct_enterprise_energy_monthly f join marts.dim_enterprise e using (enterprise_id) "
            "left join (select d.enterprise_id, date_trunc('month', d.local_date)::date as month, "
            f"m.energy_code, sum({COUNTED_SIGN} * d.consumption) as quantity "
            "from intermediate.int_meter_daily d join staging.stg_raw__meters m using (enterprise_id, meter_id) "
            "where m.scope = 'boundary' group by 1, 2, 3) v using (enterprise_id, month, energy_code) "
            f"where true {mf.replace('month', 'f.month')}",
            region_column="region_code",
            index_columns=("enterprise_id", "month", "energy_code"),
            expectations=(_between("relative_difference", 0, 1e-6),),
        ),
        Check(
            "tce_is_quantity_times_coefficient",
            "marts",
            "blocking",
            "per enterprise, month and energy type: tce = Σ meter quantity × standard-coal coefficient ÷ 1000",
            query="select e.region_code, f.enterprise_id, f.month, f.energy_code, "
            "abs(f.tce_equivalent - coalesce(v.tce, 0)) / greatest(1, abs(f.tce_equivalent)) as relative_difference "
            "from marts.fct_enterprise_energy_monthly f join marts.dim_enterprise e using (enterprise_id) "
            "left join (select d.enterprise_id, date_trunc('month', d.local_date)::date as month, "
            f"m.energy_code, sum({COUNTED_SIGN} * d.consumption "
            "* coalesce(m.coefficient_kgce * 1.0 / nullif(m.unit_factor, 0), t.coefficient_kgce_per_unit)) "
            "/ 1000.0 as tce "
            "from intermediate.int_meter_daily d join staging.stg_raw__meters m using (enterprise_id, meter_id) "
            "join reference.energy_types t using (energy_code) "
            "where m.scope = 'boundary' group by 1, 2, 3) v using (enterprise_id, month, energy_code) "
            f"where true {mf.replace('month', 'f.month')}",
            region_column="region_code",
            index_columns=("enterprise_id", "month", "energy_code"),
            expectations=(_between("relative_difference", 0, 1e-6),),
        ),
        Check(
            "energy_within_plausibility_bounds",
            "marts",
            "blocking",
            "per enterprise, month and energy type: |quantity| within the plausible maximum (seed plausibility_bounds)",
            query="select e.region_code, f.enterprise_id, f.month, f.energy_code, "
            "abs(f.quantity) / b.max_enterprise_month_quantity as share_of_bound "
            "from marts.fct_enterprise_energy_monthly f join marts.dim_enterprise e using (enterprise_id) "
            "join reference.plausibility_bounds b using (energy_code) "
            f"where true {mf.replace('month', 'f.month')}",
            region_column="region_code",
            index_columns=("enterprise_id", "month", "energy_code"),
            expectations=(_between("share_of_bound", 0, 1),),
        ),
        # ---------------------------------------------------------------- marts (warnings: enterprises' data)
        Check(
            "enterprise_completeness_90",
            "marts",
            "warning",
            f"per enterprise: completeness ≥ {thresholds.completeness:.0%}",
            query="select region_code, enterprise_id, month, completeness from marts.fct_enterprise_monthly "
            f"where true {mf}",
            region_column="region_code",
            index_columns=("enterprise_id", "month"),
            expectations=(_between("completeness", thresholds.completeness, None),),
        ),
        Check(
            "platform_vs_enterprise_totals_5pct",
            "marts",
            "warning",
            f"per enterprise: platform 综合能耗 within {thresholds.totals_consistency:.0%} of the enterprise's own "
            "monthly totals",
            query="select f.region_code, s.enterprise_id, s.month, s.totals_consistency "
            "from marts.rpt_quality_scorecard s "
            "join marts.fct_enterprise_monthly f using (enterprise_id, month) "
            f"where s.totals_consistency is not null {mf.replace('month', 's.month')}",
            region_column="region_code",
            index_columns=("enterprise_id", "month"),
            expectations=(
                _between("totals_consistency", -thresholds.totals_consistency, thresholds.totals_consistency),
            ),
        ),
        Check(
            "energy_balance_closes",
            "marts",
            "warning",
            f"per enterprise, energy type and month with a 205-1 statement: opening + purchases + produced − "
            f"consumption − supplied − closing within {thresholds.energy_balance:.0%} of what was available",
            query="select e.region_code, b.enterprise_id, b.month, b.energy_code, "
            "case when b.balance_available > 0 then abs(b.balance_residual) / b.balance_available "
            "when b.balance_residual = 0 then 0 else 1e9 end as balance_residual_share "
            "from intermediate.int_energy_balance_monthly b join marts.dim_enterprise e using (enterprise_id) "
            f"where b.has_statement {mf.replace('month', 'b.month')}",
            region_column="region_code",
            index_columns=("enterprise_id", "month", "energy_code"),
            expectations=(_between("balance_residual_share", 0, thresholds.energy_balance),),
        ),
        Check(
            "timeliness_90",
            "marts",
            "warning",
            f"per enterprise: ≥ {thresholds.timeliness:.0%} of readings sent within 1 h",
            query="select f.region_code, s.enterprise_id, s.month, s.timeliness from marts.rpt_quality_scorecard s "
            "join marts.fct_enterprise_monthly f using (enterprise_id, month) "
            f"where s.timeliness is not null {mf.replace('month', 's.month')}",
            region_column="region_code",
            index_columns=("enterprise_id", "month"),
            expectations=(_between("timeliness", thresholds.timeliness, None),),
        ),
    ]
    for table, cols in STABLE_COLUMNS.items():
        out.append(
            Check(
                f"schema_{table}",
                "marts",
                "blocking",
                f"marts.{table} has the columns analysts and the export rely on",
                table=f"marts.{table}",
                expectations=(gx.expectations.ExpectTableColumnsToMatchSet(column_set=cols, exact_match=False),),
            )
        )
    return out
