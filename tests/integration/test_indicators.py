"""The indicator system by the statistics rules, on hand-computed fixture enterprises.

One small contract v1.1 feed with v1.2 inventories (indicator_fixtures.py) is loaded, built by dbt and
exported once for the module. Every expected figure below is computed by hand from the fixtures' daily values, with the
rule it follows: GB/T 2589-2020 (综合能耗, boundaries, 当量值/等价值, working media), the energy statistics
forms 205-1/205-2/205-3 (purposes, conversion output and recovery, stocks and purchases, the energy
balance), the limit standard in force that month (GB 16780-2021, GB 21256-2013/-2025, GB 21258-2024,
GB 29436-2023), and energy-related CO2 by the factors of seed emission_factors (fuel burned × carbon content
per unit heat × oxidation × 44/12; net purchased electricity × the grid factor covering the month)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from datetime import date
from pathlib import Path

import jsonschema
import psycopg
import pytest
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).parent))
from indicator_fixtures import (
    AMMONIA,
    CEMENT,
    CEMENT_WAN,
    CHEM,
    CHLOR,
    HEBEI,
    JULY,
    LEAKY,
    MARCH,
    POWER,
    SINTER_PLANT,
    STEEL,
    ZHEJIANG,
    write_indicator_feed,
)

from expectations import run_quality_gate
from ingestion.loader import ingest_path
from orchestration.dbt_env import run_dbt, warehouse_target_path
from orchestration.lib.export import export_month, json_schema

N = 31  # days in March and in July 2026: every monthly figure is 31 × the daily value
# GB/T 2589-2020 coefficients (seed energy_types), kgce per canonical unit
RAW_COAL, COKE, ELECTRICITY, NATURAL_GAS = 714.3, 971.4, 0.1229, 1.2143
BFG, CONVERTER_GAS, STEAM = 0.1286, 0.2866, 128.6
# working media: GB/T 2589 Appendix B, the default of seed working_media_coefficients
BLAST_AIR, OXYGEN, NITROGEN = 0.0300, 0.4000, 0.4000
# electricity 等价值 for 2026: the 2025 generation coal rate (seed equal_value_parameters, U)
EQUAL_VALUE_2026 = 0.2830
# CO2 (seed emission_factors): carbon content per unit heat (tC/TJ) × oxidation rate × 44/12, on the energy
# content of the fuel burned (tce × 29.307 GJ/tce); electricity: the MEE-NBS national average of data year
# 2022, 0.5366 tCO2/MWh, applied by the seed to the months of 2022-2026
GJ_PER_TCE = 29.307
CO2_PER_GJ = {
    "raw_coal": 26.37 / 1000 * 0.94 * 44 / 12,
    "coke": 29.5 / 1000 * 0.93 * 44 / 12,
    "natural_gas": 15.3 / 1000 * 0.99 * 44 / 12,
}
GRID_2022 = 0.5366


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, fresh_database):
    feed = write_indicator_feed(tmp_path_factory.mktemp("indicator_feed"))
    url = fresh_database()
    summary = ingest_path(url, feed).to_dict()
    run_dbt(["build"], url)
    outbox = tmp_path_factory.mktemp("outbox")
    exported = export_month(url, MARCH, outbox, quality=run_quality_gate(url, month=MARCH))
    return {"url": url, "ingest": summary, "outbox": outbox, "export": exported}


def rows(url: str, sql: str, *params) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def product(url: str, enterprise: str, month: date, code: str) -> dict:
    [row] = rows(
        url,
        "select * from marts.fct_unit_product_energy_monthly where enterprise_id = %s and month = %s "
        "and product_code = %s",
        enterprise,
        month,
        code,
    )
    return row


def enterprise_month(url: str, enterprise: str, month: date) -> dict:
    [row] = rows(
        url, "select * from marts.fct_enterprise_monthly where enterprise_id = %s and month = %s", enterprise, month
    )
    return row


def energy_rows(url: str, enterprise: str, month: date) -> dict[str, dict]:
    return {
        r["energy_code"]: r
        for r in rows(
            url,
            "select * from marts.fct_enterprise_energy_monthly where enterprise_id = %s and month = %s",
            enterprise,
            month,
        )
    }


def close(value, expected, rel=1e-9):
    return value is not None and float(value) == pytest.approx(expected, rel=rel, abs=1e-9)


# ------------------------------------------------------------------------------------------- cement


def test_cement_works_cement_includes_its_clinker_and_the_limits_follow_the_clinker_share(warehouse):
    url = warehouse["url"]
    # GB/T 2589-2020 综合能耗 of the works: coal 560 t/d × 714.3 kgce/t + electricity 500,000 kWh/d × 0.1229
    plant_tce = N * (560 * RAW_COAL + 500_000 * ELECTRICITY) / 1000  # 14,305.198 tce
    assert close(enterprise_month(url, CEMENT, MARCH)["comprehensive_tce_equivalent"], plant_tce)

    # clinker (GB 16780-2021 熟料单位产品综合能耗): its own line, scope clinker_kiln: coal 560 t/d +
    # 220,000 kWh/d; the works also makes cement, so the plant's energy is not given to the clinker
    clinker = product(url, CEMENT, MARCH, "clinker")
    clinker_tce = N * (560 * RAW_COAL + 220_000 * ELECTRICITY) / 1000  # 13,238.426 tce
    assert clinker["energy_basis"] == "process" and clinker["process_scope"] == "clinker_kiln"
    assert close(clinker["energy_tce_equivalent"], clinker_tce)
    assert close(clinker["unit_product_energy"], clinker_tce * 1000 / (4_000 * N))  # 106.76 kgce/t
    # GB 16780-2021 clinker limits 100/107/117: 106.76 reaches grade 2
    assert (clinker["standard"], clinker["limit_grade_reached"], clinker["limit_status"]) == (
        "GB 16780-2021",
        "2",
        "graded",
    )

    # cement (GB 16780-2021 水泥单位产品综合能耗) includes the clinker in it: reported with only its clinker,
    # the cement carries the whole works (kiln + grinding + the 30,000 kWh/d of offices no process meter has)
    cement = product(url, CEMENT, MARCH, "cement")
    assert cement["energy_basis"] == "whole_plant"
    assert close(cement["energy_tce_equivalent"], plant_tce)
    upe = plant_tce * 1000 / (5_000 * N)  # 92.29 kgce/t
    assert close(cement["unit_product_energy"], upe)
    # clinker share 124,000 ÷ 155,000 = 80 %, not the 75 % basis: the limits move by (80 − 75) × 1.10/1.15/1.20
    assert close(cement["clinker_share_pct"], 80.0)
    assert close(cement["limit_value_grade1"], 80 + 5 * 1.10)  # 85.5
    assert close(cement["limit_value_grade2"], 87 + 5 * 1.15)  # 92.75
    assert close(cement["limit_value_grade3"], 94 + 5 * 1.20)  # 100.0
    assert (float(cement["limit_base_grade2"]), float(cement["limit_base_grade3"])) == (87.0, 94.0)
    # 92.29 > 87 (the uncorrected grade 2) but ≤ 92.75: grade 2 once the clinker share is applied
    assert upe > 87 and cement["limit_grade_reached"] == "2" and not cement["is_possible_breach"]
    assert cement["corrections_applied"] == "clinker_share" and cement["corrections_missing"] == "altitude"


def test_output_sent_in_wan_dun_and_in_tonnes_gives_identical_unit_product_energy(warehouse):
    url = warehouse["url"]
    # CEMENT_WAN is the same works sending 12.4 万吨 of clinker and its cement as 10 万吨 + 55,000 t
    for code in ("clinker", "cement"):
        in_t, in_wan = product(url, CEMENT, MARCH, code), product(url, CEMENT_WAN, MARCH, code)
        assert (
            float(in_wan["output_quantity"])
            == float(in_t["output_quantity"])
            == {"clinker": 124_000, "cement": 155_000}[code]
        )
        assert in_wan["output_unit"] == "t"
        for column in ("unit_product_energy", "energy_tce_equivalent", "limit_value_grade3"):
            assert float(in_wan[column]) == float(in_t[column]), column
        assert in_wan["limit_grade_reached"] == in_t["limit_grade_reached"]
    staged = rows(
        url,
        "select source_quantity, source_unit, quantity from staging.stg_raw__production "
        "where enterprise_id = %s and product_code = 'cement' order by period_start",
        CEMENT_WAN,
    )
    assert [(float(r["source_quantity"]), r["source_unit"], float(r["quantity"])) for r in staged] == [
        (10.0, "万吨", 100_000.0),
        (55_000.0, "t", 55_000.0),
    ]


def test_an_unknown_production_unit_is_rejected_at_the_door_with_a_reason(warehouse):
    url = warehouse["url"]
    [batch] = [b for b in warehouse["ingest"]["batches"] if b["entity"] == "production"]
    # rows read = loaded + quarantined + duplicates (19 = 18 + 1 + 0)
    assert (batch["rows_read"], batch["rows_loaded"], batch["rows_quarantined"], batch["rows_duplicate"]) == (
        19,
        18,
        1,
        0,
    )
    [rejected] = rows(url, "select * from quarantine.rejected_rows where entity = 'production'")
    assert (rejected["source_name"], rejected["row_number"], rejected["field"], rejected["value"]) == (
        "production_2026.csv",
        7,
        "unit",
        "万只",
    )
    assert rejected["reason"].startswith("unit is unknown or not convertible to the product's unit t (accepted: ")
    assert "万吨" in rejected["reason"] and rejected["enterprise_id"] == CEMENT_WAN
    # and nothing of it reaches the marts: February has no cement row
    assert rows(url, "select 1 from marts.fct_unit_product_energy_monthly where month = '2026-02-01'") == []


# -------------------------------------------------------------------------------------------- steel


def test_steel_works_total_counts_its_purchases_and_never_the_gases_it_recovers_and_uses(warehouse):
    url = warehouse["url"]
    # GB/T 2589-2020 boundary: coke 3,220 t + coal 1,200 t + electricity 1.5 GWh + natural gas 50,000 m³ a
    # day cross the boundary; blast-furnace and converter gas, TRT power and steam are recovered and
    # used inside (205-2 回收利用): counting their use as well would count the coke twice
    purchases = N * (3_220 * COKE + 1_200 * RAW_COAL + 1_500_000 * ELECTRICITY + 50_000 * NATURAL_GAS) / 1000
    for month in (MARCH, JULY):
        total = enterprise_month(url, STEEL, month)
        assert close(total["comprehensive_tce_equivalent"], purchases)  # 131,134.123 tce
        energy = energy_rows(url, STEEL, month)
        assert close(sum(float(e["tce_equivalent"]) for e in energy.values()), purchases)
        for gas, recovered in (("blast_furnace_gas", 13_600_000), ("converter_gas", 1_100_000), ("steam", 680)):
            assert float(energy[gas]["tce_equivalent"]) == 0.0 and float(energy[gas]["quantity"]) == 0.0
            assert float(energy[gas]["quantity_recovered"]) == N * recovered
        assert float(energy["electricity"]["quantity_recovered"]) == N * 280_000  # TRT
        recovered_tce = N * (13_600_000 * BFG + 1_100_000 * CONVERTER_GAS + 680 * STEAM + 280_000 * ELECTRICITY) / 1000
        assert close(total["recovered_tce_equivalent"], recovered_tce)
    # 吨钢综合能耗: crude steel embodies sinter, hot metal and converter steel, so it carries the works
    crude = product(url, STEEL, JULY, "crude_steel")
    assert crude["energy_basis"] == "whole_plant" and close(
        crude["unit_product_energy"], purchases * 1000 / (8_500 * N)
    )
    assert crude["limit_status"] == "no_standard_in_force" and crude["limit_grade_reached"] is None


def test_steel_processes_deduct_the_energy_they_recover_and_count_their_working_media(warehouse):
    url = warehouse["url"]
    # GB 21256-2025 工序能耗: the process's meters only; energy recovered in the process deducted;
    # working media (耗能工质) counted at the coefficients the standard uses (GB/T 2589 Appendix B here)
    sinter = product(url, STEEL, JULY, "sinter")
    sinter_tce = N * (420 * COKE + 330_000 * ELECTRICITY + 200_000 * BFG) / 1000  # 14,702.215 tce
    assert sinter["energy_basis"] == "process" and close(sinter["energy_tce_equivalent"], sinter_tce)
    assert close(sinter["unit_product_energy"], sinter_tce * 1000 / (10_000 * N))  # 47.43 kgce/t

    hot_metal = product(url, STEEL, JULY, "hot_metal")
    bf_energy = 2_800 * COKE + 1_200 * RAW_COAL + 400_000 * ELECTRICITY + 6_000_000 * BFG  # consumed (hot stoves too)
    bf_recovered = 13_600_000 * BFG + 280_000 * ELECTRICITY  # blast-furnace gas and TRT power recovered
    bf_media = 9_600_000 * BLAST_AIR + 320_000 * OXYGEN
    bf_tce = N * (bf_energy - bf_recovered + bf_media) / 1000  # 93,944.508 tce
    assert close(hot_metal["energy_tce_equivalent"], bf_tce)
    assert close(hot_metal["working_media_tce"], N * bf_media / 1000)  # 12,896 tce
    assert close(hot_metal["produced_or_recovered_tce"], N * bf_recovered / 1000)
    assert hot_metal["working_media_coefficients_of"] == "GB/T 2589-2020"
    assert close(hot_metal["unit_product_energy"], bf_tce * 1000 / (8_000 * N))  # 378.81 kgce/t

    converter = product(url, STEEL, JULY, "converter_steel")
    bof_tce = (
        N
        * (200_000 * ELECTRICITY + 480_000 * OXYGEN + 120_000 * NITROGEN - 1_100_000 * CONVERTER_GAS - 680 * STEAM)
        / 1000
    )
    assert close(converter["energy_tce_equivalent"], bof_tce)  # −4,281.968 tce: net recovery
    upe = bof_tce * 1000 / (8_500 * N)  # −16.25 kgce/t
    assert close(converter["unit_product_energy"], upe)
    # without the oxygen and nitrogen it would be −44.5 kgce/t, a grade-1 converter it is not
    assert (bof_tce - N * (480_000 * OXYGEN + 120_000 * NITROGEN) / 1000) * 1000 / (8_500 * N) < -30


def test_steel_in_march_2026_is_judged_by_gb_21256_2013_and_in_july_by_gb_21256_2025(warehouse):
    url = warehouse["url"]
    for code in ("sinter", "hot_metal", "converter_steel"):
        march, july = product(url, STEEL, MARCH, code), product(url, STEEL, JULY, code)
        # the same energy both months: only the edition in force changes (GB 21256-2025 from 2026-07-01)
        assert float(march["unit_product_energy"]) == float(july["unit_product_energy"])
        # March: GB 21256-2013 is in force (until 2026-06-30) and its values are not known: the mart says so
        assert (march["standard"], march["limit_status"], march["limit_grade_reached"]) == (
            "GB 21256-2013",
            "edition_values_unknown",
            None,
        )
        assert march["limit_status_note"] == (
            "GB 21256-2013 is in force this month but its limit values are not in the reference data "
            "(not found in public sources): no grade can be given"
        )
        assert march["is_possible_breach"] is False
    # July: GB 21256-2025 base values (sinter 43/46/52, blast furnace 361/370/415, converter −30/−28/−12)
    expected = {"sinter": ("3", 52), "hot_metal": ("3", 415), "converter_steel": ("3", -12)}
    for code, (grade, limit3) in expected.items():
        july = product(url, STEEL, JULY, code)
        assert (july["standard"], july["limit_status"], july["limit_grade_reached"]) == (
            "GB 21256-2025",
            "graded",
            grade,
        )
        assert float(july["limit_value_grade3"]) == limit3
        assert july["corrections_missing"]  # ore, feed-grade and scrap terms need inputs the feed lacks
        assert "possible breach" in july["limit_status_note"]


def test_no_product_is_given_the_whole_plant_when_several_share_it_or_when_it_is_a_process(warehouse):
    url = warehouse["url"]
    for code in ("caustic_soda", "methanol"):
        p = product(url, CHLOR, MARCH, code)
        assert (p["energy_basis"], p["limit_status"], p["unit_product_energy"]) == (
            "not_attributable",
            "energy_not_attributable",
            None,
        )
        assert "several products reported" in p["limit_status_note"]
    sinter = product(url, SINTER_PLANT, MARCH, "sinter")
    assert (sinter["energy_basis"], sinter["unit_product_energy"], sinter["limit_grade_reached"]) == (
        "not_attributable",
        None,
        None,
    )
    assert sinter["limit_status_note"].startswith(
        "a process (工序) product is judged only on meters of its scope sintering"
    )


# -------------------------------------------------------------------------------------------- power


def test_coal_power_plant_supplying_the_grid_never_nets_below_zero_at_equal_value(warehouse):
    url = warehouse["url"]
    coal, generated, supplied, bought = 8_000 * RAW_COAL, 21_000_000, 20_500_000, 50_000  # a day
    total = enterprise_month(url, POWER, MARCH)
    # 当量值 (GB/T 2589-2020): coal + electricity bought − electricity supplied, all at 0.1229
    assert close(
        total["comprehensive_tce_equivalent"], N * (coal + (bought - supplied) * ELECTRICITY) / 1000
    )  # 99,233.945
    # ordinary 等价值 netting would give coal + (bought − supplied) × 0.2830 < 0, which the export schema
    # forbids and which would block the whole region:
    assert coal + (bought - supplied) * EQUAL_VALUE_2026 < 0
    # GB/T 2589: self-produced energy is valued by the unit's own input/output. The plant burns
    # 5,714.4 tce a day for 21 GWh (272.1 gce/kWh < 283): the 20.5 GWh it supplies take away
    # 20.5/21 of its coal, and what stays is the coal for the power it used itself, plus the power bought
    own_rate = coal / generated  # kgce/kWh
    assert own_rate < EQUAL_VALUE_2026
    equal_value = N * (coal + bought * EQUAL_VALUE_2026 - supplied * own_rate) / 1000
    assert close(total["comprehensive_tce_equal_value"], equal_value)  # 4,656.421 tce ≥ 0
    assert close(equal_value, N * (coal * 0.5 / 21 + bought * EQUAL_VALUE_2026) / 1000)
    assert (float(total["electricity_equal_value_coefficient"]), total["electricity_equal_value_basis_year"]) == (
        0.283,
        2025,
    )
    assert total["electricity_equal_value_confidence"] == "U"
    electricity = energy_rows(url, POWER, MARCH)["electricity"]
    assert float(electricity["quantity_produced"]) == N * generated
    assert float(electricity["quantity_out_self_generated"]) == N * supplied

    # 供电煤耗 (GB 21258-2024) in gce/kWh: coal burned ÷ power supplied (sent as 63,550 万千瓦时)
    supply = product(url, POWER, MARCH, "coal_power_supply")
    assert float(supply["output_quantity"]) == N * supplied and supply["output_unit"] == "kWh"
    assert supply["indicator_unit"] == "gce/kWh" and supply["energy_scope"] == "fuel"
    assert close(supply["unit_product_energy"], coal * 1000 / supplied)  # 278.75 gce/kWh
    # GB 21258-2024, 600 MW ultra-supercritical: 275/282/291 → grade 2
    assert (supply["standard"], supply["limit_grade_reached"]) == ("GB 21258-2024", "2")


# ------------------------------------------------------------------------------------------ chemical


def test_chemical_plant_counts_coal_used_as_raw_material_and_leaves_out_non_industrial_use(warehouse):
    url = warehouse["url"]
    fuel = 300 * 750.0  # boiler coal at its measured 750 kgce/t (the meter's coefficient override)
    feed = 1_500 * RAW_COAL  # coal into the gasifiers: 用作原料, part of 工业生产消费 and of 综合能耗
    power = 800_000 * ELECTRICITY
    dormitories = 20_000 * ELECTRICITY  # 205-1 非工业生产消费: outside the industrial 综合能耗
    total = enterprise_month(url, CHEM, MARCH)
    assert close(total["comprehensive_tce_equivalent"], N * (fuel + feed + power) / 1000)  # 43,237.87 tce
    assert close(total["raw_material_tce_equivalent"], N * feed / 1000)  # 33,214.95 tce
    assert close(total["non_industrial_tce_equivalent"], N * dormitories / 1000)  # 76.198 tce
    coal = energy_rows(url, CHEM, MARCH)["raw_coal"]
    assert float(coal["quantity_raw_material"]) == N * 1_500
    # 205-1 采用折标系数: the coefficient actually used, (300 × 750 + 1,500 × 714.3) ÷ 1,800 kgce/t
    assert close(coal["coefficient_kgce_per_unit"], (fuel + feed) / 1_800)  # 720.25
    # GB 29436-2023 methanol from coal: the raw-material coal is part of the product's energy
    methanol = product(url, CHEM, MARCH, "methanol")
    assert methanol["energy_basis"] == "whole_plant"
    assert close(methanol["unit_product_energy"], (fuel + feed + power) / 1_000)  # 1,394.77 kgce/t
    assert (methanol["standard"], methanol["limit_grade_reached"]) == ("GB 29436-2023", "2")  # 1380/1400/1800


# ------------------------------------------------------------------------------------ feed contract


def test_a_recovered_or_output_meter_cannot_be_an_out_meter(warehouse):
    [rejected] = rows(warehouse["url"], "select * from quarantine.rejected_rows where entity = 'meters'")
    assert (rejected["field"], rejected["value"], rejected["enterprise_id"]) == ("usage", "recovered", STEEL)
    assert "direction must be in" in rejected["reason"]


# ------------------------------------------------------------------------------------------- export


def test_export_coefficient_times_quantity_is_tce_on_every_row_overrides_included(warehouse):
    result = warehouse["export"]
    assert {r["region_code"]: r["status"] for r in result["regions"]} == {HEBEI: "exported", ZHEJIANG: "exported"}
    checked = 0
    for region in (HEBEI, ZHEJIANG):
        folder = warehouse["outbox"] / "2026-03" / region
        document = json.loads((folder / "enterprises.json").read_text(encoding="utf-8"))
        table = list(csv.DictReader(io.StringIO((folder / "enterprise_energy.csv").read_text(encoding="utf-8"))))
        json_rows = [(e["enterprise_id"], x) for e in document["enterprises"] for x in e["energy"]]
        assert len(json_rows) == len(table)
        for (ent, x), c in zip(json_rows, table):
            for coefficient, quantity, tce in (
                (x["coefficient_kgce_per_unit"], x["quantity_consumed"], x["tce_equivalent"]),
                (float(c["coefficient_kgce_per_unit"]), float(c["quantity_consumed"]), float(c["tce_equivalent"])),
            ):
                # equal at the printed precision: coefficient 4 places, quantity 3, tce 3 (export contract)
                tolerance = 0.00005 * abs(quantity) / 1000 + 0.0005 * abs(coefficient) / 1000 + 0.0005
                assert abs(coefficient * quantity / 1000 - tce) <= tolerance, (region, ent, x["energy_code"])
                checked += 1
        if region == ZHEJIANG:
            chem = next(e for e in document["enterprises"] if e["enterprise_id"] == CHEM)
            coal = next(x for x in chem["energy"] if x["energy_code"] == "raw_coal")
            # the meter override is in the coefficient, not the seed's 714.3 (which would give 40,187.2 tce)
            assert (coal["coefficient_kgce_per_unit"], coal["quantity_consumed"], coal["tce_equivalent"]) == (
                720.25,
                55_800.0,
                40_189.95,
            )
            power = next(e for e in document["enterprises"] if e["enterprise_id"] == POWER)
            assert power["comprehensive_tce_equal_value"] == 4656.421  # ≥ 0: the region exports
        if region == HEBEI:
            steel = next(e for e in document["enterprises"] if e["enterprise_id"] == STEEL)
            statuses = {p["product_code"]: p["limit_status"] for p in steel["products"]}
            assert statuses["sinter"] == "edition_values_unknown" and statuses["crude_steel"] == "no_standard_in_force"
    # 24 energy rows (Hebei: 7 of the steel works incl. its recovered-only gases, 2 of the sinter plant;
    # Zhejiang: 2 + 2 cement, 2 power, 2 methanol, 1 chlor-alkali, 4 ammonia (coal, electricity, steam,
    # diesel), 2 of the works whose coal stock does not close), each in the JSON and the CSV
    assert checked == 2 * 24


def test_dbt_unit_tests_pass_here_and_the_platforms_builds_leave_them_out(warehouse):
    """dbt's unit tests (fixed input rows in YAML, no warehouse data) run once per database in CI, here; the
    platform's builds (the Dagster graph's and run_dbt's) leave them out (PLATFORM_RUN_ENVIRONMENT)."""
    url = warehouse["url"]
    result = run_dbt(["test", "--select", "test_type:unit"], url, unit_tests=True)
    outcomes = {r.node.name: str(r.status) for r in result.result.results}
    assert outcomes == dict.fromkeys(
        (
            "register_deltas_rollover_reset_and_multiplier",
            "register_step_spanning_two_intervals_is_split_as_estimate",
            "interval_meter_negative_and_beyond_rated_max_are_rejected",
            "an_interval_names_each_flag_of_its_shares_once_in_order",
            "periods_of_any_length_book_exactly_themselves",
            "energy_balance_closes_within_tolerance_of_available",
        ),
        "pass",
    )
    # the VEE unit tests are on the model of shard 0 (macros/vee_shards.sql)
    listed = run_dbt(["ls", "--select", "int_meter_observations__shard_0+", "--output", "name"], url).result
    assert "int_meter_observations__shard_0" in listed and not set(outcomes) & set(listed)


