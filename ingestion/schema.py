"""Raw, audit and quarantine tables (idempotent DDL) and monthly partitions of raw.readings."""

from __future__ import annotations

from datetime import date
from importlib import resources

import psycopg
from psycopg import sql


def ensure_raw_schema(conn: psycopg.Connection) -> None:
    """The raw, audit and quarantine tables, and the access-end service's own (audit.access_end_*),
    created by the bootstrap so that the grants that follow cover them: `iem serve` runs as iem_loader."""
    for name in ("sql/schema.sql", "sql/access_end.sql"):
        conn.execute(resources.files("ingestion").joinpath(name).read_text(encoding="utf-8"))


def hold_batch_in_flight(conn: psycopg.Connection) -> None:
    """Mark this transaction as loading a batch until it ends (shared advisory lock). Incremental
    staging takes the same lock exclusively before it reads raw (dbt pre-hook), so it waits for the
    batches in flight and never sees a later batch id commit before an earlier one: a batch that
    commits late can never fall behind staging's state and be skipped."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('iem.batches_in_flight'))")


def month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def existing_reading_partitions(conn: psycopg.Connection) -> set[date]:
    """Months that already have a partition of raw.readings."""
    names = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE n.nspname = 'raw' AND p.relname = 'readings' AND c.relname ~ '^readings_[0-9]{6}$'"
    ).fetchall()
    return {date(int(r[0][9:13]), int(r[0][13:15]), 1) for r in names}


def ensure_reading_partitions(conn: psycopg.Connection, months: set[date]) -> None:
    """Create raw.readings_YYYYMM for each month (bounds in Asia/Shanghai local time), in the caller's
    transaction. CREATE TABLE IF NOT EXISTS alone is not safe against a concurrent creation of the same
    month (the loser fails on a catalog unique index), so loaders that add partitions take a
    transaction-level advisory lock first: held until the file's transaction ends."""
    missing = months - existing_reading_partitions(conn)
    if not missing:
        return
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('iem.reading_partitions'))")
    for m in sorted(months - existing_reading_partitions(conn)):
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS raw.{} PARTITION OF raw.readings FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(f"readings_{m:%Y%m}"),
                sql.Literal(f"{m.isoformat()} 00:00:00+08"),
                sql.Literal(f"{next_month(m).isoformat()} 00:00:00+08"),
            )
        )
