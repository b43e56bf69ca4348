"""A small warehouse for the quality gate and export tests: the mart tables of the marts contract
(the columns the gate and the export read), a few staging, reference and raw rows, for two pilot
regions (上海 310000, 浙江 330000) with two enterprises each in January 2026.

Region and region × industry rows are derived from the enterprise rows by `rebuild_region_rollups`,
as transform would, so a test can change an enterprise value and re-derive them."""

from __future__ import annotations

from datetime import date

import psycopg

MONTH = date(2026, 1, 1)
SHANGHAI, ZHEJIANG = "310000", "330000"
# enterprise_id (valid 统一社会信用代码), name, registered region, pilot region, industry division
ENTERPRISES = [
    ("91310000MA1K000019", "上海一号钢铁有限公司", "310115", SHANGHAI, "C31"),
    ("91310000MA1K00002C", "上海二号水泥有限公司", "310112", SHANGHAI, "C30"),
    ("91330000MA2800001B", "浙江一号化工有限公司", "330100", ZHEJIANG, "C26"),
    ("91330000MA2800002E", "浙江二号造纸有限公司", "330200", ZHEJIANG, "C22"),
]
STEEL, CEMENT, CHEMICALS, PAPER = (e[0] for e in ENTERPRISES)
# energy_code, name_zh, canonical unit, kgce per canonical unit (当量值), 等价值 factor
ENERGY_TYPES = [
    ("electricity", "电力", "kWh", 0.1229, 0.3),
    ("natural_gas", "天然气", "m3", 1.2143, 1.2143),
    ("raw_coal", "原煤", "t", 714.3, 714.3),
]
# enterprise, energy_code, quantity purchased (in), quantity consumed (net)
ENERGY = [
    (STEEL, "electricity", 1_000_000, 1_000_000),
    (STEEL, "raw_coal", 2_000, 1_900),
    (CEMENT, "electricity", 400_000, 400_000),
    (CEMENT, "natural_gas", 50_000, 50_000),
    (CHEMICALS, "electricity", 600_000, 600_000),
    (CHEMICALS, "natural_gas", 80_000, 80_000),
    (PAPER, "electricity", 300_000, 300_000),
]
ECONOMICS = {STEEL: (12_000, 3_000), CEMENT: (5_000, 1_200), CHEMICALS: (9_000, 2_500), PAPER: (4_000, 900)}
COMPLETENESS = {STEEL: 0.99, CEMENT: 0.97, CHEMICALS: 0.95, PAPER: 0.80}  # PAPER below 90 %: a warning