# ------------------------------------------------------------------------------------------ carbon


def carbon_month(url: str, enterprise: str, month: date) -> dict:
    [row] = rows(
        url,
        "select * from marts.fct_enterprise_carbon_monthly where enterprise_id = %s and month = %s",
        enterprise,
        month,
    )
    return row


def test_co2_of_a_fixture_month_is_fuel_burned_times_its_factor_by_hand(warehouse):
    url = warehouse["url"]
    # CHEM, March: the boiler burns 300 t/d of coal at its measured 750 kgce/t; the 1,500 t/d into the
    # gasifiers (用作原料) are not burned and emit no combustion CO2 (platform rule, emission_factors seed)
    burned_gj = N * 300 * 750.0 / 1000 * GJ_PER_TCE  # 204,416.3 GJ
    direct = burned_gj * CO2_PER_GJ["raw_coal"]  # 18,579.11 t
    # net purchased electricity for industrial production: 800,000 kWh/d (the dormitories' 20,000 are
    # non-industrial use, outside the boundary) × 0.5366 tCO2/MWh
    indirect = N * 800_000 / 1000 * GRID_2022  # 13,307.68 t
    chem = carbon_month(url, CHEM, MARCH)
    assert close(chem["direct_co2_t"], direct) and close(chem["indirect_electricity_co2_t"], indirect)
    assert close(chem["total_co2_t"], direct + indirect) and not chem["factor_missing"]
    assert (float(chem["grid_factor_t_per_mwh"]), chem["grid_factor_data_year"], chem["grid_factor_series"]) == (
        GRID_2022,
        2022,
        "mee_nbs_national",
    )
    # carbon intensity per 10^4 yuan of value added (40,000 × 10^4 yuan in March)
    assert close(chem["co2_t_per_10k_yuan_value_added"], (direct + indirect) / 40_000)  # 0.797 t
    # dual-control indicators: 综合能耗 net of raw-material use (the 1,500 t/d of feed coal at 714.3 kgce/t);
    # no non-fossil energy kind is used, so net of non-fossil = 综合能耗
    comprehensive = N * (300 * 750.0 + 1_500 * RAW_COAL + 800_000 * ELECTRICITY) / 1000  # 43,237.87 tce
    assert close(chem["tce_net_of_raw_material"], comprehensive - N * 1_500 * RAW_COAL / 1000)  # 10,022.92
    assert close(chem["tce_net_of_non_fossil"], comprehensive)
    assert close(
        chem["tce_net_of_raw_material_per_10k_yuan_value_added"], (comprehensive - N * 1_500 * RAW_COAL / 1000) / 40_000
    )

    # STEEL, March: purchased coke, coal and natural gas burned, purchased electricity; the blast-furnace and
    # converter gas and the steam it recovers add nothing (their carbon came in with the coke and coal)
    steel_direct = (
        N
        * GJ_PER_TCE
        / 1000
        * (
            3_220 * COKE * CO2_PER_GJ["coke"]
            + 1_200 * RAW_COAL * CO2_PER_GJ["raw_coal"]
            + 50_000 * NATURAL_GAS * CO2_PER_GJ["natural_gas"]
        )
    )  # 359,709.16 t
    steel_indirect = N * 1_500_000 / 1000 * GRID_2022  # 24,951.9 t
    steel = carbon_month(url, STEEL, MARCH)
    assert close(steel["direct_co2_t"], steel_direct) and close(steel["indirect_electricity_co2_t"], steel_indirect)
    by_energy = {
        r["energy_code"]: r
        for r in rows(
            url,
            "select * from marts.fct_enterprise_energy_co2_monthly where enterprise_id = %s and month = %s",
            STEEL,
            MARCH,
        )
    }
    for recovered in ("blast_furnace_gas", "converter_gas", "steam"):
        assert float(by_energy[recovered]["co2_t"]) == 0, recovered
    assert close(steel["co2_t_per_10k_yuan_value_added"], (steel_direct + steel_indirect) / 150_000)

    # POWER: net purchase of electricity is negative (21 GWh/d generated, 20.5 GWh/d supplied, 50 MWh/d bought):
    # the guideline's 净购入 deducts what it supplies
    power = carbon_month(url, POWER, MARCH)
    assert close(power["indirect_electricity_co2_t"], N * (50_000 - 20_500_000) / 1000 * GRID_2022)

    # region and industry roll-ups are the sums of their enterprises
    [hebei] = rows(
        url, "select * from marts.fct_region_carbon_monthly where region_code = %s and month = %s", HEBEI, MARCH
    )
    sinter = carbon_month(url, SINTER_PLANT, MARCH)
    assert close(hebei["total_co2_t"], float(steel["total_co2_t"]) + float(sinter["total_co2_t"]))
    assert hebei["enterprises_reporting"] == 2 and hebei["enterprises_factor_missing"] == 0
    # value added only from the steel works: the region's intensity is over the enterprises that report it
    assert close(hebei["co2_t_per_10k_yuan_value_added"], float(steel["total_co2_t"]) / 150_000)
    [chem_industry] = rows(
        url,
        "select * from marts.fct_region_industry_carbon_monthly where region_code = %s and industry_code = %s "
        "and month = %s",
        ZHEJIANG,
        "C26",
        MARCH,
    )
    # C26 (chemicals) in Zhejiang: the methanol plant, the chlor-alkali plant and the ammonia works (C2621)
    assert close(
        chem_industry["total_co2_t"],
        sum(float(carbon_month(url, e, MARCH)["total_co2_t"]) for e in (CHEM, CHLOR, AMMONIA)),
    )


