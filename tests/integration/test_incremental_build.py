"""Incremental warehouse builds give exactly what a full build of the same data gives.

One faulty simulation arrives as it would in operation: the bulk first, then a new day, then a batch
of old history together with the last days (late rows and corrections included). One database is
built after every arrival (incremental VEE models), another once from everything (full build); the
VEE intermediates, the marts and the alert candidates must be identical.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest
import yaml

from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.dbt_env import run_dbt, warehouse_target_path
from orchestration.defs.ingestion.sensors import round_or_whole_build
from orchestration.pipeline import execute_job
from orchestration.resources import PlatformPathsResource, WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR

SEED, ENTERPRISES, START, DAYS = 11, 5, date(2026, 3, 10), 12
DAY_PATTERN = re.compile(r"(\d{4}-\d{2}-\d{2})[T ]")

# model → key columns (rows compared after sorting on them); built_through_batch is build state
COMPARED = {
    "intermediate.int_meter_cadence": ["enterprise_id", "meter_id"],
    "intermediate.int_meter_observations": ["enterprise_id", "meter_id", "interval_start"],
    "intermediate.int_meter_intervals": ["enterprise_id", "meter_id", "interval_start"],
    "intermediate.int_meter_daily": ["enterprise_id", "meter_id", "local_date"],
    "intermediate.int_alert_candidates": ["rule_id", "enterprise_id", "meter_id", "period_start", "evidence"],
    "marts.fct_enterprise_energy_daily": ["enterprise_id", "date", "energy_code"],
    "marts.fct_enterprise_monthly": ["enterprise_id", "month"],
    "marts.rpt_quality_scorecard": ["enterprise_id", "month"],
    "marts.fct_region_monthly": ["region_code", "month"],
}


def split_readings_by_day(feed: Path, days: set[str], target: Path) -> int:
    """Move the reading lines whose period starts (or ends) on one of `days` into `target`, keeping the
    header and relative paths; lines that carry no readable date stay where they are."""
    moved = 0
    for path in sorted(feed.rglob("readings*.csv")):
        lines = path.read_bytes().split(b"\n")
        header, body = lines[0], [x for x in lines[1:] if x]
        keep, move = [], []
        for line in body:
            found = DAY_PATTERN.search(line.decode("utf-8", "replace"))
            (move if found and found.group(1) in days else keep).append(line)
        if move:
            path.write_bytes(b"\n".join([header, *keep]) + b"\n")
            out = target / path.relative_to(feed)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"\n".join([header, *move]) + b"\n")
            moved += len(move)
    return moved


NEW_DAY = START + timedelta(days=DAYS - 3)  # the day the `arrivals` fixture holds back as the new day


def _rows_on(url: str, name: str, column: str, day: date) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"select count(*) from {name} where {column} = %s", (day,)).fetchone()[0]


def table(url: str, name: str, keys: list[str]) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(f"select * from {name}")
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    frame = frame.drop(columns=[c for c in ("built_through_batch",) if c in frame.columns])
    frame = frame.astype({c: str for c in frame.columns if frame[c].dtype == object})
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="module")
def arrivals(tmp_path_factory):
    root = tmp_path_factory.mktemp("arrivals")
    feed, new_day, late = root / "bulk", root / "new_day", root / "late"
    simulate(feed, enterprises=ENTERPRISES, start=START, days=DAYS, seed=SEED, faults="default")
    last = [(START + timedelta(days=DAYS - k)).isoformat() for k in (3, 2, 1)]
    assert split_readings_by_day(feed, {last[0]}, new_day) > 0
    assert split_readings_by_day(feed, set(last[1:]), late) > 0
    # old history: the same world (same seed) three weeks earlier, readings only
    history = root / "history_sim"
    simulate(history, enterprises=ENTERPRISES, start=START - timedelta(days=21), days=2, seed=SEED, faults="none")
    for path in history.rglob("readings*.csv"):
        # under the enterprise's own folder: the owner of a file is the first folder under the drop
        rel = path.relative_to(history)
        out = late / rel.parts[0] / "history" / Path(*rel.parts[1:])
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out)
    return feed, new_day, late


@pytest.fixture(scope="module")
def incremental_and_full(arrivals, fresh_database, tmp_path_factory):
    bulk, new_day, late = arrivals
    incremental, full = fresh_database(), fresh_database()
    run_dbt(["seed"], incremental)
    ingest_path(incremental, bulk)
    run_dbt(["run"], incremental)
    never_built = fresh_database()
    after_round_job = {"never_built": round_or_whole_build(never_built), "built": round_or_whole_build(incremental)}
    monthly_before_round = table(incremental, "marts.fct_enterprise_monthly", COMPARED["marts.fct_enterprise_monthly"])

    # the new day arrives as 15-minute rounds do: the landing sensor's quarter_hour_round_job loads it and builds
    # only the round's selection (readings, VEE, daily energy, alerts); the monthly marts stay as they were
    def round_job(url: str):
        return execute_job(
            "quarter_hour_round_job",
            run_config={"ops": {"raw_feeds": {"config": {"path": str(new_day)}}}},
            resources={
                "warehouse": WarehouseResource(url=url),
                "platform_paths": PlatformPathsResource(home=str(tmp_path_factory.mktemp("round_home"))),
            },
            instance=dg.DagsterInstance.ephemeral(),
        )

    round_run = round_job(incremental)
    assert round_run.success, round_run.failed_steps
    round_nodes = {
        r["unique_id"].split(".")[2]
        for r in json.loads((warehouse_target_path(incremental) / "run_results.json").read_text())["results"]
    }
    after_round = {
        "nodes": round_nodes,
        "on_a_warehouse_never_built": round_job(never_built),
        "monthly_before": monthly_before_round,
        "monthly_after": table(incremental, "marts.fct_enterprise_monthly", COMPARED["marts.fct_enterprise_monthly"]),
        "new_day_in_daily_mart": _rows_on(incremental, "marts.fct_enterprise_energy_daily", "date", NEW_DAY),
        "new_day_in_intervals": _rows_on(incremental, "intermediate.int_meter_intervals", "local_date", NEW_DAY),
        "sensor_launches": after_round_job,
    }
    # then the daily build (it also runs the data tests, on the rows it rebuilt) brings the rest up to date
    ingest_path(incremental, late)
    run_dbt(["build"], incremental)
    for drop in (bulk, new_day, late):
        ingest_path(full, drop)
    run_dbt(["seed"], full)
    run_dbt(["run"], full)
    return incremental, full, after_round


@pytest.mark.parametrize("name", sorted(COMPARED))
def test_incremental_build_equals_full_build(incremental_and_full, name):
    incremental, full, _ = incremental_and_full
    a, b = table(incremental, name, COMPARED[name]), table(full, name, COMPARED[name])
    assert len(a) == len(b) and len(a) > 0, (name, len(a), len(b))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def test_a_quarter_hour_round_builds_the_days_and_leaves_the_monthly_marts_to_the_daily_build(incremental_and_full):
    """The round (quarter_hour_round_job, dbt selector quarter_hour_round) booked the new day's readings onto
    the meters' intervals and into the enterprises' daily energy, and did not touch the monthly mart; the
    daily build after it then gave what a full build gives (test_incremental_build_equals_full_build)."""
    _, _, after_round = incremental_and_full
    # 5 enterprises × their meters × 96 quarter hours are booked, and each enterprise has daily rows
    assert after_round["new_day_in_intervals"] >= ENTERPRISES * 96
    assert after_round["new_day_in_daily_mart"] >= ENTERPRISES
    pd.testing.assert_frame_equal(after_round["monthly_after"], after_round["monthly_before"])
    # the round's dbt build: its models and the tests whose every model is in it, the booking conservation tests
    # among them (they check the rows the round rebuilt); not the monthly marts, not the test comparing daily
    # with monthly (cautious selection)
    assert {
        "stg_raw__readings",
        "int_meter_intervals",
        "fct_enterprise_energy_daily",
        "fct_alerts",
        *(
            f"{test}_int_meter_observations__shard_{shard}_{shard}"
            for test in ("interval_bookings_conserved", "register_bookings_within_advance")
            for shard in range(VEE_SHARDS)
        ),
    } <= after_round["nodes"]
    assert not after_round["nodes"] & {"fct_enterprise_monthly", "assert_monthly_is_sum_of_daily"}
    # on a warehouse that never had a whole build, a round stops at the build and says what to do
    never = after_round["on_a_warehouse_never_built"]
    assert not never.success and never.failed_steps == ["dbt_warehouse"]
    # the landing sensor launches rounds only on a warehouse that had a whole build
    assert after_round["sensor_launches"] == {
        "never_built": "ingest_and_transform_job",
        "built": "quarter_hour_round_job",
    }


def test_old_history_and_late_days_were_really_incremental(incremental_and_full):
    """The last build rebuilt a small part of the interval table, not all of it (the old-history
    stretch and the last days), and its rows carry the latest batch."""
    incremental, _, _ = incremental_and_full
    with psycopg.connect(incremental) as conn:
        total, latest = conn.execute(
            "select count(*), count(*) filter (where built_through_batch = "
            "(select max(built_through_batch) from intermediate.int_meter_intervals)) "
            "from intermediate.int_meter_intervals"
        ).fetchone()
        first = conn.execute("select min(interval_start) from intermediate.int_meter_intervals").fetchone()[0]
    assert first.date() < START - timedelta(days=18)  # the old history is in the grid
    assert 0 < latest < total


def _open_batch(
    url: str, enterprise_id: str, meter_id: str, period_end, commit: bool
) -> tuple[int, psycopg.Connection]:
    """A load of one reading, as the loader does it (batch marked in flight for its transaction)."""
    from ingestion.schema import hold_batch_in_flight

    conn = psycopg.connect(url)
    hold_batch_in_flight(conn)
    batch = conn.execute(
        "insert into audit.ingest_batches (source, source_name, entity, content_sha256, size_bytes, "
        "owner_enterprise_id, "
        "rows_read, rows_loaded) values ('file', %s, 'readings', %s, 1, %s, 1, 1) returning batch_id",
        (f"{meter_id}-{period_end}.csv", f"{meter_id}-{period_end}", enterprise_id),
    ).fetchone()[0]
    conn.execute(
        "insert into raw.readings (batch_id, row_number, enterprise_id, meter_id, period_start, period_end, "
        "value, unit, quality, sent_at) values (%s, 2, %s, %s, %s - interval '15 minutes', %s, 1, 'kWh', "
        "'measured', %s)",
        (batch, enterprise_id, meter_id, period_end, period_end, period_end),
    )
    if commit:
        conn.commit()
        conn.close()
    return batch, conn


@pytest.mark.parametrize(
    "model, present",
    [
        (
            # the bound the staging shards read up to waits for the batches in flight, then the shards and their view
            "stg_raw__readings_through+,+stg_raw__readings",
            "select count(*) from staging.stg_raw__readings where batch_id = %s",
        ),
        ("int_raw_reading_counts", "select count(*) from intermediate.int_raw_reading_counts where batch_id = %s"),
    ],
)
def test_a_batch_committing_after_a_later_one_is_not_skipped(fresh_database, tmp_path, model, present):
    """Batch ids are given out when a load starts, so batch b can commit after batch b + 1. A model
    reading raw by batch waits for the batches in flight; otherwise its state would pass b and b's
    rows would never reach it."""
    import threading
    import time

    url = fresh_database()
    feed = tmp_path / "feed"
    simulate(feed, enterprises=2, start=START, days=2, seed=SEED, faults="none")
    ingest_path(url, feed)
    run_dbt(["seed"], url)
    run_dbt(["run", "--select", "+stg_raw__readings", "int_raw_reading_counts"], url)
    with psycopg.connect(url) as conn:
        enterprise_id, meter_id, last_end = conn.execute(
            "select enterprise_id, meter_id, max(period_end) from staging.stg_raw__readings "
            "where meter_id = 'EL-01' group by 1, 2 order by 1 limit 1"
        ).fetchone()
    slow_batch, slow = _open_batch(url, enterprise_id, meter_id, last_end + timedelta(minutes=15), commit=False)
    _open_batch(
        url, enterprise_id, meter_id, last_end + timedelta(minutes=30), commit=True
    )  # later id, committed first
    build = threading.Thread(target=run_dbt, args=(["run", "--select", model], url))
    build.start()
    with psycopg.connect(url, autocommit=True) as watch:
        deadline = time.monotonic() + 120
        while not watch.execute("select count(*) from pg_locks where locktype = 'advisory' and not granted").fetchone()[
            0
        ]:
            assert build.is_alive() and time.monotonic() < deadline, f"{model} did not wait for the batch in flight"
            time.sleep(0.2)
    slow.commit()
    slow.close()
    build.join()
    run_dbt(["run", "--select", model], url)  # the next build
    with psycopg.connect(url) as conn:
        assert conn.execute(present, (slow_batch,)).fetchone()[0] == 1


# the tables the VEE works in; staged readings, observations and intervals are views over their shard tables
# (macros/vee_shards.sql)
VEE_SHARDS = int(yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["vee_shards"])
WORKING_TABLES = {
    **{
        f"staging.stg_raw__readings__shard_{shard}": ["enterprise_id", "meter_id", "period_end"]
        for shard in range(VEE_SHARDS)
    },
    **{
        f"intermediate.{model}__shard_{shard}": COMPARED[f"intermediate.{model}"]
        for model in ("int_meter_observations", "int_meter_intervals")
        for shard in range(VEE_SHARDS)
    },
    "intermediate.int_meter_daily": COMPARED["intermediate.int_meter_daily"],
}


def _storage(url: str) -> dict[str, tuple[str, list[str]]]:
    with psycopg.connect(url) as conn:
        return {
            name: conn.execute(
                "select relpersistence, coalesce(reloptions, '{}') from pg_class where oid = %s::regclass", (name,)
            ).fetchone()
            for name in WORKING_TABLES
        }


def test_a_crash_empties_the_working_tables_and_the_next_build_restores_them(fresh_database, tmp_path):
    """The VEE working tables are UNLOGGED (macros/incremental_vee.sql: align_table_storage): after a server
    crash PostgreSQL empties them. The next build must then restore them, and every mart, exactly as they
    were. Emptied here with TRUNCATE, which leaves them as crash recovery does. A table an earlier release
    built (logged, default autovacuum) is aligned by the next build."""
    url = fresh_database()
    feed = tmp_path / "feed"
    simulate(feed, enterprises=2, start=START, days=4, seed=SEED, faults="default")
    ingest_path(url, feed)
    run_dbt(["seed"], url)
    run_dbt(["run"], url)
    wanted_options = {"autovacuum_vacuum_insert_threshold=-1", "autovacuum_analyze_threshold=2147483647"}
    for name, (persistence, options) in _storage(url).items():
        assert persistence == "u" and wanted_options <= set(options), (name, persistence, options)
    # every table and view the VEE builds (with two enterprises, a shard table may hold none of them)
    compared = {**WORKING_TABLES, **{k: v for k, v in COMPARED.items() if k not in WORKING_TABLES}}
    before = {name: table(url, name, keys) for name, keys in compared.items()}
    assert all(len(frame) > 0 for name, frame in before.items() if "__shard_" not in name)

    with psycopg.connect(url) as conn:
        conn.execute(f"truncate {', '.join(WORKING_TABLES)}")  # what crash recovery leaves
        # as an earlier release built it
        conn.execute("alter table intermediate.int_meter_daily set logged")
        conn.execute("alter table intermediate.int_meter_daily reset (autovacuum_vacuum_insert_threshold)")
    run_dbt(["run"], url)

    for name, (persistence, options) in _storage(url).items():
        assert persistence == "u" and wanted_options <= set(options), (name, persistence, options)
    for name, keys in compared.items():
        pd.testing.assert_frame_equal(table(url, name, keys), before[name], check_exact=False, rtol=1e-9, obj=name)
