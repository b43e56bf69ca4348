"""Row-level error report of one enterprise (`iem errors`): what went wrong with its feeds, root causes first.

What belongs to the enterprise: every row of a file in its own folder or from its own endpoint (even a
row naming a mistyped credit code), rows of shared files naming it, and rows of shared files naming a
credit code that is not in the registry but differs from its own by one character or two swapped
neighbours and from no other's (the nearest valid identity). Then:

- root causes, once each and first: a file that could not be read (a failed batch), a file with lines in
  neither UTF-8 nor GB18030 (one row for the file, with a hint), a rejected registry row (enterprise or
  meter) that made other rows fail, a registry row never received (`missing_registry`);
- rows rejected on their own and exact duplicates;
- readings the warehouse rejected in validation (`vee_rejected`: negative, beyond rated maximum, overlapping
  period, register reset) and its data-fault alerts (`data_fault`), when the warehouse has been built;
- last, the rows rejected only because of a root cause (`role` = cascade, `caused_by` names it): kept
  and listed, never dropped, but not in the way of the few rows that need fixing.

The first ten columns are those of earlier versions (a contract); newer ones are appended. The file is
UTF-8 with a byte-order mark so that Excel on Chinese Windows opens it with its Chinese intact."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

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
    # appended in report version 2 (earlier readers see the first ten unchanged)
    "role",  # root cause | error | cascade
    "cascaded_rows",  # for a root cause: how many rows were rejected only because of it
    "caused_by",  # for a cascade: the root cause (file and row, or what is missing)
    "meter_id",
    "period_start",
    "period_end",
    "hint",  # what to do
]

BEIJING = ZoneInfo("Asia/Shanghai")
ROOT, ERROR, CASCADE = "root cause", "error", "cascade"
KINDS = ("file", "missing_registry", "rejected", "duplicate", "vee_rejected", "data_fault")
ENCODING_REASON = "row is not valid UTF-8 or GB18030"
_REPEATS = re.compile(r"^repeats row (\d+), which was rejected")

VEE_WORDS = {
    "negative": "negative consumption",
    "beyond_rated_max": "beyond the meter's rated_max × multiplier (a spike, or a unit error such as MWh sent as kWh)",
    "overlapping_period": "the period starts before the previous period of this meter ends",
    "register_reset": "the register fell far from register_max (a reset)",
    "meter_replacement": "the meter was replaced",
}


@dataclass
class Entry:
    kind: str
    source_name: str | None = None
    entity: str | None = None
    row_number: int | None = None
    field: str | None = None
    value: str | None = None
    reason: str | None = None
    raw_row: str | None = None
    batch_id: int | None = None
    recorded_at: object = None
    meter_id: str | None = None
    period_start: object = None
    period_end: object = None
    hint: str | None = None
    parent: Entry | None = None
    children: int = 0
    cascaded_by_entity: dict[str, int] = dataclass_field(default_factory=dict)
    role: str = ERROR
    caused_by: str | None = None
    label_text: str | None = None  # how cascades name this root cause (default: file and row)
    named_enterprise: str | None = None  # the credit code the row names

    def label(self) -> str:
        if self.label_text:
            return self.label_text
        return f"{self.source_name} row {self.row_number}" if self.row_number else f"{self.source_name}"

    def root(self) -> Entry:
        e = self
        while e.parent is not None:
            e = e.parent
        return e

    def cells(self) -> list:
        return [
            self.kind,
            self.source_name,
            self.entity,
            self.row_number,
            self.field,
            self.value,
            self.reason,
            self.raw_row,
            self.batch_id,
            self.recorded_at,
            self.role,
            self.children if self.role == ROOT else None,
            self.caused_by,
            self.meter_id,
            self.period_start,
            self.period_end,
            self.hint,
        ]


def near(a: str | None, b: str) -> bool:
    """One character off, or two neighbours swapped (the typing errors a check character catches)."""
    if a is None:
        return False
    a = a.strip().upper()
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _fields(raw_row: str | None, header: str | None) -> dict:
    """The row's fields by name, from its raw text: JSON (JSON lines, HTTP, push) or a CSV line split
    with its file's header. Empty when it cannot be read."""
    if not raw_row:
        return {}
    if raw_row.lstrip().startswith("{"):
        try:
            rec = json.loads(raw_row)
            return rec if isinstance(rec, dict) else {}
        except ValueError:
            return {}
    if not header:
        return {}
    try:
        names = json.loads(header)
        values = next(csv.reader(io.StringIO(raw_row)), [])
    except (ValueError, csv.Error):
        return {}
    return {n: (v.strip() or None) for n, v in zip(names, values, strict=False)}


