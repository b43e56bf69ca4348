"""How dbt reaches the warehouse: profiles.yml reads only environment variables, set from the URL."""

from __future__ import annotations

import os
from pathlib import Path

from .database import connection_parts, database_url, stage_role, warehouse_build_lock
from .settings import DBT_PROJECT_DIR


def dbt_environment(url: str | None = None) -> dict[str, str]:
    parts = connection_parts(url or database_url())
    return {
        "IEM_PG_HOST": str(parts["host"]),
        "IEM_PG_PORT": str(parts["port"]),
        "IEM_PG_USER": parts["user"],
        "IEM_PG_PASSWORD": parts["password"],
        "IEM_PG_DBNAME": parts["dbname"],
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        # PostgreSQL's JIT compiles every costly plan; for the incremental builds' short queries the
        # compilation took longer than the query (3.6 s of 4.5 s for int_meter_intervals)
        "PGOPTIONS": "-c jit=off",
        # dbt's file log (dbt.log in the warehouse's target folder for Dagster's builds, dbt_project/logs/ for
        # run_dbt's) at info: each node's result and seconds, not the text and
        # timing of every SQL statement (debug, dbt's default). Serialising the debug events cost about 1.5 s of
        # a 19 s build of the demo warehouse with nothing new (3 runs each, alternating). A person diagnosing
        # a build sets DBT_LOG_LEVEL_FILE=debug; the compiled SQL of every node is in the target folder.
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE", "info"),
        # dbt runs as the transformer role, whatever user the URL names: the profile's `role`
        # (SET ROLE on each of dbt's connections; not PGOPTIONS, which would reach every connection of
        # this process once set)
        "IEM_PG_ROLE": stage_role("transformer"),
        # the embedded server's password file (libpq reads it when the password is empty)
        **({"PGPASSFILE": parts["passfile"]} if parts["passfile"] else {}),
    }


# The platform's own dbt invocations (the Dagster graph's build, `run_dbt`) leave dbt's unit tests out: their
# inputs are fixed rows in YAML, so running them against every new batch proves nothing new and cost about 2 s
# of every build. dbt's guidance is the same (unit tests belong in development and CI, not in production
# runs). CI runs them once per database (tests/integration/test_indicators.py) with `unit_tests=True`;
# `make dbt-unit-test` runs them by hand. dbt run by hand (`--exports`) keeps its own default.
#
# A build of part of the warehouse (a 15-minute round, dbt_project/selectors.yml; the silent-feed job) runs a
# test only when every model the test reads is built with it (dbt's `cautious` indirect selection): a test
# comparing a rebuilt model with one left as it was (the daily marts against the monthly ones) would compare
# today's rows with yesterday's. A whole build selects every model, so there it changes nothing.
PLATFORM_RUN_ENVIRONMENT = {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test", "DBT_INDIRECT_SELECTION": "cautious"}


def apply_dbt_environment(url: str | None = None, *, unit_tests: bool = False) -> None:
    os.environ.update(dbt_environment(url))
    if unit_tests:
        os.environ.pop("DBT_EXCLUDE_RESOURCE_TYPES", None)
    else:
        os.environ.update(PLATFORM_RUN_ENVIRONMENT)


def warehouse_target_path(url: str | None = None, project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """dbt's target folder for one warehouse (host, port, database): every build of that warehouse, from
    the Dagster graph or from `run_dbt`, writes its artifacts there, so the next build finds dbt's saved
    parse state (partial_parse.msgpack) and re-parses only what changed instead of the whole project
    (about 5 s of every build on a quiet machine, twice that in CI). The state cannot be shared between
    warehouses: dbt re-parses when the connection (its database name) differs. Builds of one warehouse
    are serialised by `warehouse_build_lock`, so two never write one folder at a time; builds of
    different warehouses (tests in parallel, a benchmark beside a run) use different folders."""
    import hashlib

    parts = connection_parts(url or database_url())
    key = f"{parts['host']}:{parts['port']}/{parts['dbname']}"
    return project_dir / "target" / f"warehouse-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def run_dbt(args: list[str], url: str | None = None, project_dir: Path = DBT_PROJECT_DIR, *, unit_tests: bool = False):
    """Invoke dbt in-process (dbtRunner) against the warehouse. Raises on failure.

    Artifacts go to the warehouse's own target folder (`warehouse_target_path`), unless the caller names
    a `--target-path`. dbt's unit tests are left out unless `unit_tests` (PLATFORM_RUN_ENVIRONMENT)."""
    from dbt.cli.main import dbtRunner

    apply_dbt_environment(url, unit_tests=unit_tests)
    own_target = [] if "--target-path" in args else ["--target-path", str(warehouse_target_path(url, project_dir))]
    full = [*args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), *own_target]
    with warehouse_build_lock(url):
        result = dbtRunner().invoke(full)
    if not result.success:
        raise RuntimeError(f"dbt {' '.join(args)} failed: {result.exception or 'see dbt output above'}")
    return result


if __name__ == "__main__":  # `python -m orchestration.dbt_env --exports`: shell exports for running dbt by hand
    import shlex
    import sys

    if sys.argv[1:] != ["--exports"]:
        sys.exit("usage: python -m orchestration.dbt_env --exports")
    for key, value in dbt_environment().items():
        print(f"export {key}={shlex.quote(value)}")
