"""Roles (DESIGN §3): the analyst reads marts and reference, and is denied raw, quarantine and audit —
also for tables created after bootstrap (default privileges), as dbt creates marts."""

import psycopg
import pytest

from orchestration.database import bootstrap


def test_analyst_reads_marts_and_reference_only(warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marts.fct_example AS SELECT 1 AS x")
        conn.execute("CREATE TABLE reference.example AS SELECT 2 AS y")
        conn.execute("CREATE TABLE staging.example AS SELECT 3 AS z")
        bootstrap(warehouse_url)  # idempotent: running it again changes nothing and breaks nothing
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("SET ROLE iem_analyst")
        assert conn.execute("SELECT x FROM marts.fct_example").fetchone() == (1,)
        assert conn.execute("SELECT y FROM reference.example").fetchone() == (2,)
        conn.commit()
        for table in (
            "raw.readings",
            "raw.enterprises",
            "quarantine.rejected_rows",
            "audit.ingest_batches",
            "staging.example",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {table} LIMIT 1")
            conn.rollback()
            conn.execute("SET ROLE iem_analyst")


def test_loader_writes_raw_but_cannot_read_marts(warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marts.fct_example2 AS SELECT 1 AS x")
        conn.execute("SET ROLE iem_loader")
        conn.execute(
            "INSERT INTO quarantine.rejected_rows (batch_id, source_name, entity, row_number, reason) "
            "VALUES (1, 'f', 'readings', 2, 'test')"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM marts.fct_example2")
