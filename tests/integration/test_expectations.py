"""The quality gate: Great Expectations suites on a small real warehouse (PostgreSQL), blocking checks
scoped to the pilot region that fails, warnings naming the enterprise, Data Docs written."""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
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


# what an HTML tag loads, by its attribute
LOADS = {"link": "href", "script": "src", "img": "src", "iframe": "src", "source": "src", "embed": "src"}


class _References(HTMLParser):
    """Every resource an HTML page would load (link href, script/img/iframe/source src, CSS url() and
    @import) and every hyperlink, as written."""

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self._css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in LOADS and a.get(LOADS[tag]):
            self.loads.append(a[LOADS[tag]])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("id"):
            self.ids.add(a["id"])
        if a.get("style"):
            self._css.append(a["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self._css.append(data)

    def css_loads(self) -> list[str]:
        css = " ".join(self._css)
        return re.findall(r"url\(\s*['\"]?([^'\")\s]+)", css) + re.findall(r"@import\s+['\"]([^'\"]+)", css)


def _parsed(path: Path) -> _References:
    refs = _References()
    refs.feed(path.read_text(encoding="utf-8"))
    return refs


def test_data_docs_list_every_check_result_and_load_nothing_from_another_host(warehouse_url, tmp_path):
    build_small_warehouse(warehouse_url)
    with psycopg.connect(warehouse_url) as conn:  # a blocking failure in both regions: one result for each
        conn.execute(
            "update marts.fct_enterprise_monthly set comprehensive_tce_equivalent = -5 where enterprise_id in (%s, %s)",
            (CEMENT, PAPER),
        )
    docs = tmp_path / "quality"
    report = run_quality_gate(warehouse_url, month=MONTH, docs_dir=docs)
    # the per-layer Dagster checks call the gate on one layer with the same folder: the index still
    # covers every layer (GX's index was rebuilt from the last call only: 2 raw checks of 27 results)
    raw_only = run_quality_gate(warehouse_url, month=MONTH, layers=("raw",), docs_dir=docs)
    assert len(raw_only.results) == 2 and raw_only.docs_index == str(docs / "index.html")

    # every suite ran, and region-scoped failures are one result per region
    # (25 checks: the energy-balance warning on the 205-1 statements joined the 24 before it)
    assert len({r.name for r in report.results}) == 25 < len(report.results)
    assert {(r.name, r.region_code) for r in report.results if not r.success} >= {
        ("no_negative_comprehensive_energy", SHANGHAI),
        ("no_negative_comprehensive_energy", ZHEJIANG),
        ("enterprise_completeness_90", ZHEJIANG),
    }
    index = _parsed(docs / "index.html")
    result_links = [h for h in index.links if h.startswith("checks/")]
    assert len(result_links) == len(report.results) == len(set(result_links))
    expected = sorted(
        f"checks/{r.name}.html#{'region-' + r.region_code if r.region_code else 'all'}" for r in report.results
    )
    assert sorted(result_links) == expected
    for link in result_links:  # each link lands on its result's section
        page, anchor = link.split("#")
        assert anchor in _parsed(docs / page).ids, link
    page = (docs / "checks" / "enterprise_total_equals_sum_of_energy_types.html").read_text(encoding="utf-8")
    assert page.count("FAILED") == 2 and CEMENT in page and PAPER in page  # its failing rows, naming the enterprises

    # self-contained: nothing under the folder loads from (or links to) another host
    files = [p for p in docs.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".html", ".json", ".lock"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
        if path.suffix == ".html":
            refs = _parsed(path)
            for ref in [*refs.loads, *refs.css_loads(), *refs.links]:
                assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", ref, re.I), (path, ref)
                assert (path.parent / ref.split("#")[0]).is_file(), (path, ref)
