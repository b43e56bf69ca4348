"""Overlapping warehouse builds (a sensor run, a scheduled run and a hand-launched run at once) are
serialised by an advisory lock: a second dbt invocation waits for the first instead of colliding with
"relation already exists", then succeeds."""

from __future__ import annotations

import threading
import time

import psycopg

from orchestration.database import warehouse_build_lock
from orchestration.dbt_env import run_dbt


def test_a_second_build_waits_for_the_lock_then_succeeds(warehouse_url):
    done = threading.Event()
    errors: list[BaseException] = []

    def build():
        try:
            run_dbt(["seed", "--quiet"], warehouse_url)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)
        finally:
            done.set()

    with warehouse_build_lock(warehouse_url):
        worker = threading.Thread(target=build)
        worker.start()
        time.sleep(12)  # unlocked, a dbt seed of the reference data takes about 5 s here
        assert not done.is_set(), "the build ran while another held the warehouse build lock"
        with psycopg.connect(warehouse_url) as conn:
            assert conn.execute("select to_regclass('reference.energy_types')").fetchone()[0] is None
    assert done.wait(120), "the build never went on after the lock was released"
    worker.join()
    assert errors == []
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("select count(*) from reference.energy_types").fetchone()[0] > 0