def _rebuild_co2_in(conn, url: str) -> None:
    """Rebuild the two enterprise carbon marts inside the caller's transaction from their compiled SQL (the
    SQL dbt built them with), so a factor-seed change is seen as a rebuild would see it, and rolled back."""
    compiled = warehouse_target_path(url) / "compiled" / "iem" / "models" / "marts" / "carbon"
    for model in ("fct_enterprise_energy_co2_monthly", "fct_enterprise_carbon_monthly"):
        sql = (compiled / f"{model}.sql").read_text(encoding="utf-8")
        conn.execute(f"delete from marts.{model}")
        conn.execute(f"insert into marts.{model} {sql}")


def test_a_new_grid_factor_year_changes_only_the_months_it_covers_and_a_month_without_one_is_missing(warehouse):
    url = warehouse["url"]
    mwh = N * 1_500_000 / 1000  # the steel works' purchased electricity, March and July alike
    before = {m: carbon_month(url, STEEL, m) for m in (MARCH, JULY)}
    with psycopg.connect(url, row_factory=dict_row) as conn:
        try:
            # a (hypothetical) 2026 factor published: the 2022 row now ends with June, the new row covers July on
            conn.execute(
                "update reference.emission_factors set valid_to = '2026-06-30' "
                "where series = 'mee_nbs_national' and data_year = 2022"
            )
            conn.execute(
                "insert into reference.emission_factors (series, energy_code, emission_scope, data_year, valid_from, "
                "valid_to, co2_factor, co2_factor_unit, activity_per_unit, activity_unit, confidence) values "
                "('mee_nbs_national', 'electricity', 'indirect_electricity', 2026, '2026-07-01', '2026-12-31', "
                "0.5000, 'tCO2/MWh', 0.001, 'MWh', 'U')"
            )
            _rebuild_co2_in(conn, url)
            march, july = (
                conn.execute(
                    "select * from marts.fct_enterprise_carbon_monthly where enterprise_id = %s and month = %s",
                    (STEEL, m),
                ).fetchone()
                for m in (MARCH, JULY)
            )
            assert march == before[MARCH]  # March is not covered by the new row: every figure unchanged
            assert close(july["indirect_electricity_co2_t"], mwh * 0.5000) and july["grid_factor_data_year"] == 2026
            assert july["direct_co2_t"] == before[JULY]["direct_co2_t"]  # the fuels' factors did not move

            # no row covers July any more: its electricity CO2 and total are missing, never zero
            conn.execute("delete from reference.emission_factors where data_year = 2026")
            _rebuild_co2_in(conn, url)
            july = conn.execute(
                "select * from marts.fct_enterprise_carbon_monthly where enterprise_id = %s and month = %s",
                (STEEL, JULY),
            ).fetchone()
            assert july["factor_missing"] and july["factor_missing_energy_codes"] == "electricity"
            assert july["indirect_electricity_co2_t"] is None and july["total_co2_t"] is None
            assert july["direct_co2_t"] == before[JULY]["direct_co2_t"]
        finally:
            conn.rollback()
    assert carbon_month(url, STEEL, JULY) == before[JULY]  # rolled back: the warehouse as built