DDL = """
create table reference.energy_types (energy_code text primary key, name_zh text, canonical_unit text,
    coefficient_kgce_per_unit numeric, equal_value_kgce_per_unit numeric);
create table staging.stg_raw__meters (enterprise_id text, meter_id text, energy_code text, direction text,
    scope text, unit_factor numeric, coefficient_kgce numeric, usage text);
create table intermediate.int_meter_daily (enterprise_id text, meter_id text, local_date date, local_month date,
    consumption numeric);
create table reference.plausibility_bounds (energy_code text, unit text, max_reading_quantity numeric,
    max_enterprise_month_quantity numeric);
create table staging.stg_raw__readings (enterprise_id text, meter_id text, period_end timestamptz, value numeric);
create table marts.dim_region (region_code text, name_zh text, name_en text, level text);
create table marts.dim_enterprise (enterprise_id text, name text, registered_region_code text, region_code text,
    industry_code text, registered_industry_code text, industry_name_zh text, is_energy_intensive boolean,
    has_energy_centre boolean, declared_tce numeric, annual_target_tce numeric, connected_since date);
create table marts.dim_energy_type (energy_code text, name_zh text, canonical_unit text,
    coefficient_kgce_per_unit numeric, counts_toward_comprehensive boolean);
create table marts.fct_enterprise_energy_daily (enterprise_id text, date date, energy_code text, quantity numeric,
    quantity_in numeric, unit text, tce_equivalent numeric, tce_equal_value numeric, completeness numeric,
    estimated_share numeric);
create table marts.fct_enterprise_energy_monthly (enterprise_id text, month date, energy_code text, quantity numeric,
    quantity_in numeric, unit text, tce_equivalent numeric, tce_equal_value numeric, completeness numeric,
    estimated_share numeric, coefficient_kgce_per_unit numeric);
create table marts.fct_enterprise_monthly (enterprise_id text, month date, region_code text, industry_code text,
    comprehensive_tce_equivalent numeric, comprehensive_tce_equal_value numeric, gross_output_10k_yuan numeric,
    value_added_10k_yuan numeric, tce_per_10k_yuan_value_added numeric, tce_per_10k_yuan_gross_output numeric,
    completeness numeric, estimated_share numeric, mom_change numeric, yoy_change numeric);
create table marts.fct_region_industry_monthly (region_code text, industry_code text, month date,
    comprehensive_tce_equivalent numeric, comprehensive_tce_equal_value numeric, enterprises_expected integer,
    enterprises_reporting integer, value_added_10k_yuan numeric, tce_per_10k_yuan_value_added numeric,
    share_of_region numeric, mom_change numeric, yoy_change numeric);
create table marts.fct_region_monthly (region_code text, month date, comprehensive_tce_equivalent numeric,
    comprehensive_tce_equal_value numeric, enterprises_expected integer, enterprises_reporting integer,
    value_added_10k_yuan numeric, tce_per_10k_yuan_value_added numeric, mom_change numeric, yoy_change numeric);
create table marts.fct_unit_product_energy_monthly (enterprise_id text, month date, product_code text,
    output_quantity numeric, output_unit text, energy_tce_equivalent numeric, unit_product_energy numeric,
    indicator_unit text, standard text, edition text, limit_grade_reached text, limit_value_grade3 numeric,
    is_possible_breach boolean, limit_status text);
create table marts.rpt_quality_scorecard (enterprise_id text, month date, completeness numeric, timeliness numeric,
    validity numeric, estimated_share numeric, calibration_ok boolean, totals_consistency numeric);
-- the 205-1 energy balance the gate's warning reads: no enterprise of this warehouse sends a statement
create table intermediate.int_energy_balance_monthly (enterprise_id text, month date, energy_code text,
    has_statement boolean, balance_available numeric, balance_residual numeric);
-- the marts of export contract v2, empty here (v2 exports its structure; the indicator tests carry its figures)
create table marts.fct_energy_205_1_monthly (enterprise_id text, month date, nbs_code text, energy_name_zh text,
    statistical_unit text, sort_order integer, opening_stock numeric, purchased_quantity numeric,
    purchased_value_1k_yuan numeric, consumption_total numeric, consumption_industrial numeric,
    consumption_raw_material numeric, consumption_non_industrial numeric, consumption_transport numeric,
    closing_stock numeric, supplied_to_others numeric, produced_inside numeric, coefficient_used numeric,
    reference_coefficient numeric, tce_equivalent numeric, energy_codes text, has_statement boolean, balance_closes
    boolean);
create table marts.fct_energy_205_3_monthly (enterprise_id text, month date, product_code text, product_name_zh
    text, output_quantity numeric, output_unit text, energy_tce numeric, unit_product_energy numeric, indicator_unit
    text, electricity_basis text, standard text, limit_grade_reached text, limit_status text);
create table marts.fct_enterprise_carbon_monthly (enterprise_id text, month date, region_code text, industry_code
    text, direct_co2_t numeric, indirect_electricity_co2_t numeric, indirect_heat_co2_t numeric, total_co2_t
    numeric, factor_missing boolean, factor_missing_energy_codes text, grid_factor_t_per_mwh numeric,
    grid_factor_series text, grid_factor_data_year integer, grid_factor_confidence text, value_added_10k_yuan
    numeric, co2_t_per_10k_yuan_value_added numeric, comprehensive_tce_equivalent numeric,
    raw_material_tce_equivalent numeric, tce_net_of_raw_material numeric, non_fossil_tce_equivalent numeric,
    tce_net_of_non_fossil numeric, tce_net_of_raw_material_per_10k_yuan_value_added numeric,
    tce_net_of_non_fossil_per_10k_yuan_value_added numeric);
create table marts.fct_enterprise_energy_co2_monthly (enterprise_id text, month date, region_code text,
    industry_code text, energy_code text, emission_scope text, unit text, quantity numeric, quantity_raw_material
    numeric, quantity_emitting numeric, activity numeric, activity_unit text, co2_factor numeric, co2_factor_unit
    text, factor_series text, factor_data_year integer, factor_confidence text, factor_beyond_data_year boolean,
    factor_missing boolean, co2_t numeric);
create table marts.fct_region_205_1_monthly (region_code text, month date, nbs_code text, energy_name_zh text,
    statistical_unit text, sort_order integer, enterprises integer, enterprises_with_statement integer,
    opening_stock numeric, purchased_quantity numeric, purchased_value_1k_yuan numeric, consumption_total numeric,
    consumption_industrial numeric, consumption_raw_material numeric, consumption_non_industrial numeric,
    consumption_transport numeric, closing_stock numeric, supplied_to_others numeric, produced_inside numeric,
    coefficient_used numeric, reference_coefficient numeric, tce_equivalent numeric);
create table marts.fct_region_carbon_monthly (region_code text, month date, enterprises_reporting bigint,
    enterprises_factor_missing bigint, direct_co2_t numeric, indirect_electricity_co2_t numeric, indirect_heat_co2_t
    numeric, total_co2_t numeric, value_added_10k_yuan numeric, co2_t_per_10k_yuan_value_added numeric,
    comprehensive_tce_equivalent numeric, raw_material_tce_equivalent numeric, tce_net_of_raw_material numeric,
    non_fossil_tce_equivalent numeric, tce_net_of_non_fossil numeric,
    tce_net_of_raw_material_per_10k_yuan_value_added numeric, tce_net_of_non_fossil_per_10k_yuan_value_added
    numeric);
create table marts.fct_region_industry_carbon_monthly (region_code text, industry_code text, month date,
    enterprises_reporting bigint, enterprises_factor_missing bigint, direct_co2_t numeric,
    indirect_electricity_co2_t numeric, indirect_heat_co2_t numeric, total_co2_t numeric, value_added_10k_yuan
    numeric, co2_t_with_value_added numeric, co2_t_per_10k_yuan_value_added numeric, comprehensive_tce_equivalent
    numeric, raw_material_tce_equivalent numeric, tce_net_of_raw_material numeric, non_fossil_tce_equivalent
    numeric, tce_net_of_non_fossil numeric, net_raw_with_value_added numeric, net_non_fossil_with_value_added
    numeric, tce_net_of_raw_material_per_10k_yuan_value_added numeric,
    tce_net_of_non_fossil_per_10k_yuan_value_added numeric);
"""


