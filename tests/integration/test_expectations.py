"""The quality gate: Great Expectations suites on a small real warehouse (PostgreSQL), blocking checks
scoped to the pilot region that fails, warnings naming the enterprise, Data Docs written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from export_fixtures import CEMENT, MONTH, PAPER, SHANGHAI, ZHEJIANG, build_small_warehouse

from expectations import run_quality_gate


def test_clean_warehouse_passes_every_blocking_check_and_warns_about_one_enterprise(warehouse_url, tmp_path):
    build_small_warehouse(warehouse_url)
    report = run_quality_gate(warehouse_url, month=MONTH, docs_dir=tmp_path / "quality")

    assert report.blocking_failures() == []
    assert {r.layer for r in report.results} == {"raw", "staging", "marts"}
    names = {r.name for r in report.results}
    assert {
        "no_negative_comprehensive_energy",
        "region_total_equals_sum_of_enterprises",
        "every_energy_type_has_a_coefficient",
        "marts_reconcile_with_raw",
        "enterprise_completeness_90",
        "platform_vs_enterprise_totals_5pct",
        "timeliness_90",
    } <= names
    # GX really ran: each result carries the expectation GX evaluated and its counts
    negative = next(r for r in report.results if r.name == "no_negative_comprehensive_energy")
    assert (
        negative.success and negative.details["expectations"][0]["expectation"] == "expect_column_values_to_be_between"
    )
    # the paper mill (80 % complete) is a warning for Zhejiang only, naming the enterprise
    [warning] = [r for r in report.results if r.severity == "warning" and not r.success]
    assert (warning.name, warning.region_code) == ("enterprise_completeness_90", ZHEJIANG)
    assert [f["row"]["enterprise_id"] for f in warning.details["failures"]] == [PAPER]
    # Data Docs HTML under the given folder
    assert report.docs_index and Path(report.docs_index).is_file()
    assert "no_negative_comprehensive_energy" in "".join(
        p.read_text(encoding="utf-8") for p in (tmp_path / "quality").rglob("*.html")
    )
    summary = report.to_dict()
    json.dumps(summary)  # JSON-safe for Dagster metadata and `iem check --json`
    assert summary["blocking_failures"] == 0 and summary["warnings"] == 1


def test_negative_comprehensive_energy_blocks_only_its_region(warehouse_url):
    build_small_warehouse(warehouse_url)
    with psycopg.connect(warehouse_url) as conn:
        conn.execute(
            "update marts.fct_enterprise_monthly set comprehensive_tce_equivalent = -5 where enterprise_id = %s",
            (CEMENT,),
        )
    report = run_quality_gate(warehouse_url, month=MONTH, layers=("marts",))

    failed = {r.name for r in report.blocking_failures(SHANGHAI)}
    # the negative row, and the region total no longer equal to its enterprises' sum
    assert {"no_negative_comprehensive_energy", "region_total_equals_sum_of_enterprises"} <= failed
    assert all(r.region_code == SHANGHAI for r in report.blocking_failures())
    assert report.blocking_failures(ZHEJIANG) == []
    assert {r.layer for r in report.results} == {"marts"}


def test_energy_type_without_coefficient_blocks_every_region(warehouse_url):
    build_small_warehouse(warehouse_url)
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("insert into staging.stg_raw__meters values (%s, 'M-mystery', 'mystery_fuel')", (PAPER,))
    report = run_quality_gate(warehouse_url, month=MONTH, layers=("staging",))

    [failure] = report.blocking_failures()
    assert failure.name == "every_energy_type_has_a_coefficient" and failure.region_code is None
    assert failure.details["failures"][0]["unexpected_count"] == 1
    assert report.blocking_failures(SHANGHAI) == report.blocking_failures(ZHEJIANG) == [failure]


def test_missing_mart_is_a_blocking_failure_not_a_crash(warehouse_url):
    build_small_warehouse(warehouse_url)
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("drop table marts.fct_region_monthly")
    report = run_quality_gate(warehouse_url, month=MONTH, layers=("marts",))

    failed = {r.name: r for r in report.blocking_failures()}
    assert "region_total_equals_sum_of_enterprises" in failed
    assert "marts.fct_region_monthly" in failed["region_total_equals_sum_of_enterprises"].details["error"]


def test_energy_rows_not_adding_up_to_the_enterprise_total_block_that_region(warehouse_url):
    build_small_warehouse(warehouse_url)
    with psycopg.connect(warehouse_url) as conn:
        # a gas row appears for the paper mill without its enterprise total being rebuilt
        conn.execute(
            "insert into marts.fct_enterprise_energy_monthly select enterprise_id, month, 'natural_gas', "
            "1000, 1000, 'm3', 1.2143, 1.2143, 1, 0 from marts.fct_enterprise_monthly "
            "where enterprise_id = %s",
            (PAPER,),
        )
    report = run_quality_gate(warehouse_url, month=MONTH, layers=("marts",))

    failures = {f.name: f for f in report.blocking_failures()}
    # the row has no meter-days behind it either: the recomputation from the VEE layer catches it too
    assert set(failures) == {
        "enterprise_total_equals_sum_of_energy_types",
        "energy_marts_reconcile_with_vee",
        "tce_is_quantity_times_coefficient",
    }
    failure = failures["enterprise_total_equals_sum_of_energy_types"]
    assert {f.region_code for f in failures.values()} == {ZHEJIANG}
    assert [f["row"]["enterprise_id"] for f in failure.details["failures"]] == [PAPER]