# ------------------------------------------------------------------- statistics forms 205-1 and 205-3

DIESEL = 1457.1  # GB/T 2589 Appendix A, kgce/t (seed energy_types)
STEAM_GJ_PER_T = 3.763  # 蒸汽(低压) 3,763 MJ/t: t → 百万千焦 (seed nbs_205_1_energy_map, U)


def form_205_1(url: str, enterprise: str, month: date) -> dict[str, dict]:
    return {
        r["nbs_code"]: r
        for r in rows(
            url,
            "select * from marts.fct_energy_205_1_monthly where enterprise_id = %s and month = %s",
            enterprise,
            month,
        )
    }


def test_205_1_of_a_coal_fired_ammonia_works_every_cell_by_hand(warehouse):
    url = warehouse["url"]
    form = form_205_1(url, AMMONIA, MARCH)
    assert sorted(form) == ["01", "21", "32", "33", "40"]  # 原煤, 柴油, 热力 (its steam), 电力, 能源合计
    steam_gj = 150 * N * STEAM_GJ_PER_T  # 4,650 t → 17,497.95 百万千焦
    steam_tce = 150 * N * STEAM / 1000  # 597.99 tce
    columns = [
        "statistical_unit",
        "opening_stock",
        "purchased_quantity",
        "purchased_value_1k_yuan",
        "consumption_total",
        "consumption_industrial",
        "consumption_raw_material",
        "consumption_non_industrial",
        "consumption_transport",
        "closing_stock",
        "supplied_to_others",
        "coefficient_used",
        "reference_coefficient",
        "tce_equivalent",
    ]
    expected = {
        # 原煤 t: statement in 万吨 (0.5 + 0.9 − 0.47) → 5,000 + 9,000 − 4,700; metered 100 + 200 t/d × 31 =
        # 9,300 t, of which 6,200 t raw material (COAL-FEED); 0.7143 tce/t → 6,642.99 tce
        "01": ("t", 5_000, 9_000, 7_200, 9_300, 9_300, 6_200, 0, None, 4_700, 0, 0.7143, 0.7143, 9_300 * 0.7143),
        # 柴油 t: 10 + 60 − 62 (2 t/d × 31) = 8; all 62 t burned by the trucks (运输工具, from the statement)
        "21": ("t", 10, 60, 420, 62, 62, 0, 0, 62, 8, 0, 1.4571, 1.4571, 62 * 1.4571),
        # 热力 百万千焦: steam 150 t/d × 31 × 3.763; its tce at the steam coefficient 128.6 kgce/t, so the
        # coefficient used is 597.99 ÷ 17,497.95 = 0.034175 tce/百万千焦 beside the reference 0.03412
        "32": (
            "百万千焦",
            0,
            steam_gj,
            930,
            steam_gj,
            steam_gj,
            0,
            0,
            None,
            0,
            0,
            steam_tce / steam_gj,
            0.03412,
            steam_tce,
        ),
        # 电力 万kWh: bought 961 (statement); metered in (300,000 + 10,000) × 31 = 961, supplied 20,000 × 31 =
        # 62 → consumption 899, of which non-industrial (dormitories) 31 and industrial 899 − 31 = 868;
        # 1.229 tce/万kWh → 1,104.871 tce
        "33": ("万kWh", 0, 961, 5_766, 899, 868, 0, 31, None, 0, 62, 1.229, 1.229, 899 * 1.229),
        # 能源合计 tce: each column Σ row × its coefficient used; value Σ 千元
        "40": (
            "tce",
            5_000 * 0.7143 + 10 * 1.4571,  # 3,586.071
            9_000 * 0.7143 + 60 * 1.4571 + steam_tce + 961 * 1.229,  # 8,295.185
            7_200 + 420 + 930 + 5_766,  # 14,316 千元
            9_300 * 0.7143 + 62 * 1.4571 + steam_tce + 899 * 1.229,  # 8,436.1912
            9_300 * 0.7143 + 62 * 1.4571 + steam_tce + 868 * 1.229,  # 8,398.0922
            6_200 * 0.7143,  # 4,428.66
            31 * 1.229,  # 38.099
            62 * 1.4571,  # 90.3402: only diesel has a transport share
            4_700 * 0.7143 + 8 * 1.4571,  # 3,368.8668
            62 * 1.229,  # 76.198
            None,
            None,
            9_300 * 0.7143 + 62 * 1.4571 + steam_tce + 899 * 1.229,
        ),
    }
    for code, values in expected.items():
        row = form[code]
        for column, value in zip(columns, values):
            if value is None or isinstance(value, str):
                assert row[column] == value, (code, column, row[column])
            else:
                assert close(row[column], value), (code, column, row[column], value)
        assert row["has_statement"] is True and row["balance_closes"] is True, code
    assert form["32"]["energy_codes"] == "steam" and form["33"]["energy_name_zh"] == "电力"
    # the 205-1 industrial total is the GB/T 2589 综合能耗 of the works (non-industrial left out, supplied
    # electricity deducted): coal 6,642.99 + electricity 8,680,000 kWh × 0.1229 + steam + diesel
    assert close(enterprise_month(url, AMMONIA, MARCH)["comprehensive_tce_equivalent"], expected["40"][5])


