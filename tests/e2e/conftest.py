"""The demo warehouse, built once per test run and shared by the e2e tests that read it: `iem run --json`
as a new user runs it (demo feed → ingest → transform → check → export → dashboards), in a home and a
database of its own. Its tests share one pytest-xdist worker (group "demo")."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.iem_cli import IEM, run_iem


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, fresh_database):
    """(IEM_HOME, environment, the first `iem run --json`)."""
    home = tmp_path_factory.mktemp("iem_home")
    env = {**os.environ, "IEM_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)  # the CLI records its runs in $IEM_HOME/dagster
    if os.environ.get("IEM_DATABASE_URL"):
        env["IEM_DATABASE_URL"] = fresh_database(bootstrap=False)  # its own database on the server
    else:
        env.pop("IEM_DATABASE_URL", None)  # the embedded default under this IEM_HOME
    proc = run_iem(["run", "--json"], env)
    yield home, env, proc
    if "IEM_DATABASE_URL" not in env:
        subprocess.run([*IEM, "db", "stop"], env=env, capture_output=True, timeout=120, check=False)
