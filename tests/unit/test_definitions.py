"""The whole Dagster definitions graph: loads, validates, and matches its snapshot (so accidental
changes to assets, groups, checks, jobs, schedules, sensors, or the job each command runs show up in
review).
Regenerate deliberately with IEM_UPDATE_SNAPSHOTS=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "definitions.json"


def describe() -> dict:
    from orchestration.definitions import defs
    from orchestration.pipeline import COMMAND_JOBS

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitioned": node.partitions_def is not None,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
        }
    checks = {}
    for ck in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        spec = graph.get_check_spec(ck)
        checks[ck.to_user_string()] = {"blocking": bool(spec.blocking)}
    return {
        "assets": assets,
        "checks": checks,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        # the job each stage-running command executes, and the assets it materializes
        "commands": {
            command: {
                "job": job,
                "assets": sorted(k.to_user_string() for k in defs.resolve_job_def(job).asset_layer.selected_asset_keys),
            }
            for command, job in sorted(COMMAND_JOBS.items())
        },
        "schedules": sorted((s.name, s.cron_schedule, s.execution_timezone) for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_definitions_match_snapshot():
    current = json.loads(json.dumps(describe(), sort_keys=True))
    if os.environ.get("IEM_UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_export_runs_monthly_on_day_5_at_six_shanghai_and_marts_are_grouped_by_folder():
    d = describe()
    assert ("monthly_export_schedule", "0 6 5 * *", "Asia/Shanghai") in [tuple(s) for s in d["schedules"]]
    assert d["assets"]["marts/fct_enterprise_monthly"]["group"] == "marts"
    assert d["assets"]["export/national_export"]["partitioned"]
    assert any(c["blocking"] for c in d["checks"].values())
    assert any(not c["blocking"] for c in d["checks"].values())


def test_dagster_definitions_validate_exits_zero():
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "orchestration.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DAGSTER_HOME": ""},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_dbt_resource_knows_the_version_dbt_itself_prints():
    """dagster-dbt picks its event parsing by the dbt version; the platform's resource reads it from the
    installed package instead of running `dbt --version` in every run: the two must agree."""
    import re

    from orchestration.defs.transform.assets import dbt_resource

    resource = dbt_resource()
    printed = subprocess.run([resource.dbt_executable, "--version"], capture_output=True, text=True, check=True)
    core = re.search(r"Core:\s*\n\s*- installed:\s*(\S+)", printed.stdout)
    assert core, printed.stdout
    assert str(resource._cli_version) == core.group(1)