def build_small_warehouse(url: str) -> None:
    """Create and fill the tables above in a fresh, bootstrapped database (see tests/conftest.py)."""
    coefficient = {code: (eq, ev) for code, _, _, eq, ev in ENERGY_TYPES}
    unit = {code: u for code, _, u, _, _ in ENERGY_TYPES}
    with psycopg.connect(url) as conn:
        conn.execute(DDL)
        for code, name, u, eq, ev in ENERGY_TYPES:
            conn.execute("insert into reference.energy_types values (%s, %s, %s, %s, %s)", (code, name, u, eq, ev))
            conn.execute("insert into marts.dim_energy_type values (%s, %s, %s, %s, true)", (code, name, u, eq))
            conn.execute("insert into reference.plausibility_bounds values (%s, %s, 1e12, 1e11)", (code, u))
        conn.execute(
            "insert into marts.dim_region values ('310000', '上海市', 'Shanghai', 'province'), "
            "('330000', '浙江省', 'Zhejiang', 'province')"
        )
        batch = conn.execute(
            "insert into audit.ingest_batches (source, source_name, entity, content_sha256, size_bytes, rows_read, "
            "rows_loaded, min_period_end, max_period_end) values ('file', 'readings_2026-01.csv', 'readings', "
            "'fixture', 1, %s, %s, '2026-01-01 00:15+08', '2026-02-01 00:00+08') returning batch_id",
            (2 * len(ENERGY), 2 * len(ENERGY)),
        ).fetchone()[0]
        for n, (ent, code, q_in, q) in enumerate(ENERGY):
            meter = f"M-{code}"
            eq, ev = coefficient[code]
            conn.execute(
                "insert into staging.stg_raw__meters values (%s, %s, %s, 'in', 'boundary', 1, null, "
                "'industrial_production')",
                (ent, meter, code),
            )
            conn.execute(  # the VEE layer the gate recomputes the energy marts from: one meter-day per meter
                "insert into intermediate.int_meter_daily values (%s, %s, '2026-01-15', %s, %s)", (ent, meter, MONTH, q)
            )
            for k, end in enumerate(("2026-01-01 00:15+08", "2026-02-01 00:00+08")):
                conn.execute(
                    "insert into raw.readings (batch_id, row_number, enterprise_id, meter_id, period_start, "
                    "period_end, value, unit, sent_at) values (%s, %s, %s, %s, "
                    "%s::timestamptz - interval '15 minutes', %s, 1, %s, %s)",
                    (batch, 2 * n + k + 1, ent, meter, end, end, unit[code], end),
                )
                conn.execute("insert into staging.stg_raw__readings values (%s, %s, %s, 1)", (ent, meter, end))
            conn.execute(
                "insert into marts.fct_enterprise_energy_monthly values (%s, %s, %s, %s, %s, %s, "
                "%s * %s / 1000, %s * %s / 1000, %s, 0)",
                (ent, MONTH, code, q, q_in, unit[code], q, eq, q, ev, COMPLETENESS[ent]),
            )
            conn.execute(
                "insert into marts.fct_enterprise_energy_daily select enterprise_id, month, energy_code, "
                "quantity / 31, quantity_in / 31, unit, tce_equivalent / 31, tce_equal_value / 31, "
                "completeness, estimated_share from marts.fct_enterprise_energy_monthly "
                "where enterprise_id = %s and energy_code = %s",
                (ent, code),
            )
        for ent, name, registered, region, industry in ENTERPRISES:
            conn.execute(
                "insert into marts.dim_enterprise values (%s, %s, %s, %s, %s, %s, null, true, true, "
                "50000, 48000, '2025-06-01')",
                (ent, name, registered, region, industry, industry + "10"),
            )
            gross, added = ECONOMICS[ent]
            conn.execute(
                "insert into marts.fct_enterprise_monthly (enterprise_id, month, region_code, industry_code, "
                "comprehensive_tce_equivalent, comprehensive_tce_equal_value, gross_output_10k_yuan, "
                "value_added_10k_yuan, completeness, estimated_share) "
                "select %s, %s, %s, %s, sum(tce_equivalent), sum(tce_equal_value), %s, %s, %s, 0 "
                "from marts.fct_enterprise_energy_monthly where enterprise_id = %s",
                (ent, MONTH, region, industry, gross, added, COMPLETENESS[ent], ent),
            )
            conn.execute(
                "insert into marts.rpt_quality_scorecard values (%s, %s, %s, 0.98, 1, 0, true, 0.01)",
                (ent, MONTH, COMPLETENESS[ent]),
            )
        conn.execute(
            "insert into marts.fct_unit_product_energy_monthly values (%s, %s, 'cement', 40000, 't', "
            "3200, 80, 'kgce/t', 'GB 16780-2021', '2021', '1', 94, false, 'graded')",
            (CEMENT, MONTH),
        )
        # the coefficient actually used, as the mart computes it (tce × 1000 ÷ quantity)
        conn.execute(
            "update marts.fct_enterprise_energy_monthly "
            "set coefficient_kgce_per_unit = tce_equivalent * 1000 / nullif(quantity, 0)"
        )
    rebuild_region_rollups(url)