def test_a_statement_whose_stock_does_not_close_is_a_finding_and_one_that_closes_is_not(warehouse):
    url = warehouse["url"]
    balance = {
        (r["enterprise_id"], r["energy_code"]): r
        for r in rows(url, "select * from intermediate.int_energy_balance_monthly where month = %s", MARCH)
    }
    # LEAKY coal: 1,000 + 2,000 − 1,550 (50 t/d × 31) − 0 − 1,000 = 450 t unaccounted for; 450 ÷ 3,000
    # available = 15 % > the 2 % tolerance (var energy_balance_tolerance, published in dim_quality_rule)
    coal = balance[(LEAKY, "raw_coal")]
    assert close(coal["balance_residual"], 450) and coal["balance_closes"] is False
    # LEAKY electricity: 315,000 − 310,000 = 5,000 kWh = 1.6 % of 315,000: within the tolerance
    power = balance[(LEAKY, "electricity")]
    assert close(power["balance_residual"], 5_000) and power["balance_closes"] is True
    # the metered coal (1,550 t) against LEAKY's own monthly total (2,000 t): 1,550 ÷ 2,000 − 1 = −22.5 %
    assert close(coal["metered_vs_reported"], -0.225) and coal["consumption_matches_report"] is False
    # every AMMONIA statement closes exactly
    for energy in ("raw_coal", "electricity", "steam", "diesel"):
        assert close(balance[(AMMONIA, energy)]["balance_residual"], 0) and balance[(AMMONIA, energy)]["balance_closes"]
    # no statement, no balance
    assert balance[(CEMENT, "raw_coal")]["has_statement"] is False
    assert balance[(CEMENT, "raw_coal")]["balance_closes"] is None
    [rule] = rows(url, "select threshold from marts.dim_quality_rule where rule_id = 'energy_balance'")
    assert float(rule["threshold"]) == 0.02

    scorecard = {
        r["enterprise_id"]: r for r in rows(url, "select * from marts.rpt_quality_scorecard where month = %s", MARCH)
    }
    leaky, ammonia = scorecard[LEAKY], scorecard[AMMONIA]
    assert (leaky["energy_balance_statements"], leaky["energy_balance_breaches"]) == (2, 1)
    assert leaky["energy_balance_breached"] == "raw_coal" and leaky["meets_energy_balance_rule"] is False
    assert leaky["consumption_report_mismatches"] == 1
    assert (ammonia["energy_balance_statements"], ammonia["energy_balance_breaches"]) == (4, 0)
    assert ammonia["meets_energy_balance_rule"] is True
    assert scorecard[CEMENT]["meets_energy_balance_rule"] is None

    alerts = rows(url, "select * from marts.fct_alerts where rule_id = 'DF-BALANCE'")
    assert [(a["enterprise_id"], a["family"], a["fault_kind"], a["status"]) for a in alerts] == [
        (LEAKY, "data_fault", "totals_inconsistent", "open")
    ]
    [alert] = alerts
    assert alert["period_start"].astimezone(alert["period_end"].tzinfo).date() == MARCH
    [evidence] = alert["evidence"]["energy_types"]
    assert evidence["energy_code"] == "raw_coal" and float(evidence["residual"]) == 450
    # the 205-1 row of LEAKY's coal carries the finding too
    assert form_205_1(url, LEAKY, MARCH)["01"]["balance_closes"] is False
    # and the quality gate's GX warning (same threshold, read from dim_quality_rule) names LEAKY in the export
    document = json.loads((warehouse["outbox"] / "2026-03" / ZHEJIANG / "enterprises.json").read_text(encoding="utf-8"))
    warnings = {e["enterprise_id"]: e["quality_warnings"] for e in document["enterprises"]}
    assert "energy_balance_closes" in warnings[LEAKY] and "energy_balance_closes" not in warnings[AMMONIA]


