"""Incremental warehouse build: the cost of building one new day on a warehouse holding H days of
history, against the same on a warehouse holding 1 day, in one run (the target: ≤ 2×).

For each history length: a fresh database; the simulator writes `enterprises` for H + 1 days (clean,
fixed seed); the readings of the last day are split off into their own files; everything else is
ingested and built; then the new day is ingested and `dbt build` is timed. The ratio of the two timed
builds is the figure. Sizes are stated in the output. Usage:

    python -m benchmarks.incremental_build --enterprises 100 --meters-per-enterprise 10 --history-days 90 [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.database import database_url, scratch_database
from orchestration.dbt_env import run_dbt

START = date(2025, 9, 1)


def _split_last_day(feed: Path, new_day_dir: Path, last_day: date) -> int:
    """Move the readings whose period starts on `last_day` in Asia/Shanghai (timestamps carry their own
    UTC offsets) into new_day_dir; returns their count. CSV and JSON Lines files alike (the JSON Lines
    enterprises' new day stayed in the held days until 2026-12, and the grids of every enterprise then
    reached the new day as missing intervals before it arrived)."""
    moved = 0
    for path in sorted([*feed.rglob("readings_*.csv"), *feed.rglob("readings_*.jsonl")]):
        jsonl = path.suffix == ".jsonl"
        if jsonl:
            lines = pl.Series("line", path.read_text(encoding="utf-8").splitlines())
            frame = pl.DataFrame({"line": lines}).with_columns(
                period_start=pl.col("line").str.extract(r'"period_start"\s*:\s*"([^"]*)"', 1),
                period_end=pl.col("line").str.extract(r'"period_end"\s*:\s*"([^"]*)"', 1),
            )
        else:
            frame = pl.read_csv(path, infer_schema_length=0)
        starts = (
            pl.coalesce(pl.col("period_start"), pl.col("period_end"))
            .str.replace(" ", "T")
            .str.replace("Z$", "+00:00")
            .str.replace(r"T(\d{2}:\d{2})([+-])", "T${1}:00${2}")
        )
        day = (
            starts.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC", strict=False)
            .dt.convert_time_zone("Asia/Shanghai")
            .dt.date()
        )
        new = frame.filter(day == last_day)
        if new.is_empty():
            continue
        kept = frame.filter((day != last_day) | day.is_null())
        target = new_day_dir / path.relative_to(feed).parent
        target.mkdir(parents=True, exist_ok=True)
        if jsonl:
            path.write_text("".join(f"{line}\n" for line in kept["line"]), encoding="utf-8")
            (target / f"readings_newday_{path.name}").write_text(
                "".join(f"{line}\n" for line in new["line"]), encoding="utf-8"
            )
        else:
            kept.write_csv(path)
            new.write_csv(target / f"readings_newday_{path.stem}.csv")
        moved += new.height
    return moved


def measure(cluster_url: str, enterprises: int, history_days: int, meters: int, seed: int = 5) -> dict:
    with scratch_database(cluster_url, "iem_bench_inc") as url:
        with tempfile.TemporaryDirectory() as tmp:
            feed, new_day = Path(tmp) / "feed", Path(tmp) / "new_day"
            world = simulate(
                feed,
                enterprises=enterprises,
                start=START,
                days=history_days + 1,
                seed=seed,
                faults="none",
                meters_per_enterprise=meters,
            )
            new_rows = _split_last_day(feed, new_day, START + timedelta(days=history_days))
            base = ingest_path(url, feed).to_dict()
            t0 = time.perf_counter()
            run_dbt(["build", "--quiet"], url)
            initial_build = time.perf_counter() - t0
            ingest_path(url, new_day)
            t0 = time.perf_counter()
            run_dbt(["build", "--quiet"], url)
            new_day_build = time.perf_counter() - t0
        return {
            "history_days": history_days,
            "enterprises": enterprises,
            "meters": world["meters"],
            "readings_held": base["rows_loaded"],
            "new_day_readings": new_rows,
            "initial_build_s": round(initial_build, 2),
            "new_day_build_s": round(new_day_build, 2),
        }


def run(cluster_url: str, enterprises: int, history_days: int, meters: int) -> dict:
    small = measure(cluster_url, enterprises, 1, meters)
    large = measure(cluster_url, enterprises, history_days, meters)
    return {
        "one_day": small,
        "history": large,
        "new_day_build_ratio": round(large["new_day_build_s"] / small["new_day_build_s"], 2),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--enterprises", type=int, default=100)
    p.add_argument("--history-days", type=int, default=90)
    p.add_argument(
        "--meters-per-enterprise",
        type=int,
        default=10,
        help="pad each enterprise with workshop sub-meters up to this many meters (the pilot target: 10)",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(database_url(), args.enterprises, args.history_days, args.meters_per_enterprise)
    for case in (result["one_day"], result["history"]):
        print(
            f"{case['history_days']:>4} days held ({case['meters']:,} meters, "
            f"{case['readings_held']:,} readings): new day "
            f"({case['new_day_readings']:,} readings) built in {case['new_day_build_s']} s"
        )
    print(f"ratio {args.history_days} days / 1 day: {result['new_day_build_ratio']}x")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
