"""Alerts against ground truth: on a default-fault simulation of 50 enterprises × 60 days,
precision and recall ≥ 0.9 for the data faults that matter most, every limit breach flagged; a
clean simulation raises no data-fault alert. The evaluation's scratch database is dropped when it
ends (on failure too) unless it is asked to keep it: nothing is left on the cluster nor on its disk."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from orchestration.database import database_on_cluster, drop_database
from orchestration.dbt_env import warehouse_target_path
from orchestration.pipeline import evaluate

pytestmark = pytest.mark.e2e
MUST = ("gap", "silent_feed", "register_reset", "spike", "unit_error", "duplicate")


def _scratch_prefix(cluster_url: str) -> str:
    """How the scratch databases of `iem evaluate` begin beside the cluster URL's database (pipeline.evaluate)."""
    return f"{urlparse(cluster_url).path.lstrip('/') or 'iem'}_evaluate_"


def _databases(cluster_url: str) -> set[str]:
    with psycopg.connect(cluster_url) as conn:
        return {r[0] for r in conn.execute("select datname from pg_database")}


def _orphan_folders(cluster_url: str) -> set[str] | None:
    """base/<oid> folders of the embedded server this session started (the tests' default, no
    IEM_DATABASE_URL) that belong to no database in the catalog: files a dropped database left on disk.
    None on a shared server, whose data directory the tests cannot read. (Comparing the folder set
    before and after is wrong here: the other pytest worker creates databases in the same cluster.)"""
    if os.environ.get("IEM_DATABASE_URL"):
        return None
    with psycopg.connect(cluster_url) as conn:
        base = Path(conn.execute("show data_directory").fetchone()[0]) / "base"
        oids = {str(r[0]) for r in conn.execute("select oid from pg_database")}
        folders = {d.name for d in base.iterdir() if d.name.isdigit()}
    return folders - oids


def _new_scratch_databases(cluster_url: str, before: set[str]) -> set[str]:
    return {d for d in _databases(cluster_url) - before if d.startswith(_scratch_prefix(cluster_url))}


@pytest.fixture
def nothing_left(cluster_url):
    """Asserts, after the test, that no scratch database is left, in the catalog nor on the disk."""
    before = _databases(cluster_url)
    yield
    assert _new_scratch_databases(cluster_url, before) == set()
    assert _orphan_folders(cluster_url) in (None, set()), "a dropped database's files are left in the data directory"


def test_alerts_score_at_least_0_9_per_fault_kind(cluster_url, tmp_path, nothing_left):
    result = evaluate(cluster_url, enterprises=50, days=60, seed=2026, workdir=tmp_path)
    kinds = result["kinds"]
    for kind in MUST:
        assert kinds[kind]["truth"] > 0, kind
        assert kinds[kind]["precision"] >= 0.9 and kinds[kind]["recall"] >= 0.9, (kind, kinds[kind])
    assert kinds["limit_breach"]["truth"] > 0 and kinds["limit_breach"]["recall"] == 1.0
    # dropped, as `iem evaluate` does by default, with its dbt target folder
    assert result["database"].startswith(_scratch_prefix(cluster_url)) and result["database_url"] is None
    assert result["database"] not in _databases(cluster_url)


def test_a_clean_simulation_raises_no_data_fault_alert(cluster_url, tmp_path, nothing_left):
    result = evaluate(cluster_url, enterprises=12, days=30, seed=2027, faults="none", workdir=tmp_path)
    assert result["rows_read"] > 0
    assert result["data_fault_alerts"] == 0, result["kinds"]
    assert result["database"] not in _databases(cluster_url) and result["database_url"] is None
    assert not warehouse_target_path(database_on_cluster(cluster_url, result["database"])).exists()


def test_a_failed_evaluation_drops_its_database_too(cluster_url, tmp_path, nothing_left):
    # the simulator refuses 0 enterprises after the scratch database was created
    with pytest.raises(ValueError, match="enterprises and days must be at least 1"):
        evaluate(cluster_url, enterprises=0, days=30, workdir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # its feed and truth folder is gone too


def test_keep_database_leaves_it_for_inspection(cluster_url, tmp_path):
    before = _databases(cluster_url)
    with pytest.raises(ValueError, match="enterprises and days must be at least 1"):
        evaluate(cluster_url, enterprises=0, days=30, workdir=tmp_path, keep_database=True)
    kept = _new_scratch_databases(cluster_url, before)
    for name in kept:
        drop_database(cluster_url, name)
    assert len(kept) == 1