def test_a_bad_inventories_row_is_rejected_naming_file_row_field_and_reason(warehouse):
    [batch] = [b for b in warehouse["ingest"]["batches"] if b["entity"] == "inventories"]
    assert (batch["rows_read"], batch["rows_loaded"], batch["rows_quarantined"], batch["rows_duplicate"]) == (
        7,
        6,
        1,
        0,
    )
    [rejected] = rows(warehouse["url"], "select * from quarantine.rejected_rows where entity = 'inventories'")
    assert (rejected["source_name"], rejected["row_number"], rejected["field"], rejected["value"]) == (
        "inventories_2026-03.csv",
        8,
        "unit",
        "kWh",
    )
    assert rejected["reason"] == "unit is unknown or not convertible to the energy type's canonical unit"
    assert rejected["enterprise_id"] == LEAKY


def test_region_205_1_sums_its_enterprises_rows(warehouse):
    url = warehouse["url"]
    [coal] = rows(
        url,
        "select * from marts.fct_region_205_1_monthly where region_code = %s and month = %s and nbs_code = '01'",
        ZHEJIANG,
        MARCH,
    )
    # Zhejiang's coal in March: cement works 560 t/d twice, power plant 8,000, methanol 300 + 1,500,
    # ammonia 100 + 200, LEAKY 50: 11,270 t/d × 31 = 349,370 t; stocks only from the two statements
    assert close(coal["consumption_total"], (560 + 560 + 8_000 + 1_800 + 300 + 50) * N)
    assert close(coal["opening_stock"], 5_000 + 1_000) and close(coal["closing_stock"], 4_700 + 1_000)
    assert (coal["enterprises"], coal["enterprises_with_statement"]) == (6, 2)
    # every column of every region row is the Σ of its enterprises' rows
    [mismatch] = rows(
        url,
        """
        with e as (
            select d.region_code, f.month, f.nbs_code, sum(f.consumption_total) as c, sum(f.tce_equivalent) as t,
                   sum(f.supplied_to_others) as s, sum(f.purchased_quantity) as p
            from marts.fct_energy_205_1_monthly as f join marts.dim_enterprise as d using (enterprise_id)
            group by 1, 2, 3
        )
        select count(*) as n from e join marts.fct_region_205_1_monthly as r using (region_code, month, nbs_code)
        where r.consumption_total is distinct from e.c or r.tce_equivalent is distinct from e.t
           or r.supplied_to_others is distinct from e.s or r.purchased_quantity is distinct from e.p
        """,
    )
    assert mismatch["n"] == 0


def test_205_3_gives_unit_product_energy_in_each_standards_own_unit(warehouse):
    url = warehouse["url"]
    form = {
        (r["enterprise_id"], r["product_code"]): r
        for r in rows(url, "select * from marts.fct_energy_205_3_monthly where month = %s", MARCH)
    }
    clinker = form[(CEMENT, "clinker")]
    # GB 16780-2021 clinker in kgce/t: (560 t coal × 714.3 + 220,000 kWh × 0.1229) kgce/d ÷ 4,000 t/d
    assert clinker["indicator_unit"] == "kgce/t" and clinker["product_name_zh"] == "熟料"
    assert close(clinker["unit_product_energy"], (560 * RAW_COAL + 220_000 * ELECTRICITY) / 4_000)
    supply = form[(POWER, "coal_power_supply")]
    # 供电煤耗 in gce/kWh, as the power standard states it, not kgce/t
    assert supply["indicator_unit"] == "gce/kWh"
    assert close(
        supply["unit_product_energy"], float(product(url, POWER, MARCH, "coal_power_supply")["unit_product_energy"])
    )


# ------------------------------------------------------------------------------- export contract v2

V1_FILES = ["enterprise_energy.csv", "enterprise_products.csv", "enterprises.csv", "enterprises.json", "manifest.json"]
V2_FILES = [
    "carbon.csv",
    "energy_205_1.csv",
    "energy_co2.csv",
    "enterprises.json",
    "manifest.json",
    "region_205_1.csv",
    "region_carbon.csv",
    "unit_product_205_3.csv",
]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def outbox_bytes(outbox: Path) -> dict[str, bytes]:
    return {str(p.relative_to(outbox)): p.read_bytes() for p in sorted(outbox.rglob("*")) if p.is_file()}


def v2_document(warehouse, region: str) -> dict:
    folder = warehouse["outbox"] / "v2" / "2026-03" / region
    return json.loads((folder / "enterprises.json").read_text(encoding="utf-8"))


def v2_csv(warehouse, region: str, name: str) -> list[dict]:
    folder = warehouse["outbox"] / "v2" / "2026-03" / region
    return list(csv.DictReader(io.StringIO((folder / name).read_text(encoding="utf-8"))))


