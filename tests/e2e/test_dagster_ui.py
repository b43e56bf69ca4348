"""Operating from the Dagster UI: the webserver and the daemon start on a temporary
DAGSTER_HOME, a run launched through the GraphQL API succeeds and loads the warehouse, and the
schedules, sensors, partitions and checks the data team operates are visible."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest
import requests

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_webserver(env, home, attempts=3, seconds=300):
    """The webserver on a free port, its own log apart from the daemon's. The port is chosen before the
    server binds it, so another process (a gRPC code server of the daemon, a parallel test) can take it
    first: a webserver that exits, or a port that answers but not as Dagster, is retried on a new port."""
    for attempt in range(attempts):
        port = _free_port()
        log_path = home / f"webserver-{attempt}.log"
        with open(log_path, "w") as log:
            web = subprocess.Popen(
                [str(BIN / "dagster-webserver"), "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.time() + seconds
        while time.time() < deadline and web.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=10).ok:
                    return web, port
            except requests.RequestException:
                pass
            time.sleep(1)
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait()
    pytest.fail(f"dagster-webserver did not start in {attempts} attempts: " + log_path.read_text()[-3000:])


def _wait_for_code_location(port, seconds=600) -> str:
    """The webserver answers before its code location has loaded (it loads in the background: on a busy
    machine the import of the definitions takes minutes). Queried meanwhile, the location has no repository
    and a launch answers PipelineNotFoundError. Waits until it is LOADED; a load error fails with its
    message."""
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } } } } } }"""
    deadline, entries = time.time() + seconds, []
    while time.time() < deadline:
        entries = _graphql(port, query)["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            errors = [e["locationOrLoadError"] for e in entries]
            errors = [err for err in errors if err["__typename"] == "PythonError"]
            assert not errors, "the code location failed to load: " + "\n".join(
                err["message"] + "".join(err["stack"]) for err in errors
            )
            return entries[0]["name"]
        time.sleep(2)
    pytest.fail(f"the code location did not load in {seconds} s: {entries}")


def _graphql(port, query, variables=None):
    resp = requests.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
    )
    resp.raise_for_status()
    body = resp.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.fixture(scope="module")
def dagster(tmp_path_factory, fresh_database):
    from ingestion.simulator import simulate
    from orchestration.pipeline import prepare_dagster_home

    home = tmp_path_factory.mktemp("dagster_home")
    # as `make ui` does: settings and storage made before the daemon and the webserver start side by side
    prepare_dagster_home(home).dispose()
    iem_home = tmp_path_factory.mktemp("iem_home")
    # the feed lies outside the landing folder and the launched run is told where: the landing sensor (on by
    # default, as in `make ui`) then has nothing to start a second, concurrent build for
    simulate(iem_home / "feed", enterprises=3, start=date(2026, 2, 1), days=2, seed=5, faults="none")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "IEM_HOME": str(iem_home),
        "IEM_DATABASE_URL": fresh_database(),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    logs = open(home / "daemon.log", "w")  # noqa: SIM115 - held by the daemon until teardown
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", "orchestration.definitions"],
        env=env,
        stdout=logs,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        web, port = _start_webserver(env, home)
    except BaseException:
        os.killpg(daemon.pid, signal.SIGKILL)
        logs.close()
        raise
    try:
        location = _wait_for_code_location(port)
    except BaseException:
        for proc in (web, daemon):
            os.killpg(proc.pid, signal.SIGKILL)
        logs.close()
        raise
    yield port, location, env, home
    for proc in (web, daemon):
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in (web, daemon):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    logs.close()


