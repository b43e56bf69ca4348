"""A pilot day ingested and built (DESIGN §8: ~1,000 enterprises × ~20 meters × 96 intervals a day, target
under 60 s on 2 cores), with some days already held.

The simulator writes `enterprises` for held_days + 1 days (clean, fixed seed); the readings of the last day
are split off into their own files (benchmarks.incremental_build._split_last_day). The held days are ingested
and built once into a "held" database; every measurement then starts from a copy of it (CREATE DATABASE …
TEMPLATE), so repeated tries start from the same state: the new day is ingested (timed) and `dbt build`
(timed, per model from dbt's run results). Beside it, in the same copy, a baseline: a plain
`INSERT … SELECT` of the new day's readings into an unindexed table, and the ratio build / baseline.

Simulating 1,000 enterprises takes minutes: `--feed DIR` keeps the feed (DIR/held, DIR/new_day) and reuses
it when it is there; `--held-db NAME --reuse-held` keeps the held database and reuses it. Usage:

    python -m benchmarks.pilot_day --enterprises 1000 --meters-per-enterprise 20 --held-days 3 \\
        [--feed DIR] [--held-db NAME] [--reuse-held] [--keep] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.database import bootstrap, database_on_cluster, database_url, drop_database
from orchestration.dbt_env import run_dbt

from .incremental_build import START, _split_last_day


def prepare_feed(feed_dir: Path, enterprises: int, meters: int, held_days: int, seed: int = 5) -> dict:
    """DIR/held and DIR/new_day (and DIR/sizes.json); reused when DIR/sizes.json matches the sizes asked."""
    wanted = {"enterprises": enterprises, "meters_per_enterprise": meters, "held_days": held_days, "seed": seed}
    sizes_path = feed_dir / "sizes.json"
    if sizes_path.exists():
        sizes = json.loads(sizes_path.read_text())
        if {k: sizes.get(k) for k in wanted} == wanted:
            return sizes
    shutil.rmtree(feed_dir, ignore_errors=True)
    held, new_day = feed_dir / "held", feed_dir / "new_day"
    t0 = time.perf_counter()
    world = simulate(
        held,
        enterprises=enterprises,
        start=START,
        days=held_days + 1,
        seed=seed,
        faults="none",
        meters_per_enterprise=meters,
    )
    new_rows = _split_last_day(held, new_day, START + timedelta(days=held_days))
    sizes = {**wanted, "meters": world["meters"], "new_day_readings": new_rows, "simulate_s": time.perf_counter() - t0}
    sizes_path.write_text(json.dumps(sizes))
    return sizes


def _exists(cluster_url: str, dbname: str) -> bool:
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        return conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone() is not None


def build_held(cluster_url: str, dbname: str, feed_dir: Path) -> dict:
    """A fresh database holding the held days, ingested and built."""
    drop_database(cluster_url, dbname)
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = database_on_cluster(cluster_url, dbname)
    bootstrap(url)
    t0 = time.perf_counter()
    ingest_path(url, feed_dir / "held")
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_dbt(["build", "--quiet"], url)
    build_s = time.perf_counter() - t0
    with psycopg.connect(url, autocommit=True) as conn:
        # the copies start from a checkpointed, vacuumed state (visibility map set, as a day later would be)
        conn.execute("vacuum analyze")
        conn.execute("checkpoint")
    return {"held_ingest_s": round(ingest_s, 2), "held_build_s": round(build_s, 2)}


def per_node(result) -> list[tuple[str, str, float]]:
    """(resource type, name, seconds) of every node of a dbt invocation (`run_dbt`'s result), slowest first."""
    rows = []
    for r in result.result.results:
        node = r.node
        rows.append((node.resource_type, node.name, float(r.execution_time or 0.0)))
    return sorted(rows, key=lambda x: -x[2])


def insert_select_seconds(url: str, first_batch: int, last_batch: int) -> float:
    """The baseline: seconds to copy the readings of batches first..last once, inside the database, into a fresh
    unindexed table. One drop's batches are numbered in a row, and a range is what raw.readings' BRIN index on
    batch_id finds (a list of ids, `= any(…)`, scans every partition)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop table if exists public.pilot_baseline")
        conn.execute("create table public.pilot_baseline (like raw.readings)")
        t0 = time.perf_counter()
        conn.execute(
            "insert into public.pilot_baseline select * from raw.readings where batch_id between %s and %s",
            (first_batch, last_batch),
        )
        seconds = time.perf_counter() - t0
        conn.execute("drop table public.pilot_baseline")
    return seconds


def measure_day(
    cluster_url: str, held_db: str, day_db: str, feed_dir: Path, *, keep: bool = False, analyze_raw: bool = True
) -> dict:
    """A copy of the held database: the new day ingested and built (timed), then the baseline."""
    drop_database(cluster_url, day_db)
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(day_db), sql.Identifier(held_db)))
    url = database_on_cluster(cluster_url, day_db)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            held_batch = conn.execute("select coalesce(max(batch_id), 0) from raw.readings").fetchone()[0]
            held_rows = conn.execute("select count(*) from staging.stg_raw__readings").fetchone()[0]
            enterprises, meters = conn.execute(
                "select count(distinct enterprise_id), count(*) from staging.stg_raw__meters"
            ).fetchone()
        t0 = time.perf_counter()
        ingest_path(url, feed_dir / "new_day")
        ingest_s = time.perf_counter() - t0
        analyze_s = None
        if analyze_raw:
            # the loader does not analyse raw.readings; until autovacuum does, the planner takes the new
            # batch for a few hundred rows (a nested loop over 1.4 M readings × 20,000 meters ran for minutes)
            t0 = time.perf_counter()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("analyze raw.readings")
            analyze_s = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        result = run_dbt(["build", "--quiet"], url)
        build_s = time.perf_counter() - t0
        nodes = per_node(result)
        with psycopg.connect(url, autocommit=True) as conn:
            new_rows, last_batch = conn.execute(
                "select count(*), max(batch_id) from raw.readings where batch_id > %s", (held_batch,)
            ).fetchone()
        baseline_s = insert_select_seconds(url, held_batch + 1, last_batch)
    finally:
        if not keep:
            drop_database(cluster_url, day_db)
    return {
        "enterprises": enterprises,
        "meters": meters,
        "readings_held": held_rows,
        "new_day_readings": new_rows,
        "ingest_s": round(ingest_s, 2),
        "analyze_raw_s": analyze_s,
        "build_s": round(build_s, 2),
        "baseline_insert_s": round(baseline_s, 2),
        "build_over_baseline": round(build_s / baseline_s, 1) if baseline_s else None,
        "models_s": round(sum(s for t, _, s in nodes if t in ("model", "seed", "snapshot")), 2),
        "tests_s": round(sum(s for t, _, s in nodes if t == "test"), 2),
        "nodes": len(nodes),
        "top": [{"type": t, "name": n, "s": round(s, 2)} for t, n, s in nodes[:10]],
        "per_node": {n: round(s, 3) for _, n, s in nodes},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--enterprises", type=int, default=1000)
    p.add_argument("--meters-per-enterprise", type=int, default=20)
    p.add_argument("--held-days", type=int, default=3)
    p.add_argument("--feed", type=Path, help="keep the simulated feed here and reuse it when present")
    p.add_argument("--held-db", default="iem_bench_pilot_held")
    p.add_argument("--day-db", default="iem_bench_pilot_day")
    p.add_argument("--reuse-held", action="store_true", help="reuse the held database when it exists")
    p.add_argument("--keep", action="store_true", help="keep the held database (and the last day's copy)")
    p.add_argument("--repeat", type=int, default=1, help="measure the new day this many times, each on a fresh copy")
    p.add_argument(
        "--no-analyze-raw",
        action="store_true",
        help="do not analyse raw.readings after the new day's ingest (the plan then depends on autovacuum's timing)",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    cluster = database_url()
    with contextlib.ExitStack() as stack:
        feed_dir = args.feed or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sizes = prepare_feed(feed_dir, args.enterprises, args.meters_per_enterprise, args.held_days)
        held: dict = {}
        if not (args.reuse_held and _exists(cluster, args.held_db)):
            held = build_held(cluster, args.held_db, feed_dir)
        try:
            days = [
                measure_day(
                    cluster, args.held_db, args.day_db, feed_dir, keep=args.keep, analyze_raw=not args.no_analyze_raw
                )
                for _ in range(args.repeat)
            ]
        finally:
            if not args.keep:
                drop_database(cluster, args.held_db)
    for d in days:
        print(
            f"{d['enterprises']:,} enterprises, {d['meters']:,} meters, {d['readings_held']:,} readings held "
            f"({args.held_days} days): new day {d['new_day_readings']:,} readings ingested in {d['ingest_s']} s, "
            f"built in {d['build_s']} s ({d['nodes']} nodes: models {d['models_s']} s, tests {d['tests_s']} s); "
            f"baseline INSERT … SELECT {d['baseline_insert_s']} s, build / baseline {d['build_over_baseline']}x"
        )
        for row in d["top"]:
            print(f"  {row['s']:>7.2f} s  {row['type']:<5} {row['name']}")
    if args.json:
        print(json.dumps({"sizes": sizes, "held": held, "days": days}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
