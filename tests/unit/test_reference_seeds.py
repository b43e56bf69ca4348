"""Reference data by the rules it cites (no database): GB/T 2589-2020 editions and the verified 2020
changes, the electricity 等价值 as yearly rows on the 2020 basis, limit editions with their validity,
product boundaries and production units; and the contract v1.1 checks at the door (production units,
meter usage)."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import polars as pl

from ingestion import contract
from ingestion.parse import split_fields, split_lines
from ingestion.reference import load_reference, read_seed
from ingestion.validate import Context, validate
from tests.feeds import CEMENT

CONFIDENCE = {"V", "S", "U"}


def test_every_energy_type_cites_standard_edition_clause_and_confidence():
    for r in read_seed("energy_types"):
        assert r["confidence"] in CONFIDENCE, r["energy_code"]
        assert r["source"], r["energy_code"]
        if r["source"] == "GB/T 2589":
            assert r["edition"] in ("2008", "2020") and r["clause"].startswith("Appendix"), r["energy_code"]
    by_code = {r["energy_code"]: r for r in read_seed("energy_types")}
    # GB/T 2589-2020 Appendix B: fresh water 0.2571 kgce/t (the 2008 edition printed 0.0857)
    assert (by_code["fresh_water"]["coefficient_kgce_per_unit"], by_code["fresh_water"]["edition"]) == (
        "0.2571",
        "2020",
    )
    # electricity 当量值 0.1229 kgce/kWh, Table A.2 of the 2020 edition
    assert (by_code["electricity"]["coefficient_kgce_per_unit"], by_code["electricity"]["clause"]) == (
        "0.1229",
        "Appendix A Table A.2",
    )
    # working media never count in the statistical total (205-1 has no working-media rows)
    for r in by_code.values():
        assert (r["is_working_medium"] == "true") == (r["counts_toward_comprehensive"] == "false"), r["energy_code"]


def test_electricity_equal_value_is_a_yearly_parameter_on_the_2020_basis_with_no_open_ended_row():
    rows = [r for r in read_seed("equal_value_parameters") if r["energy_code"] == "electricity"]
    spans = [(date.fromisoformat(r["valid_from"]), date.fromisoformat(r["valid_to"]), r) for r in rows]
    for (_, end, _), (start, _, _) in pairwise(spans):
        assert end == start  # contiguous: every day has exactly one value
    assert spans[-1][1] <= date(2027, 1, 1)  # no row open to 2100: each year is added, sourced or marked
    for start, end, r in spans:
        assert end - start <= timedelta(days=366)
        assert r["confidence"] in CONFIDENCE and r["verified"] in ("true", "false")
        if r["verified"] == "false":
            assert r["confidence"] == "U" and "replace" in r["note"]
        if start >= date(2021, 4, 1):
            # GB/T 2589-2020 Table A.2: 按上年电厂发电标准煤耗计算 (in force from 2021-04-01)
            assert (r["rule_edition"], int(r["basis_year"])) == ("2020", start.year - 1)
            assert "上年电厂发电标准煤耗" in r["basis"]
        else:
            # GB/T 2589-2008: 按当年火电发电标准煤耗计算
            assert (r["rule_edition"], int(r["basis_year"])) == ("2008", start.year)
    assert any(s == date(2021, 4, 1) and int(r["basis_year"]) == 2020 for s, _, r in spans)


def test_limit_editions_follow_each_other_and_unknown_values_are_said_to_be_unknown():
    rows = read_seed("limit_standards")
    editions = {}
    for r in rows:
        key = (r["product_code"], r["indicator"], r["grade"])
        editions.setdefault(key, []).append(r)
        if r["values_known"] == "true":
            float(r["limit_value"])
        else:
            assert r["limit_value"] == "" and r["confidence"] == "U" and "not found" in r["note"]
    # no two editions of one product's limit in force in the same month
    for key, eds in editions.items():
        spans = sorted(
            (
                date.fromisoformat(e["effective_from"]),
                date.fromisoformat(e["effective_to"]) if e["effective_to"] else date.max,
            )
            for e in eds
        )
        for (_, end), (start, _) in pairwise(spans):
            assert end <= start, key

    def in_force(product: str, month: date) -> str:
        [e] = [
            r
            for r in rows
            if r["product_code"] == product
            and r["grade"] == "3"
            and r["indicator"] == "unit_product_energy"
            and date.fromisoformat(r["effective_from"]) <= month
            and (not r["effective_to"] or month < date.fromisoformat(r["effective_to"]))
        ]
        return f"{e['standard']}-{e['edition']}"

    assert in_force("sinter", date(2026, 3, 1)) == "GB 21256-2013"  # until 2026-06-30
    assert in_force("sinter", date(2026, 7, 1)) == "GB 21256-2025"
    assert in_force("coke", date(2026, 4, 1)) == "GB 21342-2013"  # until 2026-04-30
    assert in_force("coke", date(2026, 5, 1)) == "GB 21342-2025"
    assert in_force("cement", date(2022, 10, 1)) == "GB 16780-2012"  # before 2022-11-01
    assert in_force("cement", date(2022, 11, 1)) == "GB 16780-2021"


def test_products_carry_their_process_boundary():
    products = {r["product_code"]: r for r in read_seed("products")}
    # GB 16780-2021: cement includes its clinker (75 % basis); cement_grinding is only its own stage
    assert (products["cement"]["boundary"], products["cement"]["embodies"], products["cement"]["process_scope"]) == (
        "product",
        "clinker",
        "cement_grinding",
    )
    # GB 21256: 工序 indicators are judged on their process only
    for code in ("sinter", "hot_metal", "converter_steel", "eaf_steel"):
        assert products[code]["boundary"] == "process" and products[code]["process_scope"]
    # GB 21258: 供电煤耗 in gce/kWh, fuel only
    assert (products["coal_power_supply"]["indicator_unit"], products["coal_power_supply"]["energy_scope"]) == (
        "gce/kWh",
        "fuel",
    )
    for r in products.values():
        assert r["confidence"] in CONFIDENCE


def test_statistical_and_chinese_units_convert():
    conv = load_reference().conversions
    assert conv[("万吨", "t")] == 10_000 and conv[("吨", "t")] == 1 and conv[("千克", "t")] == 0.001
    assert conv[("万千瓦时", "kWh")] == 10_000 and conv[("亿千瓦时", "kWh")] == 100_000_000
    assert conv[("万立方米", "m3")] == 10_000 and conv[("Nm3", "m3")] == 1
    assert conv[("百万千焦", "GJ")] == 1  # the 205-1 unit of 热力


def _validate(entity: str, text: str):
    ent = contract.entity(entity)
    parsed = split_lines(text.encode("utf-8"), ent.field_names)
    fields, _ = split_fields(parsed.frame, parsed.header, ent.field_names)
    meters = pl.DataFrame(
        schema={"enterprise_id": pl.String, "meter_id": pl.String, "energy_code": pl.String, "reading_type": pl.String}
    )
    return validate(fields, ent, Context(load_reference(), {CEMENT}, meters, None, f"{entity}.csv"))


def test_production_units_are_validated_against_the_conversion_seed_at_the_door():
    header = "enterprise_id,product_code,period_start,period_end,quantity,unit,sent_at\n"
    period = "2026-03-01T00:00:00+08:00,2026-04-01T00:00:00+08:00"
    checked = _validate(
        "production",
        header
        + f"{CEMENT},cement,{period},15.5,万吨,2026-04-02T00:00:00+08:00\n"
        + f"{CEMENT},clinker,{period},124000,t,2026-04-02T00:00:00+08:00\n"
        + f"{CEMENT},coal_power_supply,{period},63550,万千瓦时,2026-04-02T00:00:00+08:00\n"
        + f"{CEMENT},cement,2026-02-01T00:00:00+08:00,2026-03-01T00:00:00+08:00,12,万只,2026-04-02T00:00:00+08:00\n"
        + f"{CEMENT},coal_power_supply,{period},100,t,2026-04-02T00:00:00+08:00\n",
    )
    assert checked.valid["row_number"].to_list() == [2, 3, 4]
    rejects = checked.rejects.to_dicts()
    assert [(r["row_number"], r["field"], r["value"]) for r in rejects] == [(5, "unit", "万只"), (6, "unit", "t")]
    assert rejects[0]["reason"].startswith("unit is unknown or not convertible to the product's unit t (accepted:")
    assert rejects[1]["reason"].startswith("unit is unknown or not convertible to the product's unit kWh (accepted:")


def test_meter_usage_is_one_of_the_205_1_purposes_and_produced_energy_is_never_an_out_meter():
    header = "enterprise_id,meter_id,energy_code,unit,reading_type,direction,usage\n"
    checked = _validate(
        "meters",
        header
        + f"{CEMENT},COAL-FEED,raw_coal,t,interval,in,raw_material\n"
        + f"{CEMENT},EL-01,electricity,万千瓦时,interval,in,\n"
        + f"{CEMENT},LDG-REC,converter_gas,Nm3,interval,in,recovered\n"
        + f"{CEMENT},LDG-OUT,converter_gas,m3,interval,out,recovered\n"
        + f"{CEMENT},EL-02,electricity,kWh,interval,in,feedstock\n",
    )
    assert checked.valid["meter_id"].to_list() == ["COAL-FEED", "EL-01", "LDG-REC"]
    assert checked.valid["usage"].to_list() == ["raw_material", None, "recovered"]
    reasons = {r["row_number"]: (r["field"], r["reason"]) for r in checked.rejects.to_dicts()}
    assert reasons[5] == (
        "usage",
        "usage secondary_output/recovered measures energy produced inside the boundary: direction must be in",
    )
    assert reasons[6][0] == "usage" and reasons[6][1].startswith("not one of industrial_production, raw_material")


def test_every_emission_factor_cites_source_edition_clause_and_confidence_and_unverified_ones_say_so():
    energy = {r["energy_code"]: r for r in read_seed("energy_types")}
    factors = read_seed("emission_factors")
    for r in factors:
        key = (r["series"], r["energy_code"], r["valid_from"])
        assert r["source"] and r["edition"] and r["clause"] and r["confidence"] in CONFIDENCE, key
        assert r["energy_code"] in energy, key
        if r["confidence"] == "U":
            assert any(w in r["note"] for w in ("not verified", "not read", "platform choice")), key
        if r["emission_scope"] == "direct_combustion":
            # 化石燃料燃烧: carbon content per unit heat × oxidation rate × 44/12, on the fuel's energy content
            assert float(r["carbon_content_tc_per_tj"]) > 0 and 0 < float(r["oxidation_rate"]) <= 1, key
            assert not r["co2_factor"] and not r["activity_per_unit"], key
        else:
            assert float(r["co2_factor"]) > 0 and float(r["activity_per_unit"]) > 0, key
    # every fuel of the warehouse has a combustion factor; purchased electricity, heat and steam are indirect
    direct = {r["energy_code"] for r in factors if r["emission_scope"] == "direct_combustion"}
    assert direct == {code for code, r in energy.items() if r["is_fuel"] == "true"}
    assert {r["energy_code"] for r in factors if r["emission_scope"] != "direct_combustion"} == {
        "electricity",
        "heat",
        "steam",
    }
    # the transcribed raw-coal row reproduces its printed 1.9003 kgCO2/kg at 20,908 kJ/kg
    [coal] = [r for r in factors if r["energy_code"] == "raw_coal"]
    assert (
        round(20.908 * float(coal["carbon_content_tc_per_tj"]) / 1000 * float(coal["oxidation_rate"]) * 44 / 12, 4)
        == 1.9003
    )


def test_grid_factors_are_dated_by_data_year_in_series_that_never_overlap_or_mix():
    rows = [r for r in read_seed("emission_factors") if r["energy_code"] == "electricity"]
    by_series: dict[str, list] = {}
    for r in rows:
        assert r["valid_to"] and r["data_year"], r  # every grid row is closed and says the year it measures
        start, end = date.fromisoformat(r["valid_from"]), date.fromisoformat(r["valid_to"])
        assert start == date(int(r["data_year"]), 1, 1) and end >= start  # applied from its own data year
        by_series.setdefault(r["series"], []).append((start, end, r))
    for spans in by_series.values():
        spans.sort(key=lambda s: s[0])
        for (_, end, _), (start, _, _) in pairwise(spans):
            assert end < start  # one factor per month and series
    values = {
        s: {int(r["data_year"]): (r["co2_factor"], r["confidence"]) for _, _, r in v} for s, v in by_series.items()
    }
    # MEE-NBS national averages (docs/emission-factors-source-check.md): 2021 0.5568, 2022 0.5366 (S);
    # the carbon-market reporting factors 0.5810 / 0.5703 are another series (U), never in this one
    assert values["mee_nbs_national"] == {2021: ("0.5568", "S"), 2022: ("0.5366", "S")}
    assert values["ets_reporting_grid"] == {2022: ("0.5810", "U"), 2023: ("0.5703", "U")}
    # one activity unit per energy type, whatever the series or year
    per_unit = {(r["energy_code"], r["activity_per_unit"], r["activity_unit"]) for r in read_seed("emission_factors")}
    assert len(per_unit) == len({code for code, _, _ in per_unit})


def test_every_energy_type_but_the_working_media_has_one_205_1_row():
    """fct_energy_205_1_monthly joins the energy balance to nbs_205_1_energy_map: an energy type without a
    map row would drop out of the form and its 能源合计 unseen (working media have no 205-1 row)."""
    energy = {r["energy_code"]: r["is_working_medium"] == "true" for r in read_seed("energy_types")}
    mapped = [r["energy_code"] for r in read_seed("nbs_205_1_energy_map")]
    rows = {r["nbs_code"] for r in read_seed("nbs_205_1_rows")}
    assert sorted(mapped) == sorted(code for code, medium in energy.items() if not medium)
    assert {r["nbs_code"] for r in read_seed("nbs_205_1_energy_map")} <= rows - {"40"}