_REJECTED = """
SELECT r.batch_id, r.source_name, r.entity, r.row_number, r.enterprise_id, r.field, r.value, r.reason,
       r.raw_row, r.rejected_at, b.header
  FROM quarantine.rejected_rows r JOIN audit.ingest_batches b USING (batch_id)
 WHERE r.resolved_by_batch IS NULL  -- re-validated and loaded once the registry arrived: no longer an error
   AND {where}
"""
# rows of the enterprise's own folder or endpoint (whatever credit code they name), and rows of shared files naming it
_OWN = "(b.owner_enterprise_id = %(id)s OR (b.owner_enterprise_id IS NULL AND r.enterprise_id = %(id)s))"
# rows of shared files that name no registered enterprise: some may be the enterprise's, mistyped
_STRAY_IDS = """
SELECT DISTINCT r.enterprise_id
  FROM quarantine.rejected_rows r JOIN audit.ingest_batches b USING (batch_id)
 WHERE r.resolved_by_batch IS NULL AND b.owner_enterprise_id IS NULL AND r.enterprise_id IS NOT NULL
   AND r.enterprise_id <> %(id)s
   AND NOT EXISTS (SELECT 1 FROM raw.enterprises e WHERE e.enterprise_id = r.enterprise_id)
"""
_KNOWN_IDS = """
SELECT enterprise_id FROM raw.enterprises
UNION SELECT owner_enterprise_id FROM audit.ingest_batches WHERE owner_enterprise_id IS NOT NULL
"""
_DUPLICATES = """
SELECT d.batch_id, d.source_name, d.entity, d.row_number, d.natural_key, d.first_row_number, d.recorded_at
  FROM quarantine.duplicate_rows d JOIN audit.ingest_batches b USING (batch_id)
 WHERE b.owner_enterprise_id = %(id)s OR (b.owner_enterprise_id IS NULL AND d.enterprise_id = %(id)s)
"""
# a file of the enterprise that could not be read at all, unless the same content loaded later
_FAILED = """
SELECT b.batch_id, b.source_name, b.entity, b.failure_reason, coalesce(b.finished_at, b.started_at), b.attempts
  FROM audit.ingest_batches b
 WHERE b.owner_enterprise_id = %(id)s AND b.status = 'failed'
   AND NOT EXISTS (SELECT 1 FROM audit.ingest_batches l
                    WHERE l.content_sha256 = b.content_sha256 AND l.status <> 'failed')
"""
# the intervals the warehouse rejected, each with the reading that made it (its file and line): one pass over the
# enterprise's readings of those meters, latest correction first
_VEE = """
WITH rejected AS (
    SELECT DISTINCT ON (meter_id, interval_start)
           meter_id, interval_start, interval_end, vee_flag, observed_consumption
      FROM intermediate.int_meter_observations
     WHERE enterprise_id = %(id)s AND quality_code = 'rejected'
     ORDER BY meter_id, interval_start, built_through_batch DESC
)
SELECT DISTINCT ON (o.meter_id, o.interval_start)
       o.meter_id, o.interval_start, o.interval_end, o.vee_flag, o.observed_consumption,
       b.source_name, r.row_number, r.batch_id, r.value::text
  FROM rejected o
  LEFT JOIN raw.readings r
         ON r.enterprise_id = %(id)s AND r.meter_id = o.meter_id
        AND r.period_end > o.interval_start AND r.period_end <= o.interval_end
  LEFT JOIN audit.ingest_batches b ON b.batch_id = r.batch_id
 ORDER BY o.meter_id, o.interval_start, r.sent_at DESC NULLS LAST, r.batch_id DESC, r.row_number DESC
"""
# rejected and duplicate rows are reported from quarantine above (their alerts, DF-REJECTED and DF-DUP, repeat them)
_ALERTS = """
SELECT rule_id, fault_kind, severity, status, meter_id, period_start, period_end, evidence::text, last_seen
  FROM marts.fct_alerts
 WHERE family = 'data_fault' AND enterprise_id = %(id)s AND rule_id NOT IN ('DF-REJECTED', 'DF-DUP')
 ORDER BY status DESC, period_start NULLS FIRST, meter_id, rule_id
"""