def test_export_v2_is_written_beside_v1_and_validates_against_its_schemas(warehouse):
    from orchestration.lib.export.v2 import MANIFEST_SCHEMA_V2, REGION_SCHEMA_V2

    by_region = {r["region_code"]: r for r in warehouse["export"]["regions"]}
    assert {k: (r["v2"]["status"], r["v2"]["revision"]) for k, r in by_region.items()} == {
        HEBEI: ("exported", 1),
        ZHEJIANG: ("exported", 1),
    }
    for region in (HEBEI, ZHEJIANG):
        v1 = folder_bytes(warehouse["outbox"] / "2026-03" / region)
        v2 = folder_bytes(warehouse["outbox"] / "v2" / "2026-03" / region)
        # v1's folder holds v1's files only, and its manifest names no v2 file
        assert sorted(v1) == V1_FILES and sorted(v2) == V2_FILES
        assert sorted(json.loads(v1["manifest.json"])["files"]) == V1_FILES[:-1]
        assert json.loads(v1["manifest.json"])["schema_version"] == "iem-national-export/1"
        document, manifest = json.loads(v2["enterprises.json"]), json.loads(v2["manifest.json"])
        jsonschema.Draft202012Validator(json_schema(REGION_SCHEMA_V2)).validate(document)
        jsonschema.Draft202012Validator(json_schema(MANIFEST_SCHEMA_V2)).validate(manifest)
        assert document["schema_version"] == manifest["schema_version"] == "iem-national-export/2"
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(v2[name]).hexdigest() == entry["sha256"] and len(v2[name]) == entry["bytes"]
        assert sorted(manifest["files"]) == sorted(set(V2_FILES) - {"manifest.json"})
        # the same enterprises as v1, in the same order
        v1_ids = [e["enterprise_id"] for e in json.loads(v1["enterprises.json"])["enterprises"]]
        assert [e["enterprise_id"] for e in document["enterprises"]] == v1_ids
        # each CSV row is a JSON row
        ents = document["enterprises"]
        assert (
            manifest["counts"]["energy_205_1_rows"]
            == sum(len(e["energy_205_1"]) for e in ents)
            == len(v2_csv(warehouse, region, "energy_205_1.csv"))
        )
        assert manifest["counts"]["energy_co2_rows"] == len(v2_csv(warehouse, region, "energy_co2.csv"))
        assert manifest["counts"]["unit_product_205_3_rows"] == len(v2_csv(warehouse, region, "unit_product_205_3.csv"))
        assert len(v2_csv(warehouse, region, "carbon.csv")) == len(ents)
    # Zhejiang: 7 enterprises; the region's 205-1 rows 01 原煤, 21 柴油, 32 热力, 33 电力, 40 能源合计
    assert [r["nbs_code"] for r in v2_document(warehouse, ZHEJIANG)["summary"]["energy_205_1"]] == [
        "01",
        "21",
        "32",
        "33",
        "40",
    ]


def test_export_v2_205_1_of_the_ammonia_works_is_the_hand_checked_form_at_the_printed_precision(warehouse):
    # the figures of test_205_1_of_a_coal_fired_ammonia_works_every_cell_by_hand, rounded half-up to the
    # contract's places: quantities 3, 千元 1, coefficients (tce per statistical unit) 6, tce 3
    document = v2_document(warehouse, ZHEJIANG)
    [ammonia] = [e for e in document["enterprises"] if e["enterprise_id"] == AMMONIA]
    form = {r["nbs_code"]: r for r in ammonia["energy_205_1"]}
    assert list(form) == ["01", "21", "32", "33", "40"]
    fields = ["statistical_unit", "opening_stock", "purchased_quantity", "purchased_value_1k_yuan"]
    fields += ["consumption_total", "consumption_industrial", "consumption_raw_material", "consumption_non_industrial"]
    fields += ["consumption_transport", "closing_stock", "supplied_to_others", "coefficient_used"]
    fields += ["reference_coefficient", "tce_equivalent"]
    expected = {
        # 原煤 t: 9,300 t × 0.7143 = 6,642.99 tce
        "01": ["t", 5000.0, 9000.0, 7200.0, 9300.0, 9300.0, 6200.0, 0.0, None, 4700.0, 0.0, 0.7143, 0.7143, 6642.99],
        # 柴油 t: 62 t × 1.4571 = 90.3402 → 90.340
        "21": ["t", 10.0, 60.0, 420.0, 62.0, 62.0, 0.0, 0.0, 62.0, 8.0, 0.0, 1.4571, 1.4571, 90.34],
        # 热力 百万千焦: 4,650 t × 3.763 = 17,497.95; 597.99 tce ÷ 17,497.95 = 0.0341748… → 0.034175
        "32": [
            "百万千焦",
            0.0,
            17497.95,
            930.0,
            17497.95,
            17497.95,
            0.0,
            0.0,
            None,
            0.0,
            0.0,
            0.034175,
            0.03412,
            597.99,
        ],
        # 电力 万kWh: 899 × 1.229 = 1,104.871 tce
        "33": ["万kWh", 0.0, 961.0, 5766.0, 899.0, 868.0, 0.0, 31.0, None, 0.0, 62.0, 1.229, 1.229, 1104.871],
        # 能源合计 tce: 6,642.99 + 90.3402 + 597.99 + 1,104.871 = 8,436.1912 → 8,436.191; opening
        # 3,572.5 + 14.571 = 3,586.071; purchases 6,428.7 + 87.426 + 597.99 + 1,181.069 = 8,295.185;
        # industrial 8,436.1912 − 38.099 = 8,398.0922 → 8,398.092; closing 3,357.21 + 11.6568 → 3,368.867
        "40": [
            "tce",
            3586.071,
            8295.185,
            14316.0,
            8436.191,
            8398.092,
            4428.66,
            38.099,
            90.34,
            3368.867,
            76.198,
            None,
            None,
            8436.191,
        ],
    }
    for code, values in expected.items():
        assert [form[code][f] for f in fields] == values, code
        assert form[code]["has_statement"] is True and form[code]["balance_closes"] is True
    # the JSON carries the mart's figures (test_205_1_of_a_coal_fired_ammonia_works_every_cell_by_hand)
    mart = form_205_1(warehouse["url"], AMMONIA, MARCH)
    assert float(mart["40"]["tce_equivalent"]) == pytest.approx(8436.1912, abs=5e-4)
    # the CSV prints exactly the contract's places
    table = {r["nbs_code"]: r for r in v2_csv(warehouse, ZHEJIANG, "energy_205_1.csv") if r["enterprise_id"] == AMMONIA}
    assert (table["32"]["coefficient_used"], table["32"]["reference_coefficient"]) == ("0.034175", "0.034120")
    assert (table["01"]["consumption_total"], table["01"]["tce_equivalent"]) == ("9300.000", "6642.990")
    assert table["21"]["consumption_transport"] == "62.000" and table["01"]["consumption_transport"] == ""
    assert (table["40"]["tce_equivalent"], table["40"]["purchased_value_1k_yuan"]) == ("8436.191", "14316.0")
    assert (
        table["40"]["energy_codes"] == "diesel;electricity;raw_coal;steam" and table["40"]["balance_closes"] == "true"
    )


