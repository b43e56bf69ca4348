"""Access-end push throughput on loopback: one 15-minute round of N enterprises × M data items sent to a
real `iem serve` process, against `iem ingest` of the same readings from files, in the same run.

Sizes (default, the issue's): 1,000 enterprises, 20 items each, one round = 20,000 readings. The world
is the simulator's (faults none, `--meters-per-enterprise` padding with 15-minute workshop meters); the
round is the interval ending 10:00 on 2026-01-01, the first M 15-minute meters of each enterprise.

Measured:
- push: each enterprise's centre posts its round as one dataUpload message (M records), `--concurrency`
  centres at a time (requests, keep-alive). Sustained records/s = records ÷ wall time of the round;
  per-message latency p50/p99 (request to answer, as the centre sees it).
- files, per enterprise: the same readings as one file per enterprise (`<eid>/readings_round.csv`, as
  centres dropping files would), `ingest_path` of the folder;
- files, one drop: the same readings in one file (a regional aggregator), `ingest_path`.
Each side loads into its own fresh database on the same cluster; both validate with the same loader.

Not measured (set up directly in the database, as the protocol would leave it): registration, tokens
and configuration of 20,000 items (about 2 loader batches per item through the protocol). Bounded in
time: 3 minutes on 2 cores at the default size (most of it simulating the world); not run in CI.

Measured 2026-12-01 on the shared 2-core machine (load average 4-7 from other work), default sizes:
push 667 records/s (33 messages/s, 30.0 s for the round), latency p50 230 ms, p99 430 ms; files, one per
enterprise, 367 records/s (54.5 s: push 1.8x); files, one drop, 64,086 records/s (0.31 s: push 0.01x).
Each message or file is one loader batch with a fixed cost of about 60 ms (connection, registry,
partitions, validation, ledger); the service runs 4 at a time.

    .venv/bin/python -m benchmarks.access_end_push --enterprises 1000 --items 20 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl
import psycopg
import requests

from ingestion.access_end import mapping
from ingestion.access_end.client import AccessEndClient, Pusher, plan_feed
from ingestion.access_end.store import Sealer, Store, ensure_access_end_schema
from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.database import database_url, scratch_database

ROUND_END = "2026-01-01T10:00:00+08:00"
REPO = Path(__file__).resolve().parent.parent


def build_round(folder: Path, enterprises: int, items: int, seed: int) -> tuple[Path, int]:
    """A feed folder with the registries and one round: <eid>/readings_round.csv per enterprise."""
    sim = folder / "sim"
    simulate(
        sim,
        enterprises=enterprises,
        start=date(2026, 1, 1),
        days=1,
        seed=seed,
        faults="none",
        meters_per_enterprise=items + 4,
    )
    columns = ["enterprise_id", "meter_id", "period_start", "period_end", "value", "unit", "quality", "sent_at"]
    frames = [pl.read_csv(p, infer_schema=False).select(columns) for p in sim.rglob("readings*.csv")]
    frames += [  # every fifth simulated centre writes JSON lines
        pl.read_ndjson(p).select(pl.col(c).cast(pl.String) for c in columns) for p in sim.rglob("readings*.jsonl")
    ]
    readings = pl.concat(frames, how="vertical").filter(
        (pl.col("period_end") == ROUND_END) & pl.col("period_start").is_not_null()
    )
    readings = readings.sort("enterprise_id", "meter_id").group_by("enterprise_id", maintain_order=True).head(items)
    chosen = readings.select("enterprise_id", "meter_id")
    round_dir = folder / "round"
    (round_dir / "registry").mkdir(parents=True)
    (round_dir / "registry" / "enterprises.csv").write_bytes((sim / "enterprises.csv").read_bytes())
    meters = pl.read_csv(sim / "meters.csv", infer_schema=False).join(chosen, on=["enterprise_id", "meter_id"])
    meters.write_csv(round_dir / "registry" / "meters.csv")
    for (eid,), part in readings.group_by("enterprise_id", maintain_order=True):
        (round_dir / "centres" / eid).mkdir(parents=True)
        part.write_csv(round_dir / "centres" / eid / "readings_round.csv")
    (round_dir / "aggregator").mkdir()
    readings.write_csv(round_dir / "aggregator" / "readings_round.csv")
    return round_dir, readings.height


def configure_directly(url: str, plan, sealing_key: bytes) -> dict[str, str]:
    """What registration and configuration through the protocol leave behind, written directly:
    accounts, tokens, item and metering records, and the contract rows (enterprises, meters with the
    data codes as meter_id) loaded from files. Returns a token per enterprise."""
    with psycopg.connect(url) as conn:
        ensure_access_end_schema(conn)
    store = Store(url, Sealer(sealing_key))
    tokens = {}
    meter_rows, enterprise_rows = [], []
    with store.connect() as conn:
        for eid, ep in plan.enterprises.items():
            conn.execute(
                "INSERT INTO audit.access_end_accounts (enterprise_code, secret_key_sealed, enrolled_by, status) "
                "VALUES (%s, %s, 'operator', 'registered')",
                (eid, store.sealer.seal("B" * 16, eid)),
            )
            enterprise_rows.append(mapping.enterprise_row({"enterpriseCode": eid, **ep.registration}))
            metering = {m["dataCode"]: m for m in ep.metering}
            for body in ep.processes:
                store.put_record(
                    conn,
                    data_index=None,
                    enterprise_code=eid,
                    kind="process",
                    natural_key=body["processCode"],
                    body=body,
                )
            for body in ep.items:
                store.put_record(
                    conn,
                    data_index=None,
                    enterprise_code=eid,
                    kind="collect_item",
                    natural_key=body["dataCode"],
                    body=body,
                )
                item = mapping.configure_item(body)
                if item.kind == "meter":
                    m = metering[body["dataCode"]]
                    store.put_record(
                        conn,
                        data_index=None,
                        enterprise_code=eid,
                        kind="metering",
                        natural_key=body["dataCode"],
                        body=m,
                    )
                    meter_rows.append(mapping.meter_row(eid, item, m))
    for eid in plan.enterprises:
        tokens[eid] = store.issue_token(eid, 3600)[0]
    store.close()
    with tempfile.TemporaryDirectory() as tmp:
        pl.DataFrame(enterprise_rows).write_csv(Path(tmp) / "enterprises.csv")
        pl.DataFrame(meter_rows, infer_schema_length=None).write_csv(Path(tmp) / "meters.csv")
        ingest_path(url, tmp)
    return tokens


def start_server(url: str, home: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "IEM_DATABASE_URL": url,
        "IEM_HOME": str(home),
        "IEM_ACCESS_END_RATE": "1000",
        "IEM_ACCESS_END_BURST": "1000",
        "IEM_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            requests.post(f"http://127.0.0.1:{port}/checkVersion", json={}, timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("iem serve did not start")


def run(cluster_url: str, enterprises: int, items: int, concurrency: int, seed: int = 2026, port: int = 8799) -> dict:
    with tempfile.TemporaryDirectory(prefix="iem-push-bench-") as tmp_name:
        tmp = Path(tmp_name)
        round_dir, n = build_round(tmp, enterprises, items, seed)
        plan = plan_feed_with_registry(round_dir)  # one message per enterprise: all its items sent at 10:05
        out = {"enterprises": enterprises, "items_per_enterprise": items, "records": n, "concurrency": concurrency}
        # files: one per enterprise, then one aggregator drop, each into a fresh warehouse
        for label, folder in (
            ("files_per_enterprise", round_dir / "centres"),
            ("files_one_drop", round_dir / "aggregator"),
        ):
            with scratch_database(cluster_url, "iem_bench_push") as url:
                ingest_path(url, round_dir / "registry")
                t0 = time.perf_counter()
                summary = ingest_path(url, folder).to_dict()
                seconds = time.perf_counter() - t0
                if summary["rows_loaded"] != n:
                    raise RuntimeError(f"files: loaded {summary['rows_loaded']} of {n}")
                out[f"{label}_seconds"] = round(seconds, 2)
                out[f"{label}_records_per_s"] = round(n / seconds)
        # push: one message per enterprise, to a served protocol
        with scratch_database(cluster_url, "iem_bench_push") as url:
            key = os.urandom(32)
            os.environ["IEM_ACCESS_END_KEY"] = key.hex()
            tokens = configure_directly(url, plan, key)
            proc = start_server(url, tmp / "home", port)
            try:
                pusher = Pusher(f"http://127.0.0.1:{port}/", plan, concurrency=concurrency, max_attempts=3)
                for eid, token in tokens.items():
                    c = pusher.client(eid)
                    c.token, c.reg_version, c.dic_version = token, None, None
                warm = AccessEndClient(f"http://127.0.0.1:{port}/", next(iter(tokens)))
                warm.token = tokens[warm.code]
                warm.check_version()
                t0 = time.perf_counter()
                results = pusher.send()
                seconds = time.perf_counter() - t0
            finally:
                proc.terminate()
                proc.wait(30)
            loaded = sum((r["answer"] or {}).get("loaded", 0) for r in results)
            with psycopg.connect(url) as conn:
                in_raw = conn.execute("select count(*) from raw.readings").fetchone()[0]
            if loaded != n or in_raw != n or any(r["error"] for r in results):
                raise RuntimeError(f"push: {loaded} answered loaded, {in_raw} in raw, of {n}")
            latencies = sorted(r["seconds"] for r in results)
            out.update(
                push_seconds=round(seconds, 2),
                push_records_per_s=round(n / seconds),
                push_messages_per_s=round(len(results) / seconds, 1),
                push_latency_p50_ms=round(statistics.median(latencies) * 1000, 1),
                push_latency_p99_ms=round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 1),
            )
        out["push_vs_files_per_enterprise"] = round(
            out["push_records_per_s"] / out["files_per_enterprise_records_per_s"], 2
        )
        out["push_vs_files_one_drop"] = round(out["push_records_per_s"] / out["files_one_drop_records_per_s"], 3)
        return out


def plan_feed_with_registry(round_dir: Path):
    """The plan of the whole round (registries + readings), for the items and metering instruments."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for src in (round_dir / "registry").iterdir():
            (tmp / src.name).write_bytes(src.read_bytes())
        for d in (round_dir / "centres").iterdir():
            (tmp / d.name).mkdir()
            (tmp / d.name / "readings_round.csv").write_bytes((d / "readings_round.csv").read_bytes())
        return plan_feed(tmp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enterprises", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(database_url(), args.enterprises, args.items, args.concurrency)
    print(json.dumps(result) if args.json else "\n".join(f"{k:34} {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
