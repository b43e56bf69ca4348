"""Alerts against ground truth: on a default-fault simulation of 50 enterprises × 60 days,
precision and recall ≥ 0.9 for the data faults that matter most, every limit breach flagged; a
clean simulation raises no data-fault alert."""

from __future__ import annotations

import pytest

from orchestration.pipeline import evaluate

pytestmark = pytest.mark.e2e
MUST = ("gap", "silent_feed", "register_reset", "spike", "unit_error", "duplicate")


def test_alerts_score_at_least_0_9_per_fault_kind(cluster_url, tmp_path):
    result = evaluate(cluster_url, enterprises=50, days=60, seed=2026, workdir=tmp_path, keep_database=False)
    kinds = result["kinds"]
    for kind in MUST:
        assert kinds[kind]["truth"] > 0, kind
        assert kinds[kind]["precision"] >= 0.9 and kinds[kind]["recall"] >= 0.9, (kind, kinds[kind])
    assert kinds["limit_breach"]["truth"] > 0 and kinds["limit_breach"]["recall"] == 1.0


def test_a_clean_simulation_raises_no_data_fault_alert(cluster_url, tmp_path):
    result = evaluate(
        cluster_url, enterprises=12, days=30, seed=2027, faults="none", workdir=tmp_path, keep_database=False
    )
    assert result["rows_read"] > 0
    assert result["data_fault_alerts"] == 0, result["kinds"]
