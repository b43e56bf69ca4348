"""Ingest of a pilot region's drops against raw COPY of the same rows, measured in the same run.

DESIGN §8 sizes a pilot region at ~1,000 enterprises × ~20 meters × 96 intervals a day. The simulator
writes `--days` days of such a region (no injected faults, so that every row can also be COPY'd raw);
the last day is split off by its Asia/Shanghai date (period_start), the days before it are loaded first
(held, not timed), and then, in one scratch database:

1. day drop: the last day as the enterprises send it, one file per enterprise (and a late file for some),
   `ingest_path` of the folder — vs raw COPY of the same rows as one CSV file;
2. one big file: the same day's rows in one CSV file, `ingest_path` — vs the same raw COPY;
3. 15-minute round: the last interval of the day, one file per enterprise (~18 rows each) — timed, and
   against raw COPY of its rows as one file; 4. the same round sent again (every file skipped).

Raw COPY (the baseline) goes into a table equivalent to raw.readings (its columns, the batch and line
number of each row, the same monthly partitions, the BRIN index), in the same database, before and
after the day drop (the faster counts); `*_plain_table` ratios are against COPY of the contract columns
alone into an unpartitioned, unindexed table (the limit of the machine, ~25 % faster). Usage:
`python -m benchmarks.ingest_drop --enterprises 1000 --meters-per-enterprise 20 --days 4 [--feed DIR]`
(`--feed`: an already simulated folder, `iem simulate --faults none`). Prints sizes, seconds and ratios
(raw COPY seconds / ingest seconds: 1.0 = as fast as raw COPY) as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import polars as pl
import psycopg

from orchestration.database import scratch_database

PLAIN_TABLE = """CREATE TABLE bench_readings (
    enterprise_id text NOT NULL, meter_id text NOT NULL, period_start timestamptz, period_end timestamptz NOT NULL,
    value numeric NOT NULL, unit text NOT NULL, quality text NOT NULL, sent_at timestamptz NOT NULL)"""
COLUMNS = ["enterprise_id", "meter_id", "period_start", "period_end", "value", "unit", "quality", "sent_at"]
JSON_FIELD = r'"{}"\s*:\s*"([^"]*)"'


def _lines(path: Path) -> pl.Series:
    return pl.Series("line", path.read_text(encoding="utf-8").splitlines(), dtype=pl.String)


def _field_of(lines: pl.Series, jsonl: bool, header: list[str], field: str) -> pl.Series:
    """One contract field of every reading line, as text."""
    if jsonl:
        return lines.str.extract(JSON_FIELD.format(field), 1)
    return lines.str.split(",").list.get(header.index(field), null_on_oob=True)


def _start_of(lines: pl.Series, jsonl: bool, header: list[str]) -> pl.Series:
    return _field_of(lines, jsonl, header, "period_start")


def _as_frame(lines: pl.Series, jsonl: bool, header: list[str]) -> pl.DataFrame:
    """The rows as contract columns (text), for the one-file CSV."""
    if jsonl:
        return pl.DataFrame({c: lines.str.extract(JSON_FIELD.format(c), 1) for c in COLUMNS}).with_columns(
            value=lines.str.extract(r'"value"\s*:\s*"?([-0-9.eE+]+)', 1)
        )
    parts = lines.str.split_exact(",", len(header) - 1).struct.rename_fields(header).struct.unnest()
    return parts.select([pl.col(c) if c in header else pl.lit(None, pl.String).alias(c) for c in COLUMNS])


def split(feed: Path, out: Path) -> dict:
    """registries/, held/ (days before the last), day/ (the last day), round/ (its last interval),
    big/readings_day.csv (the last day in one file), day.csv and round.csv (the raw COPY inputs)."""
    files = sorted(feed.rglob("readings_*"))
    starts = []
    for f in files[:50]:
        jsonl = f.suffix == ".jsonl"
        lines = _lines(f)
        header = [] if jsonl else lines[0].split(",")
        starts.append(_start_of(lines[0 if jsonl else 1 :], jsonl, header).str.slice(0, 16).max())
    last_day = max(s for s in starts if s)[:10]
    last_slot = None
    for name in ("registries", "held", "day", "round", "big"):
        (out / name).mkdir(parents=True)
    for f in feed.glob("*.csv"):
        if f.name.startswith(("enterprises", "meters")):
            (out / "registries" / f.name).write_bytes(f.read_bytes())
    day_frames, round_frames = [], []
    day_lines: dict[Path, tuple[pl.Series, bool, list[str]]] = {}
    for f in files:
        rel = f.relative_to(feed)
        jsonl = f.suffix == ".jsonl"
        lines = _lines(f)
        header_line = None if jsonl else lines[0]
        header = [] if jsonl else str(header_line).split(",")
        body = lines if jsonl else lines[1:]
        start = _start_of(body, jsonl, header)
        on_day = start.str.starts_with(last_day).fill_null(False)
        for name, part in (("held", body.filter(~on_day)), ("day", body.filter(on_day))):
            if part.len():
                target = out / name / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                text = ([] if jsonl else [str(header_line)]) + part.to_list()
                target.write_text("\n".join(text) + "\n", encoding="utf-8")
        if on_day.any():
            day_lines[rel] = (body.filter(on_day), jsonl, header)
            slot = start.filter(on_day).str.slice(0, 16).max()
            last_slot = slot if last_slot is None or slot > last_slot else last_slot
    for rel, (body, jsonl, header) in day_lines.items():
        start = _start_of(body, jsonl, header)
        day_frames.append(_as_frame(body, jsonl, header))
        in_round = start.str.starts_with(str(last_slot)).fill_null(False)
        if in_round.any():
            part = body.filter(in_round)
            target = out / "round" / rel.parent / rel.name.replace("readings_", "readings_round_")
            target.parent.mkdir(parents=True, exist_ok=True)
            text = ([] if jsonl else [",".join(header)]) + part.to_list()
            target.write_text("\n".join(text) + "\n", encoding="utf-8")
            round_frames.append(_as_frame(part, jsonl, header))
    day = pl.concat(day_frames)
    day.write_csv(out / "big" / "readings_day.csv")
    rnd = pl.concat(round_frames)
    for name, frame in (("day", day), ("round", rnd)):
        frame.write_csv(out / f"{name}.csv")
        frame.select(  # as the loader writes raw.readings: its batch and line number first
            pl.lit(1).alias("batch_id"), pl.int_range(2, pl.len() + 2).alias("row_number"), *COLUMNS
        ).write_csv(out / f"{name}_raw.csv")
    return {
        "last_day": last_day,
        "last_interval_start": last_slot,
        "day_rows": day.height,
        "day_files": sum(1 for _ in (out / "day").rglob("readings_*")),
        "round_rows": rnd.height,
        "round_files": sum(1 for _ in (out / "round").rglob("readings_*")),
    }


def _equivalent_table(conn: psycopg.Connection) -> None:
    """bench_readings like raw.readings: its columns, the same monthly partitions (and default), the
    BRIN index on batch_id."""
    conn.execute("CREATE TABLE bench_readings (LIKE raw.readings INCLUDING DEFAULTS) PARTITION BY RANGE (period_end)")
    parts = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'raw.readings'::regclass"
    ).fetchall()
    for name, bound in parts:
        conn.execute(f"CREATE TABLE bench_{name} PARTITION OF bench_readings {bound}")
    conn.execute("CREATE INDEX ON bench_readings USING brin (batch_id)")


def raw_copy(url: str, csv_path: Path, *, equivalent: bool) -> float:
    """Seconds to COPY a CSV file into a fresh table (the baseline): a plain table of the contract
    columns, or (`equivalent`) a table like raw.readings with the rows' batch and line numbers."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_readings")
        _equivalent_table(conn) if equivalent else conn.execute(PLAIN_TABLE)
        conn.commit()
        t0 = time.perf_counter()
        with (
            conn.cursor() as cur,
            open(csv_path, "rb") as fh,
            cur.copy("COPY bench_readings FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - t0
        conn.execute("DROP TABLE bench_readings")
        conn.commit()
    return seconds


def run(
    cluster_url: str,
    *,
    enterprises: int,
    meters_per_enterprise: int,
    days: int,
    feed: Path | None,
    db_prefix: str = "iem_bench_drop",
) -> dict:
    from ingestion.loader import ingest_path
    from ingestion.simulator import simulate

    out: dict = {"enterprises": enterprises, "meters_per_enterprise": meters_per_enterprise, "days": days}
    with tempfile.TemporaryDirectory(prefix="iem-bench-drop-") as tmp:
        if feed is None:
            feed = Path(tmp) / "feed"
            t0 = time.perf_counter()
            simulate(
                feed, enterprises=enterprises, days=days, faults="none", meters_per_enterprise=meters_per_enterprise
            )
            out["simulate_seconds"] = round(time.perf_counter() - t0, 1)
        parts = Path(tmp) / "parts"
        out.update(split(feed, parts))
        with scratch_database(cluster_url, db_prefix, bootstrap_it=True) as url:
            ingest_path(url, parts / "registries")
            t0 = time.perf_counter()
            held = ingest_path(url, parts / "held").to_dict()
            out["held_rows"], out["held_seconds"] = held["rows_loaded"], round(time.perf_counter() - t0, 2)

            def timed(folder: Path) -> tuple[float, dict]:
                t = time.perf_counter()
                summary = ingest_path(url, folder).to_dict()
                return time.perf_counter() - t, summary

            copy_day = [raw_copy(url, parts / "day_raw.csv", equivalent=True)]
            plain_day = [raw_copy(url, parts / "day.csv", equivalent=False)]
            day_s, day = timed(parts / "day")
            copy_day.append(raw_copy(url, parts / "day_raw.csv", equivalent=True))
            plain_day.append(raw_copy(url, parts / "day.csv", equivalent=False))
            big_s, big = timed(parts / "big")
            copy_round = raw_copy(url, parts / "round_raw.csv", equivalent=True)
            plain_round = raw_copy(url, parts / "round.csv", equivalent=False)
            round_s, rnd = timed(parts / "round")
            again_s, again = timed(parts / "round")
    for name, summary, rows in (("day", day, out["day_rows"]), ("big", big, out["day_rows"])):
        if summary["rows_loaded"] != rows:
            raise AssertionError(f"bench: {name} loaded {summary['rows_loaded']} of {rows} rows")
    if rnd["rows_loaded"] != out["round_rows"] or again["files"] != 0:
        raise AssertionError(f"bench: round loaded {rnd['rows_loaded']} of {out['round_rows']}; again {again}")
    # the faster of the two raw COPYs of the day (one before, one after the drop): the stricter baseline
    eq, plain = min(copy_day), min(plain_day)
    out.update(
        {
            "raw_copy_day_seconds": round(eq, 3),
            "raw_copy_day_plain_table_seconds": round(plain, 3),
            "day_drop_seconds": round(day_s, 3),
            "day_drop_files": day["files"],
            "day_drop_vs_raw_copy": round(eq / day_s, 3),
            "day_drop_vs_raw_copy_plain_table": round(plain / day_s, 3),
            "big_file_seconds": round(big_s, 3),
            "big_file_vs_raw_copy": round(eq / big_s, 3),
            "big_file_vs_raw_copy_plain_table": round(plain / big_s, 3),
            "raw_copy_round_seconds": round(copy_round, 3),
            "raw_copy_round_plain_table_seconds": round(plain_round, 3),
            "round_seconds": round(round_s, 3),
            "round_files": rnd["files"],
            "round_vs_raw_copy": round(copy_round / round_s, 3),
            "round_again_seconds": round(again_s, 3),
            "round_again_skipped": again["files_skipped"],
        }
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--enterprises", type=int, default=1000)
    ap.add_argument("--meters-per-enterprise", type=int, default=20)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--feed", type=Path, help="an already simulated feed (iem simulate --faults none)")
    ap.add_argument("--db-prefix", default="iem_bench_drop", help="name prefix of the scratch database")
    args = ap.parse_args()
    from orchestration.database import database_url

    print(
        json.dumps(
            run(
                database_url(),
                enterprises=args.enterprises,
                meters_per_enterprise=args.meters_per_enterprise,
                days=args.days,
                feed=args.feed,
                db_prefix=args.db_prefix,
            ),
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
