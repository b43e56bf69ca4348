"""The data-quality thresholds, read where dbt publishes what it applied (marts.dim_quality_rule).

They are defined once, as dbt vars in dbt_project/dbt_project.yml; the Great Expectations suites and the
dashboards never write a figure of their own. Before the first build (no dim_quality_rule yet) the vars
are read from dbt_project.yml itself. No Great Expectations or Dagster import here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psycopg
import yaml

DBT_PROJECT_FILE = Path(__file__).resolve().parents[1] / "dbt_project" / "dbt_project.yml"
# rule_id in marts.dim_quality_rule → dbt var in dbt_project.yml
RULE_VARS = {
    "completeness": "completeness_threshold",
    "totals_consistency": "totals_tolerance",
    "timeliness": "timeliness_threshold",
    "max_estimate_gap": "max_estimate_gap_intervals",
    "energy_balance": "energy_balance_tolerance",
}


@dataclass(frozen=True)
class Thresholds:
    completeness: float  # completeness >= this
    totals_consistency: float  # |platform ÷ enterprise-reported − 1| <= this
    timeliness: float  # share of readings sent within 1 h >= this
    max_estimate_gap: int  # gaps up to this many intervals are estimated
    energy_balance: float  # 205-1 stock balance residual <= this share of what was available


@cache
def project_thresholds() -> Thresholds:
    """The values dbt_project.yml defines (what the next build applies without --vars)."""
    project_vars = yaml.safe_load(DBT_PROJECT_FILE.read_text(encoding="utf-8"))["vars"]
    return _thresholds({rule: project_vars[var] for rule, var in RULE_VARS.items()})


def load_thresholds(url: str) -> Thresholds:
    """The thresholds the warehouse at `url` was built with; dbt_project.yml's before its first build."""
    with psycopg.connect(url) as conn:
        row = conn.execute("select to_regclass('marts.dim_quality_rule') is not null").fetchone()
        if not (row and row[0]):
            return project_thresholds()
        built: dict[str, float] = dict(conn.execute("select rule_id, threshold from marts.dim_quality_rule").fetchall())
    return _thresholds({rule: built.get(rule, getattr(project_thresholds(), rule)) for rule in RULE_VARS})


def _thresholds(values: dict) -> Thresholds:
    return Thresholds(
        completeness=float(values["completeness"]),
        totals_consistency=float(values["totals_consistency"]),
        timeliness=float(values["timeliness"]),
        max_estimate_gap=int(values["max_estimate_gap"]),
        energy_balance=float(values["energy_balance"]),
    )