def _local(t):
    """A warehouse time as the centres write theirs: ISO 8601 in Beijing time (+08:00)."""
    return t.astimezone(BEIJING).isoformat() if isinstance(t, datetime) else t


def _readable(conn: psycopg.Connection, table: str) -> bool:
    """The warehouse table exists (dbt has built it) and this session may read it."""
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AND has_table_privilege(to_regclass(%s), 'SELECT')", (table, table)
    ).fetchone()
    return bool(row and row[0])


def _rejected(conn: psycopg.Connection, enterprise_id: str) -> list[tuple]:
    params = {"id": enterprise_id}
    rows = conn.execute(_REJECTED.format(where=_OWN), params).fetchall()
    known = {r[0] for r in conn.execute(_KNOWN_IDS).fetchall()} | {enterprise_id}

    def mine(candidate: str | None) -> bool:  # the enterprise is the one nearest identity of this code
        return candidate is not None and [k for k in known if near(candidate, k)] == [enterprise_id]

    strays = [i for (i,) in conn.execute(_STRAY_IDS, params).fetchall() if mine(i)]
    if strays:
        where = "b.owner_enterprise_id IS NULL AND r.enterprise_id = ANY(%(strays)s)"
        rows += conn.execute(_REJECTED.format(where=where), {**params, "strays": strays}).fetchall()
    # rows of shared files whose credit code could not be read (undecodable or malformed lines): from the raw text
    where = "b.owner_enterprise_id IS NULL AND r.enterprise_id IS NULL AND r.raw_row LIKE %(like)s"
    for row in conn.execute(_REJECTED.format(where=where), {**params, "like": "%" + enterprise_id[:8] + "%"}):
        named = _fields(row[8], row[10]).get("enterprise_id")
        if named == enterprise_id or mine(named):
            rows.append(row)
    return rows


def enterprise_errors(url: str, enterprise_id: str) -> list[tuple]:
    """The report's rows (COLUMNS), root causes first, cascades last."""
    return [tuple(e.cells()) for e in _entries(url, enterprise_id)]