def test_export_v2_carries_co2_with_its_grid_factor_year_and_a_missing_factor_is_null_never_zero(warehouse):
    from orchestration.lib.export.exporter import build_region, validate_against_contract
    from orchestration.lib.export.v2 import REGION_SCHEMA_V2, build_region_v2, render_files_v2

    url = warehouse["url"]
    document = v2_document(warehouse, ZHEJIANG)
    [chem] = [e for e in document["enterprises"] if e["enterprise_id"] == CHEM]
    # CHEM, March (test_co2_of_a_fixture_month_is_fuel_burned_times_its_factor_by_hand): boiler coal
    # 31 × 300 t × 750 kgce/t × 29.307 GJ/tce × 26.37 tC/TJ × 0.94 × 44/12 = 18,579.114 t; electricity
    # 31 × 800 MWh × 0.5366 (data year 2022) = 13,307.68 t
    direct = N * 300 * 750.0 / 1000 * GJ_PER_TCE * CO2_PER_GJ["raw_coal"]
    indirect = N * 800_000 / 1000 * GRID_2022
    carbon = chem["carbon"]
    assert carbon["direct_co2_t"] == round(direct, 3) == 18579.114
    assert carbon["indirect_electricity_co2_t"] == 13307.68 and carbon["total_co2_t"] == round(direct + indirect, 3)
    assert (carbon["grid_factor_t_per_mwh"], carbon["grid_factor_data_year"], carbon["grid_factor_series"]) == (
        0.5366,
        2022,
        "mee_nbs_national",
    )
    assert carbon["factor_missing"] is False and carbon["factor_missing_energy_codes"] == []
    # the dual-control indicators: 综合能耗 43,237.87 tce less the 1,500 t/d of feed coal × 714.3 kgce/t
    assert carbon["tce_net_of_raw_material"] == 10022.92 and carbon["tce_net_of_non_fossil"] == 43237.87
    assert carbon["co2_t_per_10k_yuan_value_added"] == round((direct + indirect) / 40_000, 4)  # 0.7972
    electricity = next(x for x in chem["energy_co2"] if x["energy_code"] == "electricity")
    assert (electricity["activity"], electricity["co2_factor"], electricity["factor_data_year"]) == (
        24800.0,
        0.5366,
        2022,
    )
    [row] = [r for r in v2_csv(warehouse, ZHEJIANG, "carbon.csv") if r["enterprise_id"] == CHEM]
    assert (row["grid_factor_data_year"], row["grid_factor_t_per_mwh"], row["total_co2_t"]) == (
        "2022",
        "0.5366",
        f"{direct + indirect:.3f}",
    )
    region = document["summary"]["carbon"]
    assert region["enterprises_reporting"] == 7 and region["enterprises_factor_missing"] == 0
    assert region["total_co2_t"] == pytest.approx(sum(e["carbon"]["total_co2_t"] for e in document["enterprises"]))

    # no grid factor covers March (the data-year 2022 row removed, the 2021 row ends with 2021; in a transaction
    # rolled back): electricity CO2 and the
    # totals are null with their flag in the v2 document and empty in its CSV, never 0; the document still
    # validates against its schema
    with psycopg.connect(url) as conn:
        try:
            conn.execute(
                "delete from reference.emission_factors where series = 'mee_nbs_national' and data_year = 2022"
            )
            _rebuild_co2_in(conn, url)
            for model in ("fct_region_industry_carbon_monthly", "fct_region_carbon_monthly"):
                compiled = warehouse_target_path(url) / "compiled" / "iem" / "models" / "marts" / "carbon"
                conn.execute(f"delete from marts.{model}")
                conn.execute(f"insert into marts.{model} {(compiled / f'{model}.sql').read_text(encoding='utf-8')}")
            v2 = build_region_v2(conn, ZHEJIANG, MARCH, build_region(conn, ZHEJIANG, MARCH, []))
            validate_against_contract(v2, REGION_SCHEMA_V2, "v2 without a grid factor")
            files = render_files_v2(v2)
        finally:
            conn.rollback()
    [chem] = [e for e in v2["enterprises"] if e["enterprise_id"] == CHEM]
    assert chem["carbon"]["factor_missing"] is True and chem["carbon"]["factor_missing_energy_codes"] == ["electricity"]
    assert chem["carbon"]["indirect_electricity_co2_t"] is None and chem["carbon"]["total_co2_t"] is None
    assert chem["carbon"]["direct_co2_t"] == 18579.114  # the coal's factor did not move
    electricity = next(x for x in chem["energy_co2"] if x["energy_code"] == "electricity")
    assert electricity["factor_missing"] is True and electricity["co2_t"] is None and electricity["co2_factor"] is None
    assert v2["summary"]["carbon"]["total_co2_t"] is None and v2["summary"]["carbon"]["enterprises_factor_missing"] == 7
    [row] = [r for r in csv.DictReader(io.StringIO(files["carbon.csv"].decode())) if r["enterprise_id"] == CHEM]
    assert (row["total_co2_t"], row["factor_missing"], row["factor_missing_energy_codes"]) == (
        "",
        "true",
        "electricity",
    )
    assert carbon_month(url, CHEM, MARCH)["total_co2_t"] is not None  # rolled back: the warehouse as built


def test_re_export_of_the_unchanged_month_is_byte_identical_for_v1_and_v2_and_v1_is_v1s_own_bytes(warehouse, tmp_path):
    from orchestration.lib.export.exporter import _manifest, build_region, render_files

    url, outbox = warehouse["url"], warehouse["outbox"]
    before = outbox_bytes(outbox)
    assert len(before) == 2 * (len(V1_FILES) + len(V2_FILES))
    quality = run_quality_gate(url, month=MARCH)
    again = export_month(url, MARCH, outbox, quality=quality)
    fresh = export_month(url, MARCH, tmp_path / "fresh", quality=quality)  # an empty outbox: from the ledger
    for result in (again, fresh):
        assert result["status"] == "unchanged"
        assert {(r["status"], r["revision"], r["v2"]["status"], r["v2"]["revision"]) for r in result["regions"]} == {
            ("unchanged", 1, "unchanged", 1)
        }
    assert outbox_bytes(outbox) == before and outbox_bytes(tmp_path / "fresh") == before
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from audit.export_revisions").fetchone() == (2,)
        assert conn.execute("select count(*) from audit.export_v2_revisions").fetchone() == (2,)
        # v1's files are what the v1 functions alone write for the month (document, CSVs, manifest): the v2
        # export beside them changes none of their bytes
        [watermark] = conn.execute(
            "select data_watermark from audit.export_revisions where region_code = %s and revision = 1", (ZHEJIANG,)
        ).fetchone()
        warnings = [{"name": w.name, "failures": w.details.get("failures", [])} for w in quality.warnings(ZHEJIANG)]
        doc = build_region(conn, ZHEJIANG, MARCH, warnings)
    files = render_files(doc)
    summary = {
        "blocking_checks_passed": True,
        "warnings": sorted({w["name"] for w in warnings}),
        "enterprises_with_warnings": sorted({e["enterprise_id"] for e in doc["enterprises"] if e["quality_warnings"]}),
    }
    files["manifest.json"] = _manifest(ZHEJIANG, MARCH, 1, files, doc, watermark, summary)
    assert {f"2026-03/{ZHEJIANG}/{k}": v for k, v in files.items()} == {
        k: v for k, v in before.items() if k.startswith(f"2026-03/{ZHEJIANG}/")
    }


def test_a_change_seen_only_by_v2_gives_a_v2_revision_naming_it_and_leaves_v1_unchanged(warehouse, tmp_path):
    url = warehouse["url"]
    quality = run_quality_gate(url, month=MARCH)
    with psycopg.connect(url) as conn:
        conn.execute(
            "update marts.fct_enterprise_carbon_monthly set grid_factor_confidence = 'V' "
            "where enterprise_id = %s and month = %s",
            (CHEM, MARCH),
        )
        conn.commit()
        try:
            national = tmp_path / "national"  # v2's own destination; v1 has none here
            result = export_month(url, MARCH, tmp_path / "outbox", quality=quality, deliver_v2_to=str(national))
        finally:
            conn.execute(
                "update marts.fct_enterprise_carbon_monthly set grid_factor_confidence = 'S' "
                "where enterprise_id = %s and month = %s",
                (CHEM, MARCH),
            )
            conn.commit()
        by_region = {r["region_code"]: r for r in result["regions"]}
        assert (by_region[ZHEJIANG]["status"], by_region[ZHEJIANG]["revision"]) == ("unchanged", 1)
        assert (by_region[ZHEJIANG]["v2"]["status"], by_region[ZHEJIANG]["v2"]["revision"]) == ("exported", 2)
        assert (by_region[HEBEI]["v2"]["status"], by_region[HEBEI]["v2"]["revision"]) == ("unchanged", 1)
        [diff] = conn.execute(
            "select diff from audit.export_v2_revisions where region_code = %s and revision = 2", (ZHEJIANG,)
        ).fetchone()
    [changed] = diff["changed"]
    assert (changed["enterprise_id"], changed["fields"]) == (CHEM, ["carbon"])
    assert (
        changed["before"]["carbon"]["grid_factor_confidence"],
        changed["after"]["carbon"]["grid_factor_confidence"],
    ) == (
        "S",
        "V",
    )
    manifest = json.loads((tmp_path / "outbox" / "v2" / "2026-03" / ZHEJIANG / "manifest.json").read_bytes())
    assert manifest["revision"] == 2
    # delivered to v2's destination under v2/<YYYY-MM>/<region>/r<revision>/, each revision once, in v2's ledger
    assert by_region[ZHEJIANG]["v2"]["delivery"]["status"] == "delivered" and "delivery" not in by_region[ZHEJIANG]
    assert sorted(p.name for p in (national / "v2" / "2026-03" / ZHEJIANG / "r2").iterdir()) == V2_FILES
    assert sorted(p.name for p in national.iterdir()) == ["v2"]
    keys = rows(url, "select region_code, revision, idempotency_key from audit.export_v2_deliveries order by 1")
    assert [(k["region_code"], k["revision"]) for k in keys] == [(HEBEI, 1), (ZHEJIANG, 2)]
    assert keys[1]["idempotency_key"].startswith(f"{ZHEJIANG}-2026-03-v2-r2-")
    assert rows(url, "select count(*) as n from audit.export_deliveries") == [{"n": 0}]
