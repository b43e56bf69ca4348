"""`iem run` end to end, as a new user runs it: demo feed → ingest → transform → check → export →
dashboards; a second run loads nothing and leaves byte-identical export files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
IEM = [sys.executable, "-m", "orchestration.cli"]


def _run(args, env, timeout=900):
    proc = subprocess.run([*IEM, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        print(proc.stdout[-5000:], proc.stderr[-10000:], sep="\n---\n")
    return proc


def _files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, fresh_database):
    home = tmp_path_factory.mktemp("iem_home")
    env = {**os.environ, "IEM_HOME": str(home)}
    if os.environ.get("IEM_DATABASE_URL"):
        env["IEM_DATABASE_URL"] = fresh_database(bootstrap=False)  # its own database on the server
    else:
        env.pop("IEM_DATABASE_URL", None)  # the embedded default under this IEM_HOME
    proc = _run(["run", "--json"], env)
    yield home, env, proc
    if "IEM_DATABASE_URL" not in env:
        subprocess.run([*IEM, "db", "stop"], env=env, capture_output=True, timeout=120, check=False)


def test_iem_run_exports_and_renders_the_demo_month(first_run):
    home, _env, proc = first_run
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


def test_second_run_loads_nothing_and_exports_identical_bytes(first_run):
    home, env, proc = first_run
    assert proc.returncode == 0
    before = _files(home / "outbox" / "2026-02")
    again = _run(["run", "--json"], env)
    assert again.returncode == 0
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["ingest"]["files"] == 0 and summary["ingest"]["files_skipped"] > 0
    assert summary["export"]["status"] == "unchanged"
    assert _files(home / "outbox" / "2026-02") == before