def _entries(url: str, enterprise_id: str) -> list[Entry]:
    with psycopg.connect(url) as conn:
        rejected = _rejected(conn, enterprise_id)
        duplicates = conn.execute(_DUPLICATES, {"id": enterprise_id}).fetchall()
        failed = conn.execute(_FAILED, {"id": enterprise_id}).fetchall()
        vee = (
            conn.execute(_VEE, {"id": enterprise_id}).fetchall()
            if _readable(conn, "intermediate.int_meter_observations")
            else []
        )
        alerts = conn.execute(_ALERTS, {"id": enterprise_id}).fetchall() if _readable(conn, "marts.fct_alerts") else []

    unreadable: list[Entry] = []
    for batch_id, source_name, ent, reason, at, attempts in failed:
        unreadable.append(
            Entry(
                "file",
                source_name=source_name,
                entity=ent,
                reason=reason,
                batch_id=batch_id,
                recorded_at=at,
                role=ROOT,
                hint=f"no row of this file was loaded ({attempts} attempt(s)): "
                "fix the file as the reason says and send it again",
            )
        )

    rows: dict[tuple[int | None, int], Entry] = {}
    for batch_id, source_name, ent, row_number, row_enterprise, fld, value, reason, raw_row, at, header in sorted(
        set(rejected), key=lambda r: (r[0], r[3])
    ):
        e = Entry("rejected", source_name, ent, row_number, fld, value, reason, raw_row, batch_id, at)
        named = _fields(raw_row, header)
        e.meter_id = named.get("meter_id") if ent != "enterprises" else None
        e.period_start, e.period_end = named.get("period_start"), named.get("period_end")
        if row_enterprise and row_enterprise != enterprise_id and near(row_enterprise, enterprise_id):
            e.hint = f"credit code {row_enterprise} looks mistyped: did you mean {enterprise_id}?"
        e.named_enterprise = row_enterprise or named.get("enterprise_id")
        rows[(batch_id, row_number)] = e
    for batch_id, source_name, ent, row_number, key, first, at in duplicates:
        e = Entry(
            "duplicate",
            source_name=source_name,
            entity=ent,
            row_number=row_number,
            value=key,
            reason=f"exact duplicate of row {first} of the same file or batch: skipped",
            batch_id=batch_id,
            recorded_at=at,
        )
        parts = key.split("|")
        if ent == "readings" and len(parts) >= 3:
            e.meter_id, e.period_end = parts[1], parts[2]
        rows.setdefault((batch_id, -row_number), e)

    # root causes: the registry rows that were rejected, and files with undecodable lines
    enterprise_root: Entry | None = None
    meter_roots: dict[str, Entry] = {}
    files: dict[int | None, Entry] = {}
    for e in rows.values():
        if e.kind != "rejected" or (e.reason or "").startswith(("unknown enterprise", "unknown meter")):
            continue
        if e.named_enterprise != enterprise_id and not near(e.named_enterprise, enterprise_id):
            continue  # another enterprise's row in this one's file: not what its rows wait for
        if e.entity == "enterprises" and enterprise_root is None:
            enterprise_root = e
        elif e.entity == "meters" and e.meter_id and e.meter_id not in meter_roots:
            meter_roots[e.meter_id] = e
    missing: dict[tuple[str, str], Entry] = {}

    def waiting_for(what: str, name: str) -> Entry:
        if (what, name) not in missing:
            missing[(what, name)] = Entry(
                "missing_registry",
                entity="enterprises" if what == "enterprise" else "meters",
                field="enterprise_id" if what == "enterprise" else "meter_id",
                value=name,
                reason=f"{what} {name} is not in the registry: no {what} row of it was received",
                meter_id=name if what == "meter" else None,
                role=ROOT,
                label_text=f"{what} {name} missing from the registry",
            )
        return missing[(what, name)]

    for e in rows.values():
        if e.kind != "rejected":
            continue
        reason = e.reason or ""
        if reason == ENCODING_REASON:
            if e.batch_id not in files:
                files[e.batch_id] = Entry(
                    "file",
                    source_name=e.source_name,
                    entity=e.entity,
                    batch_id=e.batch_id,
                    recorded_at=e.recorded_at,
                    role=ROOT,
                    hint="the file mixes encodings (e.g. rows pasted from another file): in Excel use "
                    "Save As › 'CSV UTF-8' (or save all of it as GBK/GB18030 'CSV'), then send it again; "
                    "the rows waiting for it then load by themselves",
                    label_text=f"{e.source_name}: encoding",
                )
            e.parent = files[e.batch_id]
        elif reason.startswith("unknown enterprise") and e.named_enterprise == enterprise_id:
            e.parent = enterprise_root or waiting_for("enterprise", enterprise_id)
        elif reason.startswith("unknown meter") and e.meter_id:
            e.parent = meter_roots.get(e.meter_id) or waiting_for("meter", e.meter_id)
        elif m := _REPEATS.match(reason):
            e.parent = rows.get((e.batch_id, int(m.group(1))))
        if e.parent is e:
            e.parent = None
    for batch_id, f in files.items():
        lines = sorted(
            e.row_number or 0 for e in rows.values() if e.batch_id == batch_id and e.reason == ENCODING_REASON
        )
        f.value = f"{len(lines)} lines"
        f.reason = (
            f"{len(lines)} line(s) of this file are neither UTF-8 nor GB18030 (first: line {lines[0]}), "
            "so these rows could not be read"
        )

    # every row rejected only because of a root cause counts under its root, and is listed last
    for e in rows.values():
        if e.parent is not None:
            root = e.root()
            root.children += 1
            root.cascaded_by_entity[e.entity or "rows"] = root.cascaded_by_entity.get(e.entity or "rows", 0) + 1
            root.role = ROOT
            e.role, e.caused_by = CASCADE, root.label()
    for root in [*files.values(), *missing.values(), *(e for e in rows.values() if e.role == ROOT)]:
        if root.children:
            what = _cascade_words(root)
            note = f"{root.children:,} rows rejected because of this ({what}), listed below as cascade"
            if root.kind == "missing_registry":
                root.hint = f"{note}: send the {root.entity} row; the waiting rows then load by themselves"
            elif root.kind == "rejected" and root.entity in ("enterprises", "meters"):
                root.hint = (f"{root.hint}; " if root.hint else "") + (
                    f"{note}: correct this row and send the {root.entity} file again; "
                    "the waiting rows then load by themselves"
                )
            else:
                root.hint = f"{root.hint}. {note}" if root.hint else note

    vee_entries = []
    for meter_id, start, end, flag, consumption, source_name, row_number, batch_id, sent_value in vee:
        flags = [f.strip() for f in (flag or "").split(";") if f.strip()]
        words = "; ".join(VEE_WORDS.get(f, f) for f in flags) or "rejected"
        vee_entries.append(
            Entry(
                "vee_rejected",
                source_name=source_name,
                entity="readings",
                row_number=row_number,
                field="value",
                value=sent_value if sent_value is not None else None if consumption is None else str(consumption),
                reason=f"not booked, rejected by validation: {words}",
                batch_id=batch_id,
                meter_id=meter_id,
                period_start=_local(start),
                period_end=_local(end),
                hint="check the meter and its unit; a corrected reading (same key, later sent_at) replaces it",
            )
        )
    alert_entries = [
        Entry(
            "data_fault",
            entity="readings" if meter_id else None,
            field=fault_kind,
            value=evidence,
            reason=f"{rule_id} {fault_kind}: {severity} alert, {status}",
            recorded_at=last_seen,
            meter_id=meter_id,
            period_start=_local(start),
            period_end=_local(end),
        )
        for rule_id, fault_kind, severity, status, meter_id, start, end, evidence, last_seen in alerts
    ]

    def order(e: Entry) -> tuple:
        return (e.batch_id or 0, abs(e.row_number or 0), e.kind)

    roots = sorted((e for e in rows.values() if e.role == ROOT), key=order)
    errors = sorted((e for e in rows.values() if e.role == ERROR), key=order)
    cascades = sorted((e for e in rows.values() if e.role == CASCADE), key=lambda e: (e.caused_by or "", *order(e)))
    return [
        *unreadable,  # files that could not be read at all
        *sorted(files.values(), key=order),
        *roots,
        *sorted(missing.values(), key=lambda e: e.value or ""),
        *errors,
        *vee_entries,
        *alert_entries,
        *cascades,
    ]


