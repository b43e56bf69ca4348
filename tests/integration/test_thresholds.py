"""Quality thresholds are data defined once (dbt vars in dbt_project.yml): changing the completeness
threshold in that one place changes the dbt result (the scorecard's rule flag, the dbt warning test,
marts.dim_quality_rule) and the Great Expectations check alike, with no figure edited anywhere else."""

from __future__ import annotations

import json
from datetime import date

import psycopg

from expectations import load_thresholds, run_quality_gate
from expectations.thresholds import project_thresholds
from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.dbt_env import run_dbt

MONTH = date(2026, 2, 1)


def _scorecard(url: str) -> dict[str, tuple[float, bool]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select enterprise_id, completeness::float8, meets_completeness_rule from marts.rpt_quality_scorecard "
            "where month = %s",
            (MONTH,),
        ).fetchall()
    return {e: (c, ok) for e, c, ok in rows}


def _gx_completeness(url: str) -> list:
    """The GX completeness check's results (one per failing pilot region, or one passing result)."""
    report = run_quality_gate(url, month=MONTH, layers=("marts",))
    return [r for r in report.results if r.name == "enterprise_completeness_90"]


def test_changing_the_completeness_threshold_in_dbt_changes_the_dbt_rule_and_the_gx_check(fresh_database, tmp_path):
    # a clean feed: every interval received, completeness 1.0 for every enterprise-month
    simulate(tmp_path / "feed", enterprises=2, start=MONTH, days=2, seed=8, faults="none")
    url = fresh_database()
    ingest_path(url, tmp_path / "feed")
    run_dbt(["build"], url)

    defined = project_thresholds().completeness
    assert defined == 0.9  # the national rule, as dbt_project.yml defines it
    assert load_thresholds(url).completeness == defined
    before = _scorecard(url)
    assert before and all(c == 1.0 and ok for c, ok in before.values())
    assert [r.success for r in _gx_completeness(url)] == [True]

    # one change, in one place: the dbt var (here for this build, as `dbt --vars` does)
    stricter = json.dumps({"completeness_threshold": 1.001})
    rebuilt = ["dim_quality_rule", "rpt_quality_scorecard", "fct_enterprise_monthly"]
    result = run_dbt(["build", "--select", *rebuilt, "--vars", stricter], url)
    warned = {r.node.name for r in result.result if str(r.status) == "warn"}
    assert "enterprise_completeness_at_least_90_percent" in warned  # the dbt warning test follows the var

    assert load_thresholds(url).completeness == 1.001  # what dbt applied is what every reader reads
    after = _scorecard(url)
    assert after.keys() == before.keys() and not any(ok for _, ok in after.values())
    gx = _gx_completeness(url)
    assert gx and all(not r.success and r.severity == "warning" for r in gx)  # a warning, never blocking
    flagged = json.dumps([r.details for r in gx], default=str)
    assert all(enterprise in flagged for enterprise in after)
