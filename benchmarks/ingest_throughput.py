"""Ingestion throughput: the same generated readings loaded three ways in one run.

1. raw COPY: a plain CSV of the contract columns COPY'd into a plain (unpartitioned, unindexed) table of
   the same types — the limit on this machine;
2. iem: the project's ingest path end to end (parse, vectorised validation against the contract,
   reference checks, duplicate detection, partitioned COPY, ledger) on a contract v1 file;
3. pandas.to_sql of the same rows into a table like (1) (pandas' default insert path).
Each runs in a fresh database on the same cluster. Usage: `iem bench --rows N [--json]` or
`python -m benchmarks.ingest_throughput --rows N`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import polars as pl
import psycopg
from stdnum.cn import uscc

from orchestration.database import scratch_database

PLAIN_TABLE = """CREATE TABLE bench_readings (
    enterprise_id text, meter_id text, period_start timestamptz, period_end timestamptz,
    value numeric, unit text, quality text, sent_at timestamptz)"""


def generate(folder: Path, rows: int, meters_per_enterprise: int = 20) -> Path:
    """A contract v1 drop: enterprises, meters and one readings file of `rows` 15-minute readings."""
    n_meters = max(1, min(rows // 96, 2000))
    n_ent = max(1, n_meters // meters_per_enterprise)
    ids = []
    for i in range(n_ent):
        body = f"9113010{i:010d}"
        ids.append(body + uscc.calc_check_digit(body))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "enterprises.csv").write_text(
        "enterprise_id,name,region_code,industry_code,declared_tce\n"
        + "".join(f"{e},Bench enterprise {i},130100,C31,20000\n" for i, e in enumerate(ids)),
        encoding="utf-8",
    )
    meters = [(ids[m % n_ent], f"EL-{m:05d}") for m in range(n_meters)]
    (folder / "meters.csv").write_text(
        "enterprise_id,meter_id,energy_code,unit,reading_type\n"
        + "".join(f"{e},{m},electricity,kWh,interval\n" for e, m in meters),
        encoding="utf-8",
    )
    idx = pl.int_range(0, rows, eager=True)
    meter_idx = idx % n_meters
    step = idx // n_meters
    base = pl.datetime(2026, 1, 1, time_zone="Asia/Shanghai")
    fmt = "%Y-%m-%dT%H:%M:%S+08:00"
    frame = (
        pl.DataFrame({"m": meter_idx, "s": step})
        .select(
            pl.col("m").replace_strict(list(range(n_meters)), [e for e, _ in meters]).alias("enterprise_id"),
            pl.col("m").replace_strict(list(range(n_meters)), [m for _, m in meters]).alias("meter_id"),
            (base + pl.duration(minutes=15 * pl.col("s"))).alias("_start"),
            ((pl.col("m") * 7 + pl.col("s") * 13) % 1000 / 10 + 50).round(2).cast(pl.String).alias("value"),
        )
        .select(
            "enterprise_id",
            "meter_id",
            pl.col("_start").dt.strftime(fmt).alias("period_start"),
            (pl.col("_start") + pl.duration(minutes=15)).dt.strftime(fmt).alias("period_end"),
            "value",
            pl.lit("kWh").alias("unit"),
            pl.lit("measured").alias("quality"),
            (pl.col("_start") + pl.duration(minutes=20)).dt.strftime(fmt).alias("sent_at"),
        )
    )
    path = folder / "readings_bench.csv"
    frame.write_csv(path)
    return path


def run(cluster_url: str, rows: int, *, with_pandas: bool = True) -> dict:
    from ingestion.loader import ingest_path

    with tempfile.TemporaryDirectory(prefix="iem-bench-") as tmp:
        folder = Path(tmp) / "drop"
        readings = generate(folder, rows)
        with contextlib.ExitStack() as stack:  # every scratch database is dropped at the end
            # 1. raw COPY of the plain CSV
            url = stack.enter_context(scratch_database(cluster_url, "iem_bench", bootstrap_it=False))
            with psycopg.connect(url) as conn:
                conn.execute(PLAIN_TABLE)
                conn.commit()
                t0 = time.perf_counter()
                with (
                    conn.cursor() as cur,
                    open(readings, "rb") as fh,
                    cur.copy("COPY bench_readings FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
                ):
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
                conn.commit()
                copy_s = time.perf_counter() - t0
            # 2. the project's ingest path (registries loaded first, not timed)
            url = stack.enter_context(scratch_database(cluster_url, "iem_bench", bootstrap_it=True))
            regs = Path(tmp) / "registries"
            regs.mkdir()
            for f in ("enterprises.csv", "meters.csv"):
                (folder / f).rename(regs / f)
            ingest_path(url, regs)
            t0 = time.perf_counter()
            summary = ingest_path(url, folder).to_dict()
            iem_s = time.perf_counter() - t0
            if summary["rows_loaded"] != rows:
                raise AssertionError(f"bench: iem loaded {summary['rows_loaded']} of {rows} rows")
            # 3. pandas.to_sql
            pandas_s = None
            if with_pandas:
                import pandas as pd
                from sqlalchemy import create_engine

                url = stack.enter_context(scratch_database(cluster_url, "iem_bench", bootstrap_it=False))
                engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
                with engine.begin() as c:
                    c.exec_driver_sql(PLAIN_TABLE)
                t0 = time.perf_counter()
                frame = pd.read_csv(
                    readings,
                    dtype={"enterprise_id": str, "meter_id": str, "value": float},
                    parse_dates=["period_start", "period_end", "sent_at"],
                )
                frame.to_sql("bench_readings", engine, if_exists="append", index=False, chunksize=50_000)
                pandas_s = time.perf_counter() - t0
                engine.dispose()
    out = {
        "rows": rows,
        "copy_seconds": round(copy_s, 3),
        "iem_seconds": round(iem_s, 3),
        "pandas_seconds": round(pandas_s, 3) if pandas_s else None,
        "copy_rows_per_s": round(rows / copy_s),
        "iem_rows_per_s": round(rows / iem_s),
        "pandas_rows_per_s": round(rows / pandas_s) if pandas_s else None,
    }
    out["iem_vs_copy"] = round(copy_s / iem_s, 3)
    out["iem_vs_pandas"] = round(pandas_s / iem_s, 2) if pandas_s else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from orchestration.database import database_url

    print(json.dumps(run(database_url(), args.rows)))


if __name__ == "__main__":
    main()