def test_a_run_launched_through_graphql_succeeds(dagster):
    port, location, env, home = dagster
    feed = Path(env["IEM_HOME"]) / "feed"
    launched = _graphql(
        port,
        """
        mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
          __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
          ... on RunConfigValidationInvalid { errors { message } } } }""",
        {
            "p": {
                "selector": {
                    "repositoryLocationName": location,
                    "repositoryName": "__repository__",
                    "jobName": "ingest_and_transform_job",
                },
                "runConfigData": {"ops": {"raw_feeds": {"config": {"source": "landing", "path": str(feed)}}}},
            }
        },
    )
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["launchRun"]["run"]["runId"]
    status, deadline = None, time.time() + 600
    while time.time() < deadline:
        status = _graphql(port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})[
            "runOrError"
        ]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", (home / "daemon.log").read_text()[-5000:]
    with psycopg.connect(env["IEM_DATABASE_URL"]) as conn:
        assert conn.execute("select count(*) from raw.readings").fetchone()[0] > 0
        assert conn.execute("select count(*) from marts.fct_enterprise_monthly").fetchone()[0] > 0


def test_schedules_sensors_partitions_and_checks_are_visible(dagster):
    port, _, _, _ = dagster
    data = _graphql(
        port,
        """{ repositoriesOrError { ... on RepositoryConnection { nodes {
        schedules { name cronSchedule executionTimezone }
        sensors { name }
        jobs { name }
    } } } }""",
    )
    repo = data["repositoriesOrError"]["nodes"][0]
    schedules = {s["name"]: (s["cronSchedule"], s["executionTimezone"]) for s in repo["schedules"]}
    assert schedules["monthly_export_schedule"] == ("0 6 5 * *", "Asia/Shanghai")
    assert "daily_transform_schedule" in schedules and "http_pull_schedule" in schedules
    assert {"landing_sensor"} <= {s["name"] for s in repo["sensors"]}
    checks = _graphql(
        port,
        """{ assetNodes(assetKeys: [{path: ["marts", "fct_enterprise_monthly"]}]) {
        assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }""",
    )
    names = {c["name"]: c["blocking"] for c in checks["assetNodes"][0]["assetChecksOrError"]["checks"]}
    assert "gx_marts_integrity" in names and "gx_marts_data_quality" in names
    part = _graphql(
        port,
        """{ assetNodes(assetKeys: [{path: ["export", "national_export"]}]) {
        partitionKeys } }""",
    )
    assert "2026-01-01" in part["assetNodes"][0]["partitionKeys"]


@pytest.mark.xdist_group("demo")
def test_the_ui_on_the_command_lines_home_shows_its_run_and_exported_month(demo_run, tmp_path):
    # before: `iem run` recorded its runs in an ephemeral instance, so `make ui` afterwards showed no run and
    # all 179 export partitions Missing although 2026-02 was exported. `make ui` uses $IEM_HOME/dagster, as
    # the command line does; the webserver alone (no daemon: nothing scheduled may change the shared demo
    # warehouse) reads what `iem run` recorded there
    home, demo_env, proc = demo_run
    assert proc.returncode == 0
    run_id = json.loads(proc.stdout.strip().splitlines()[-1])["run_id"]
    env = {**demo_env, "DAGSTER_HOME": str(home / "dagster"), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    web, port = _start_webserver(env, tmp_path)
    try:
        _wait_for_code_location(port)
        runs = _graphql(
            port,
            """{ runsOrError(filter: {pipelineName: "iem_main_job"}) {
                 ... on Runs { results { runId status tags { key value } } } } }""",
        )["runsOrError"]["results"]
        assert {(r["runId"], r["status"]) for r in runs} >= {(run_id, "SUCCESS")}
        partition = next(r for r in runs if r["runId"] == run_id)["tags"]
        assert {"key": "dagster/partition", "value": "2026-02-01"} in partition
        node = _graphql(
            port,
            """{ assetNodes(assetKeys: [{path: ["export", "national_export"]}]) {
                 partitionStats { numMaterialized }
                 assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } } } }""",
        )["assetNodes"][0]
        assert node["partitionStats"]["numMaterialized"] == 1
        assert node["assetPartitionStatuses"]["ranges"] == [
            {"startKey": "2026-02-01", "endKey": "2026-02-01", "status": "MATERIALIZED"}
        ]
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
