"""A pilot region's day and its 15-minute rounds, ingested and built, against baselines measured in the same run.

DESIGN §8 targets on this machine: a pilot day (~1,000 enterprises × ~20 meters × 96 intervals, files per
enterprise) ingested and built in under 60 s with history held, and a 15-minute round of the same region in
under 15 s. The simulator writes `--held-days` + 2 days of a region with no injected faults; by the Asia/Shanghai
local time each reading's period ends:

- held: the readings ending in the first `--held-days` days, loaded and built (the warehouse before the day; not
  timed);
- day: the readings ending in the next day (after its midnight, up to the next one included) as the enterprises
  send them (one file per enterprise): `ingest_path` of the folder, then the daily build (`dbt build` of the whole
  warehouse) — timed;
- rounds: the first two quarter hours of the day after, one file per enterprise each: the readings whose period
  ENDS in that quarter hour (what the meters can have sent by then; a daily meter's reading for the day after
  ends at its midnight, so it is in no round), on the warehouse holding the day: round 1 is loaded with
  `ingest_path` and built with `dbt build --selector quarter_hour_round`; round 2 runs as the platform runs
  it, the Dagster job `quarter_hour_round_job` (ingest and build in one run) — both timed.

Baselines, in the same database and run: an `INSERT … SELECT` of the day's (and the round's) rows from
raw.readings into a fresh unindexed table (what moving the rows once costs on this machine), and raw COPY of
the day's rows as one CSV file (benchmarks/ingest_drop.py). Ratios are seconds / baseline seconds. The
per-node seconds of each build come from dbt's results. Usage:

    python -m benchmarks.pilot_region --enterprises 1000 --meters-per-enterprise 20 --held-days 3 [--feed DIR]

(`--feed`: a folder written by `iem simulate --faults none --days <held + 2>`.) Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.ingest_drop import _field_of, _lines, _start_of
from benchmarks.pilot_day import insert_select_seconds, per_node

REGISTRY_PREFIXES = ("enterprises", "meters", "economics", "production", "totals", "inventories")


def split(feed: Path, out: Path) -> dict:
    """held/ (registries, other entities and the readings before the day), day/, round1/, round2/; the
    reading lines keep their file's header and relative path."""
    files = sorted(feed.rglob("readings_*"))
    days: set[str] = set()
    bodies = []
    for f in files:
        jsonl = f.suffix == ".jsonl"
        lines = _lines(f)
        header = [] if jsonl else str(lines[0]).split(",")
        body = lines if jsonl else lines[1:]
        start = _start_of(body, jsonl, header).str.slice(0, 16)
        end = _field_of(body, jsonl, header, "period_end").str.slice(0, 16)
        days.update(d for d in start.str.slice(0, 10).unique().to_list() if d)
        bodies.append((f, jsonl, None if jsonl else str(lines[0]), body, start, end))
    ordered = sorted(days)
    day, after = ordered[-2], ordered[-1]
    # by the local time each reading's period ENDS (what can have been sent by then): an end-only reading has no
    # period_start, and a daily meter's reading for a day ends at the next midnight
    day_start, day_end = f"{day}T00:00", f"{after}T00:00"
    slots = sorted({e for *_, end in bodies for e in end.filter(end > day_end).to_list() if e})
    parts = {"held": lambda e: e <= day_start, "day": lambda e: (e > day_start) & (e <= day_end)}
    parts |= {f"round{n}": (lambda slot: lambda e: e == slot)(slots[n - 1]) for n in (1, 2)}
    counts = dict.fromkeys(parts, 0)
    for f, _jsonl, header_line, body, _start, end in bodies:
        rel = f.relative_to(feed)
        for name, wanted in parts.items():
            keep = body.filter(wanted(end).fill_null(False))
            if keep.len():
                target = out / name / rel.parent / rel.name.replace("readings_", f"readings_{name}_")
                target.parent.mkdir(parents=True, exist_ok=True)
                text = ([header_line] if header_line else []) + keep.to_list()
                target.write_text("\n".join(text) + "\n", encoding="utf-8")
                counts[name] += keep.len()
    for f in feed.rglob("*"):
        if f.is_file() and f.name.startswith(REGISTRY_PREFIXES):
            target = out / "held" / f.relative_to(feed)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes())
    return {"day": day, "round_slots": slots[:2], **{f"{k}_readings": v for k, v in counts.items()}}


def slowest(nodes: list[tuple[str, str, float]], top: int = 8) -> dict[str, float]:
    return {name: round(seconds, 2) for _, name, seconds in nodes[:top]}