def rebuild_region_rollups(url: str) -> None:
    """Intensities and the region and region × industry rows from the enterprise rows (what transform does)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "update marts.fct_enterprise_monthly set "
            "tce_per_10k_yuan_value_added = comprehensive_tce_equivalent / value_added_10k_yuan, "
            "tce_per_10k_yuan_gross_output = comprehensive_tce_equivalent / gross_output_10k_yuan"
        )
        conn.execute("delete from marts.fct_region_monthly")
        conn.execute("delete from marts.fct_region_industry_monthly")
        conn.execute(
            "insert into marts.fct_region_monthly select region_code, month, sum(comprehensive_tce_equivalent), "
            "sum(comprehensive_tce_equal_value), count(*), count(*), sum(value_added_10k_yuan), "
            "sum(comprehensive_tce_equivalent) / sum(value_added_10k_yuan), null, null "
            "from marts.fct_enterprise_monthly group by 1, 2"
        )
        conn.execute(
            "insert into marts.fct_region_industry_monthly select f.region_code, f.industry_code, f.month, "
            "sum(f.comprehensive_tce_equivalent), sum(f.comprehensive_tce_equal_value), count(*), count(*), "
            "sum(f.value_added_10k_yuan), sum(f.comprehensive_tce_equivalent) / sum(f.value_added_10k_yuan), "
            "sum(f.comprehensive_tce_equivalent) / max(r.comprehensive_tce_equivalent), null, null "
            "from marts.fct_enterprise_monthly f join marts.fct_region_monthly r using (region_code, month) "
            "group by 1, 2, 3"
        )
