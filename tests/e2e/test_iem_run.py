"""`iem run` end to end, as a new user runs it: demo feed → ingest → transform → check → export →
dashboards; a second run loads nothing and leaves byte-identical export files. `iem transform` and
`iem export` run their jobs of the same graph on the same warehouse, recorded in the same instance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import psycopg
import pytest

from tests.e2e.iem_cli import run_iem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("demo")]


def _files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _blocking_checks() -> set[str]:
    from orchestration.definitions import defs

    graph = defs.get_repository_def().asset_graph
    return {
        f"{key.asset_key.to_user_string()}:{key.name}"
        for key in graph.asset_check_keys
        if graph.get_check_spec(key).blocking
    }


def test_iem_run_exports_and_renders_the_demo_month(demo_run):
    home, _env, proc = demo_run
    assert proc.returncode == 0
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "success" and summary["month"] == "2026-02"
    assert summary["demo_feed_written"] is True
    for stage in ("ingest", "transform", "check", "export", "dashboards"):
        assert stage in summary["stage_seconds"]
    ingest = summary["ingest"]
    assert ingest["files"] > 0
    assert ingest["rows_read"] == ingest["rows_loaded"] + ingest["rows_quarantined"] + ingest["rows_duplicate"]
    assert ingest["rows_quarantined"] > 0  # the demo feed has default faults
    export_dir = home / "outbox" / "2026-02"
    regions = [p for p in export_dir.iterdir() if p.is_dir()]
    assert regions, "no region exported"
    for region in regions:
        names = {p.name for p in region.iterdir()}
        assert "manifest.json" in names
        assert any(n.endswith(".json") and n != "manifest.json" for n in names)
        assert any(n.endswith(".csv") for n in names)
    pages = list((home / "dashboards" / "2026-02").rglob("*.html"))
    assert pages
    html = pages[0].read_text(encoding="utf-8")
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", "")


def test_the_run_summary_reads_in_ten_seconds_and_the_full_log_is_kept(demo_run):
    # before: 139 lines of dbt log (713 lines with Great Expectations' INFO lines) ahead of "run success"
    # and stage times, nothing about rows rejected, alerts or regions
    home, env, proc = demo_run
    assert proc.returncode == 0
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    human = proc.stdout.strip().splitlines()[:-1]
    said = human + proc.stderr.strip().splitlines()
    assert len(said) <= 60, "\n".join(said)
    for dbt_or_gx in ("Running with dbt", " of 193 ", "START sql", "great_expectations", "INFO "):
        assert not [line for line in said if dbt_or_gx in line], dbt_or_gx
    text = "\n".join(human)
    assert text.startswith("iem run SUCCESS for 2026-02")
    ingest = summary["ingest"]
    assert f"{ingest['rows_read']:,} rows read = {ingest['rows_loaded']:,} loaded" in text
    reasons = summary["rejected_reasons"]
    assert reasons and all(f"× {r['entity']}" in text and r["reason"] in text for r in reasons)
    # the top reasons (at most five) of this run's rejected rows: all of them when there are fewer kinds
    counted = sum(r["rows"] for r in reasons)
    assert counted == ingest["rows_quarantined"] if len(reasons) < 5 else counted <= ingest["rows_quarantined"]
    for region in summary["export"]["regions"]:
        assert f"    {region['region_code']}: {region['status']}" in text
        assert f"; v2 {region['v2']['status']}" in text  # contract v2 beside v1, per region
    assert f"contract v2 (205-1, 205-3, CO2) → {summary['export_v2_dir']}" in text
    # the first run into an empty warehouse raises every alert the warehouse holds
    url = run_iem(["db", "url"], env).stdout.strip()
    with psycopg.connect(url) as conn:
        (alerts,) = conn.execute("select count(*) from marts.fct_alerts").fetchone()
        (open_alerts,) = conn.execute("select count(*) from marts.fct_alerts where status = 'open'").fetchone()
    raised = sum(n for kinds in summary["alerts"]["raised"].values() for n in kinds.values())
    assert alerts > 0 and raised == alerts and summary["alerts"]["open"] == open_alerts
    assert f"{raised} raised by this run" in text
    assert "acceptance.html" in text and summary["dashboard_dir"] in text
    log_file = Path(summary["log_file"])
    assert log_file.parent == home / "logs" and str(log_file) in text
    log = log_file.read_text(encoding="utf-8", errors="replace")
    assert "Running with dbt" in log and "Done. PASS=" in log  # dbt's log is kept, not lost
    assert any(line.startswith("[") and "done   transform: dbt build" in line for line in proc.stderr.splitlines())


def test_second_run_loads_nothing_and_exports_identical_bytes(demo_run):
    home, env, proc = demo_run
    assert proc.returncode == 0
    before = _files(home / "outbox" / "2026-02")
    again = run_iem(["run", "--json", "--verbose"], env)
    assert again.returncode == 0
    # --verbose: dbt's log on the terminal, no log file
    assert "Running with dbt" in again.stdout + again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["log_file"] is None
    assert summary["ingest"]["files"] == 0 and summary["ingest"]["files_skipped"] > 0
    assert summary["rejected_reasons"] == [] and summary["alerts"]["raised"] == {}  # nothing new: nothing raised
    assert summary["export"]["status"] == "unchanged"
    assert _files(home / "outbox" / "2026-02") == before


def test_transform_and_export_run_their_jobs_of_the_graph_in_the_same_instance(demo_run):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    home, env, proc = demo_run
    assert proc.returncode == 0
    transform = run_iem(["transform", "--json"], env)
    assert transform.returncode == 0
    t = json.loads(transform.stdout.strip().splitlines()[-1])
    assert t["status"] == "success" and t["job"] == "transform_job" and t["failed_steps"] == []
    assert t["checks"]["passed"] > 0 and t["checks"]["failed"] == len(t["failed_checks"])
    # a check that fails without failing the run is one the graph declares non-blocking (a region-scoped
    # marts integrity check: the export blocks that region, the others go out)
    assert not set(t["failed_checks"]) & _blocking_checks(), t["failed_checks"]
    assert t["forecasts"]["series"] > 0

    before = _files(home / "outbox" / "2026-02")
    export = run_iem(["export", "--month", "2026-02", "--json"], env)
    assert export.returncode == 0
    e = json.loads(export.stdout.strip().splitlines()[-1])
    assert e["month"] == "2026-02" and e["status"] == "unchanged"  # nothing changed since `iem run` exported
    assert {r["status"] for r in e["regions"]} == {"unchanged"}
    assert _files(home / "outbox" / "2026-02") == before

    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    jobs = {r.job_name for r in instance.get_runs()}
    assert {"iem_main_job", "transform_job", "monthly_export_job"} <= jobs  # what the UI would list


@pytest.mark.parametrize(
    ("command", "month", "words"),
    [
        ("export", "2025-06", "no enterprise data for 2025-06: it holds 2026-01 … 2026-02"),
        ("export", "2030-01", "2030-01 is in the future"),
        ("dashboard", "1999-01", "no enterprise data for 1999-01: it holds 2026-01 … 2026-02"),
    ],
)
def test_a_month_without_data_is_a_clear_error_and_writes_nothing(demo_run, command, month, words):
    # before: `iem export --month 2025-06` printed "unchanged → …" and exited 0 for a folder that does not
    # exist; `iem dashboard --month 1999-01` wrote 10 empty pages
    home, env, proc = demo_run
    assert proc.returncode == 0
    result = run_iem([command, "--month", month], env)
    assert result.returncode == 2, result.stdout
    assert words in result.stderr, result.stderr
    assert not (home / ("outbox" if command == "export" else "dashboards") / month).exists()


def test_iem_check_passes_on_the_demo_warehouse(demo_run):
    # before: 7 blocking failures of marts_reconcile_with_raw: the register readings at 2026-03-01 00:00+08
    # that close February were bucketed into March, where the demo has no month
    _home, env, proc = demo_run
    assert proc.returncode == 0
    check = run_iem(["check", "--json"], env)
    report = json.loads(check.stdout.strip().splitlines()[-1])
    failed = [(r["name"], r.get("region_code")) for r in report["results"] if not r["success"]]
    assert check.returncode == 0, failed
    assert not [f for f in failed if f[0] == "marts_reconcile_with_raw"]