def run(cluster_url: str, *, enterprises: int, meters_per_enterprise: int, held_days: int, feed: Path | None) -> dict:
    import dagster as dg

    from ingestion.loader import ingest_path
    from ingestion.simulator import simulate
    from orchestration.database import scratch_database
    from orchestration.dbt_env import run_dbt
    from orchestration.pipeline import execute_job
    from orchestration.resources import PlatformPathsResource, WarehouseResource

    from .ingest_drop import raw_copy

    out: dict = {"enterprises": enterprises, "meters_per_enterprise": meters_per_enterprise, "held_days": held_days}
    with tempfile.TemporaryDirectory(prefix="iem-bench-pilot-") as tmp:
        if feed is None:
            feed = Path(tmp) / "feed"
            t0 = time.perf_counter()
            simulate(
                feed,
                enterprises=enterprises,
                days=held_days + 2,
                faults="none",
                meters_per_enterprise=meters_per_enterprise,
            )
            out["simulate_seconds"] = round(time.perf_counter() - t0, 1)
        parts = Path(tmp) / "parts"
        out.update(split(feed, parts))
        with scratch_database(cluster_url, "iem_bench_pilot", bootstrap_it=True) as url:
            t0 = time.perf_counter()
            held = ingest_path(url, parts / "held").to_dict()
            run_dbt(["build", "--quiet"], url)
            out["held_rows_loaded"], out["held_ingest_and_build_seconds"] = (
                held["rows_loaded"],
                round(time.perf_counter() - t0, 1),
            )

            t0 = time.perf_counter()
            day = ingest_path(url, parts / "day").to_dict()
            day_ingest = time.perf_counter() - t0
            t0 = time.perf_counter()
            day_nodes = per_node(run_dbt(["build", "--quiet"], url))
            day_build = time.perf_counter() - t0
            day_batches = [b["batch_id"] for b in day["batches"] if b["batch_id"] is not None]
            day_move = insert_select_seconds(url, min(day_batches), max(day_batches))
            day_csv = Path(tmp) / "day_raw.csv"
            with (
                psycopg.connect(url) as conn,
                open(day_csv, "wb") as fh,
                conn.cursor().copy(
                    "copy (select * from raw.readings where batch_id between %s and %s) "
                    "to stdout with (format csv, header)",
                    (min(day_batches), max(day_batches)),
                ) as copy,
            ):
                for chunk in copy:
                    fh.write(chunk)
            day_copy = raw_copy(url, day_csv, equivalent=True)

            t0 = time.perf_counter()
            rnd = ingest_path(url, parts / "round1").to_dict()
            round_ingest = time.perf_counter() - t0
            t0 = time.perf_counter()
            round_nodes = per_node(run_dbt(["build", "--quiet", "--selector", "quarter_hour_round"], url))
            round_build = time.perf_counter() - t0
            round_batches = [b["batch_id"] for b in rnd["batches"] if b["batch_id"] is not None]
            round_move = insert_select_seconds(url, min(round_batches), max(round_batches))

            t0 = time.perf_counter()
            job = execute_job(
                "quarter_hour_round_job",
                run_config={"ops": {"raw_feeds": {"config": {"path": str(parts / "round2")}}}},
                resources={
                    "warehouse": WarehouseResource(url=url),
                    "platform_paths": PlatformPathsResource(home=str(Path(tmp) / "home")),
                },
                instance=dg.DagsterInstance.ephemeral(),
            )
            round_job = time.perf_counter() - t0
            if not job.success:
                raise AssertionError(f"bench: quarter_hour_round_job failed at {job.failed_steps}")
    for name, summary, expected in (("day", day, out["day_readings"]), ("round1", rnd, out["round1_readings"])):
        if summary["rows_loaded"] < expected or summary["rows_quarantined"]:
            raise AssertionError(f"bench: {name} loaded {summary['rows_loaded']} of {expected} readings")
    out.update(
        {
            "day_files": day["files"],
            "day_ingest_seconds": round(day_ingest, 2),
            "day_build_seconds": round(day_build, 2),
            "day_ingest_and_build_seconds": round(day_ingest + day_build, 2),
            "day_slowest_nodes": slowest(day_nodes),
            "day_insert_select_seconds": round(day_move, 2),
            "day_build_vs_insert_select": round(day_build / day_move, 1),
            "day_raw_copy_seconds": round(day_copy, 2),
            "day_ingest_vs_raw_copy": round(day_copy / day_ingest, 3),
            "round_files": rnd["files"],
            "round_ingest_seconds": round(round_ingest, 2),
            "round_build_seconds": round(round_build, 2),
            "round_ingest_and_build_seconds": round(round_ingest + round_build, 2),
            "round_slowest_nodes": slowest(round_nodes),
            "round_insert_select_seconds": round(round_move, 3),
            "round_job_seconds": round(round_job, 2),
            "round_job_stage_seconds": job.stage_seconds,
        }
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--enterprises", type=int, default=1000)
    ap.add_argument("--meters-per-enterprise", type=int, default=20)
    ap.add_argument("--held-days", type=int, default=3)
    ap.add_argument("--feed", type=Path, help="an already simulated feed (iem simulate --faults none)")
    args = ap.parse_args(argv)
    from orchestration.database import database_url

    result = run(
        database_url(),
        enterprises=args.enterprises,
        meters_per_enterprise=args.meters_per_enterprise,
        held_days=args.held_days,
        feed=args.feed,
    )
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
