"""Scoring for `iem evaluate`: the alerts of a simulated feed against its ground truth, per fault kind
(precision and recall). The command (orchestration/pipeline.py) simulates, runs the graph's ingest and
transform job on a database of its own, then calls `score` here.

A truth record is found by an alert of the same kind for the same enterprise and, where the record
names one, the same meter and an overlapping period — or, for rows rejected at the door, the same
file and row. Kinds that are not alerts by design (corrections and late arrivals are handled, not
flagged) are listed with their counts and no score."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import psycopg

NOT_ALERTED = {"correction", "late_arrival"}


def _ts(text):
    return datetime.fromisoformat(text) if text else None


def _overlaps(a_start, a_end, t_start, t_end) -> bool:
    if a_start is None or t_start is None:
        return True
    return a_start < t_end and (a_end or a_start) > t_start


def score(alerts: list[dict], truth: list[dict]) -> dict:
    kinds = sorted({t["kind"] for t in truth} | {a["fault_kind"] for a in alerts})
    table = {}
    for kind in kinds:
        ts = [t for t in truth if t["kind"] == kind]
        als = [a for a in alerts if a["fault_kind"] == kind]

        def match(a, t):
            if a["enterprise_id"] != t["enterprise_id"]:
                return False
            if t.get("file"):
                ev = a.get("evidence") or {}
                return ev.get("file") == t["file"] and int(ev.get("row") or -1) == t["row"]
            if t.get("meter_id") and a.get("meter_id") != t["meter_id"]:
                return False
            return _overlaps(a["period_start"], a["period_end"], _ts(t["period_start"]), _ts(t["period_end"]))

        found = [t for t in ts if any(match(a, t) for a in als)]
        right = [a for a in als if any(match(a, t) for t in ts)]
        table[kind] = {
            "truth": len(ts),
            "alerts": len(als),
            "recall": None if kind in NOT_ALERTED or not ts else round(len(found) / len(ts), 3),
            "precision": None if not als else round(len(right) / len(als), 3),
            "note": "handled, not alerted (by design)" if kind in NOT_ALERTED else None,
        }
    return table


def read_alerts(url: str) -> list[dict]:
    """Every alert of marts.fct_alerts, as the scorer reads them."""
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "select family, fault_kind, enterprise_id, meter_id, period_start, period_end, status, evidence "
            "from marts.fct_alerts"
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def read_truth(path: Path) -> list[dict]:
    """The simulator's ground truth: one injected fault per JSON line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