def _cascade_words(root: Entry) -> str:
    """What cascaded, in words: '70,081 readings of meter EL-02', '1 meters row, 12 readings'."""
    counts = root.cascaded_by_entity
    words = ", ".join(
        f"{n:,} readings" if ent == "readings" else f"{n:,} {ent} row{'' if n == 1 else 's'}"
        for ent, n in sorted(counts.items())
    )
    if root.meter_id and root.entity == "meters":
        words += f" of meter {root.meter_id}"
    return words


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
    """The report as CSV, UTF-8 with a byte-order mark (Excel on Chinese Windows reads a CSV without one
    in the ANSI code page, GBK, and shows UTF-8 Chinese as mojibake); counts per kind and role."""
    entries = _entries(url, enterprise_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for e in entries:
            w.writerow(["" if v is None else v for v in e.cells()])
    kinds = dict.fromkeys(KINDS, 0)
    for e in entries:
        kinds[e.kind] += 1
    roles = {ROOT: 0, ERROR: 0, CASCADE: 0}
    for e in entries:
        roles[e.role] += 1
    return {
        "enterprise_id": enterprise_id,
        "path": str(out),
        "rows": len(entries),
        **kinds,
        "root_causes": roles[ROOT],
        "cascaded": roles[CASCADE],
    }
