"""Row-level error report of one enterprise: every rejected row and skipped duplicate of its feeds."""

from __future__ import annotations

import csv
from pathlib import Path

import psycopg

COLUMNS = [
    "kind",
    "source_name",
    "entity",
    "row_number",
    "field",
    "value",
    "reason",
    "raw_row",
    "batch_id",
    "recorded_at",
]

_QUERY = """
SELECT 'rejected' AS kind, r.source_name, r.entity, r.row_number, r.field, r.value, r.reason, r.raw_row,
       r.batch_id, r.rejected_at
  FROM quarantine.rejected_rows r JOIN audit.ingest_batches b USING (batch_id)
 WHERE coalesce(b.owner_enterprise_id, r.enterprise_id) = %(id)s  -- rows of A's own feed go to A's report
   AND r.resolved_by_batch IS NULL  -- re-validated and loaded once the registry arrived: no longer an error
UNION ALL
SELECT 'duplicate', d.source_name, d.entity, d.row_number, NULL, d.natural_key,
       'exact duplicate of row ' || d.first_row_number || ' of the same file or batch: skipped', NULL,
       d.batch_id, d.recorded_at
  FROM quarantine.duplicate_rows d
 WHERE d.enterprise_id = %(id)s
ORDER BY batch_id, row_number
"""


def enterprise_errors(url: str, enterprise_id: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(_QUERY, {"id": enterprise_id}).fetchall()


def enterprise_is_known(url: str, enterprise_id: str) -> bool:
    """The enterprise is in the registry, or a feed of its own (its landing folder, its endpoint, its push
    credentials) was loaded: only then can an empty report mean "no errors" rather than a mistyped id."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM raw.enterprises WHERE enterprise_id = %(id)s)"
            "    OR EXISTS (SELECT 1 FROM audit.ingest_batches WHERE owner_enterprise_id = %(id)s)",
            {"id": enterprise_id},
        ).fetchone()
    return bool(row and row[0])


def write_error_report(url: str, enterprise_id: str, out: Path) -> dict:
    rows = enterprise_errors(url, enterprise_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    kinds = {"rejected": 0, "duplicate": 0}
    for row in rows:
        kinds[row[0]] += 1
    return {"enterprise_id": enterprise_id, "path": str(out), "rows": len(rows), **kinds}
