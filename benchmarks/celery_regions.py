"""Regions in parallel on Celery workers against the same regions built serially, measured in one run
(docs/scale-out.md). Sizes are stated in the output.

By default both are measured warm, as on a running platform: a first serial run and a first Celery run of
the same feeds on databases of their own go before, so this process and every worker process have
imported dbt, Great Expectations and the job already (each worker process pays that once, ~5-10 s on a
busy machine); `--no-warm-up` measures the first runs instead.

Each region gets its own simulated feed (same enterprises, days and seed; the simulator places them in
the region) and its own warehouse database, twice: one set is built by `regional_platforms_job` in this
process, one step after the other (in-process executor), the other by the same job on a Celery worker
with `--concurrency` processes, over the broker at IEM_CELERY_BROKER_URL (default RabbitMQ at
127.0.0.1:5672) with the Dagster instance's storage on PostgreSQL. The marts of both are compared row for
row. Needs a running broker; the databases are scratch databases on IEM_DATABASE_URL's server, dropped
afterwards. Usage:

    python -m benchmarks.celery_regions --regions 330000,320200 --enterprises 3 --days 3 [--concurrency 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from ingestion.simulator import simulate
from orchestration.database import create_database, database_on_cluster, database_url, drop_database
from orchestration.defs.scale_out.compare import differences, table_digests
from orchestration.defs.scale_out.platforms import resolve_platform
from orchestration.defs.scale_out.runner import (
    broker_reachable,
    dagster_home_on_postgres,
    delete_queue,
    run_regions,
    start_worker,
    stop_worker,
    storage_url,
)

REPO = Path(__file__).resolve().parent.parent


def measure(
    cluster_url: str,
    regions: list[str],
    enterprises: int,
    days: int,
    concurrency: int,
    seed: int = 7,
    *,
    warm_up: bool = True,
) -> dict:
    broker = os.environ.get("IEM_CELERY_BROKER_URL") or "pyamqp://guest@127.0.0.1//"
    why = broker_reachable(broker)
    if why:
        sys.exit(f"no Celery broker at {broker}: {why}")
    tag = uuid.uuid4().hex[:8]
    # the data ends on the first day of a month, so the month before it is complete and exported
    start = date(2026, 2, 1) - timedelta(days=days - 1)
    with tempfile.TemporaryDirectory(prefix="iem-bench-celery-") as tmp:
        work = Path(tmp)
        modes = ["serial", "celery"] + (["warm_serial", "warm_celery"] if warm_up else [])
        roots = {mode: work / mode for mode in modes}
        for region in regions:
            feed = work / "feed" / region
            simulate(feed, regions=[region], enterprises=enterprises, start=start, days=days, seed=seed)
            for root in roots.values():
                shutil.copytree(feed, root / region / "landing")
        platforms = {
            mode: {"base_url": cluster_url, "database_prefix": f"iem_bench_{tag}_{mode}", "root": str(root)}
            for mode, root in roots.items()
        }
        storage_db = f"iem_bench_{tag}_dagster"
        create_database(cluster_url, storage_db, bootstrap_it=False)
        env = {
            "IEM_CELERY_BROKER_URL": broker,
            "IEM_CELERY_QUEUE": f"iem-bench-{tag}",
            "IEM_DAGSTER_STORAGE_URL": storage_url(database_on_cluster(cluster_url, storage_db)),
            "DAGSTER_HOME": str(dagster_home_on_postgres(work / "dagster")),
        }
        os.environ.update(env)
        import dagster as dg

        worker = start_worker(
            concurrency=concurrency,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            name=f"iem-bench-{tag}",
            log_file=work / "worker.log",
            cwd=REPO,
        )
        instance = dg.DagsterInstance.get()
        try:
            if warm_up:  # the same runs once on databases of their own: dbt, GX and the job imported everywhere
                for mode, executor in (("warm_serial", "in_process"), ("warm_celery", "celery")):
                    warm = run_regions(regions, executor=executor, instance=instance, platforms=platforms[mode])
                    if not warm.success:
                        raise RuntimeError(f"warm-up {mode} run failed: {warm.failed_steps}")
            load_before = os.getloadavg()
            serial = run_regions(regions, executor="in_process", instance=instance, platforms=platforms["serial"])
            parallel = run_regions(regions, executor="celery", instance=instance, platforms=platforms["celery"])
            load_after = os.getloadavg()
            same = {}
            mart_rows = {}
            for region in regions:
                one = table_digests(resolve_platform(region, **platforms["serial"]).database_url)
                other = table_digests(resolve_platform(region, **platforms["celery"]).database_url)
                same[region] = differences(one, other) == []
                mart_rows[region] = sum(rows for rows, _ in one.values())
        finally:
            stop_worker(worker, warm=False)
            instance.dispose()
            delete_queue(broker, env["IEM_CELERY_QUEUE"])
            drop_database(cluster_url, storage_db)
            for config in platforms.values():
                for region in regions:
                    drop_database(cluster_url, f"{config['database_prefix']}_{region}")

    def stages(run) -> dict:
        return {f"{s.region}/{s.stage}": round(s.finished_at - s.started_at, 2) for s in run.steps}

    builds = {s.region: s for s in parallel.steps if s.stage == "warehouse"}
    overlap = max(0.0, min(b.finished_at for b in builds.values()) - max(b.started_at for b in builds.values()))
    return {
        "regions": regions,
        "enterprises_per_region": enterprises,
        "days": days,
        "readings_rows_loaded": {s.region: s.metadata.get("rows_loaded") for s in serial.steps if s.stage == "ingest"},
        "mart_rows": mart_rows,
        "concurrency": concurrency,
        "warm_up": warm_up,
        "cpus": os.cpu_count(),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "serial_success": serial.success,
        "parallel_success": parallel.success,
        "serial_seconds": round(serial.seconds, 2),
        "parallel_seconds": round(parallel.seconds, 2),
        "ratio_serial_over_parallel": round(serial.seconds / parallel.seconds, 2),
        "builds_overlap_seconds": round(overlap, 2),
        "worker_processes": len({s.pid for s in parallel.steps}),
        "serial_steps_seconds": stages(serial),
        "parallel_steps_seconds": stages(parallel),
        "marts_equal": same,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--regions", default="330000,320200", help="comma-separated pilot region codes")
    ap.add_argument("--enterprises", type=int, default=3, help="per region")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=2, help="worker processes")
    ap.add_argument(
        "--no-warm-up",
        action="store_true",
        help="measure the first runs (each worker process and this one still import dbt and GX inside them)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    regions = args.regions.split(",")
    warm_up = not args.no_warm_up
    out = measure(database_url(), regions, args.enterprises, args.days, args.concurrency, warm_up=warm_up)
    out["wall_seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"{len(out['regions'])} regions × {out['enterprises_per_region']} enterprises × {out['days']} days "
        f"(readings loaded per region: {out['readings_rows_loaded']}; mart rows: {out['mart_rows']}), "
        f"{out['cpus']} CPUs, load {out['load_average_before_after']}"
    )
    print(
        f"serial (in-process) {out['serial_seconds']} s, parallel (Celery, {out['concurrency']} processes) "
        f"{out['parallel_seconds']} s, ratio {out['ratio_serial_over_parallel']}; builds overlapped "
        f"{out['builds_overlap_seconds']} s; marts equal: {out['marts_equal']}"
    )
    print(f"steps serial: {out['serial_steps_seconds']}")
    print(f"steps parallel: {out['parallel_steps_seconds']}")


if __name__ == "__main__":
    main()
