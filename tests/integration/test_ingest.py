"""Ingestion into real PostgreSQL: counts conserved, exactly once, quarantine with reasons, crash safety,
and the real measured steel-works feed (UCI 2018) loaded with its midnight rows in the right day."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
import psycopg
import pytest

from ingestion.loader import ingest_path
from tests.feeds import CEMENT, READINGS_HEADER, STEEL, reading, write_basic_feed

REALDATA = (
    Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "uci-steel-2018" / "steel_industry_2018.csv"
)


def _count(url, table):
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_drop_loads_registries_first_conserves_counts_and_loads_once(warehouse_url, tmp_path):
    feed = write_basic_feed(tmp_path / "landing")
    (feed / STEEL).mkdir()
    rows = [
        reading(STEEL, "EL-01", f"2026-01-01T00:{m:02d}:00+08:00", f"2026-01-01T00:{m + 15:02d}:00+08:00", "10")
        for m in (0, 15, 30)
    ]
    rows.append(rows[0])  # exact duplicate
    rows.append(reading(CEMENT, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1"))  # not owner
    rows.append("garbage line\n")
    # name sorts before the registries: registries must still load first
    (feed / STEEL / "a_readings.csv").write_text("x", encoding="utf-8")  # not a feed file name
    (feed / STEEL / "readings_2026-01.csv").write_text(READINGS_HEADER + "".join(rows), encoding="utf-8")
    summary = ingest_path(warehouse_url, feed).to_dict()
    assert summary["files"] == 3 and summary["files_ignored"] == 1
    assert summary["rows_read"] == summary["rows_loaded"] + summary["rows_quarantined"] + summary["rows_duplicate"]
    readings = next(b for b in summary["batches"] if b["entity"] == "readings")
    assert (
        readings["rows_read"],
        readings["rows_loaded"],
        readings["rows_quarantined"],
        readings["rows_duplicate"],
    ) == (6, 3, 2, 1)
    with psycopg.connect(warehouse_url) as conn:
        reasons = conn.execute(
            "SELECT row_number, field, reason FROM quarantine.rejected_rows ORDER BY row_number"
        ).fetchall()
        dup = conn.execute("SELECT row_number, first_row_number FROM quarantine.duplicate_rows").fetchall()
        ledger = conn.execute(
            "SELECT entity, rows_read, rows_loaded + rows_quarantined + rows_duplicate FROM audit.ingest_batches"
        ).fetchall()
    assert reasons[0][0] == 6 and "belongs to another enterprise" in reasons[0][2]
    assert reasons[1][0] == 7 and "fields" in reasons[1][2]
    assert dup == [(5, 2)]
    assert all(read == total for _, read, total in ledger)

    again = ingest_path(warehouse_url, feed).to_dict()
    assert again["files"] == 0 and again["files_skipped"] == 3
    assert _count(warehouse_url, "raw.readings") == 3


def test_bad_header_quarantines_every_row_and_nothing_is_lost(warehouse_url, tmp_path):
    feed = write_basic_feed(tmp_path / "drop")
    (feed / "readings_x.csv").write_text("enterprise_id,meter,value\na,b,1\nc,d,2\n", encoding="utf-8")
    summary = ingest_path(warehouse_url, feed).to_dict()
    b = next(b for b in summary["batches"] if b["entity"] == "readings")
    assert (b["rows_read"], b["rows_quarantined"]) == (2, 2)
    with psycopg.connect(warehouse_url) as conn:
        reason = conn.execute("SELECT reason FROM quarantine.rejected_rows WHERE entity = 'readings'").fetchone()[0]
    assert "not in feed contract v1: meter" in reason


def _big_readings_file(path: Path, n: int) -> None:
    starts = pl.datetime_range(
        pl.datetime(2026, 1, 1, time_zone="Asia/Shanghai"),
        pl.datetime(2026, 1, 1, time_zone="Asia/Shanghai") + pl.duration(minutes=15 * (n - 1)),
        "15m",
        eager=True,
    )
    fmt = "%Y-%m-%dT%H:%M:%S+08:00"
    frame = pl.DataFrame({"period_start": starts}).select(
        pl.lit(STEEL).alias("enterprise_id"),
        pl.lit("EL-01").alias("meter_id"),
        pl.col("period_start").dt.strftime(fmt),
        (pl.col("period_start") + pl.duration(minutes=15)).dt.strftime(fmt).alias("period_end"),
        (pl.int_range(0, n) % 97 + 100).cast(pl.String).alias("value"),
        pl.lit("kWh").alias("unit"),
        pl.lit("measured").alias("quality"),
        pl.lit("2026-06-01T00:00:00+08:00").alias("sent_at"),
    )
    frame.write_csv(path)


def test_ingest_killed_mid_file_leaves_nothing_partial_and_rerun_completes(fresh_database, tmp_path):
    feed = write_basic_feed(tmp_path / "drop")
    _big_readings_file(feed / "readings_big.csv", 800_000)
    reference_url, crash_url = fresh_database(), fresh_database()
    expected = ingest_path(reference_url, feed).to_dict()

    dbname = urlparse(crash_url).path.lstrip("/")  # the embedded URL's socket path (?host=/…) has slashes too
    env = {**os.environ, "IEM_DATABASE_URL": crash_url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; from ingestion.loader import ingest_path; ingest_path({crash_url!r}, {str(feed)!r})",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = False
    with psycopg.connect(crash_url, autocommit=True) as conn:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            copying = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query ILIKE 'COPY %%readings%%'",
                (dbname,),
            ).fetchone()[0]
            if copying:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.01)
    _, stderr = proc.communicate()
    assert killed, f"the ingest ended (exit {proc.returncode}) before it could be killed mid-COPY: {stderr[-2000:]}"
    # nothing of the readings file is visible after the kill
    time.sleep(0.5)
    assert _count(crash_url, "raw.readings") == 0
    with psycopg.connect(crash_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit.ingest_batches WHERE entity = 'readings'").fetchone()[0] == 0
    rerun = ingest_path(crash_url, feed).to_dict()
    assert rerun["files"] == 1 and rerun["files_skipped"] == 2
    for table in ("raw.enterprises", "raw.meters", "raw.readings", "quarantine.rejected_rows"):
        assert _count(crash_url, table) == _count(reference_url, table), table
    assert expected["rows_loaded"] == _count(reference_url, "raw.readings") + 2 + 4


@pytest.mark.skipif(not REALDATA.exists(), reason=f"real data not found at {REALDATA}")
def test_real_steel_works_feed_loads_whole_year_with_midnight_rows_in_their_day(warehouse_url, tmp_path):
    from stdnum.cn import uscc

    from ingestion.adapters.uci_steel import convert

    body = "91370100MA3C8F2K5"
    ent = body + uscc.calc_check_digit(body)
    feed = tmp_path / "uci"
    feed.mkdir()
    (feed / "enterprises.csv").write_text(
        "enterprise_id,name,region_code,industry_code,has_energy_centre,declared_tce\n"
        f"{ent},Steel works (UCI 2018 measured data),370100,C31,true,12000\n",
        encoding="utf-8",
    )
    (feed / "meters.csv").write_text(
        "enterprise_id,meter_id,energy_code,unit,reading_type,direction,scope,rated_max\n"
        f"{ent},EL-MAIN,electricity,kWh,interval,in,boundary,1000\n",
        encoding="utf-8",
    )
    converted = convert(REALDATA, feed, enterprise_id=ent)
    assert converted["rows"] == 35040
    summary = ingest_path(warehouse_url, feed).to_dict()
    assert summary["rows_quarantined"] == 0 and summary["rows_duplicate"] == 0
    with psycopg.connect(warehouse_url) as conn:
        total, n, _first, _last = conn.execute(
            "SELECT sum(value), count(*), min(period_start), max(period_end) FROM raw.readings"
        ).fetchone()
        # 01/01/2018 00:00 (file line 97) is 24:00 of 1 January in Korea time
        row97 = conn.execute(
            "SELECT period_end AT TIME ZONE 'Asia/Seoul', value FROM raw.readings WHERE row_number = 97"
        ).fetchone()
        per_local_day = conn.execute(
            "SELECT count(*), min(c), max(c) FROM (SELECT (period_start AT TIME ZONE 'Asia/Seoul')::date d, count(*) c "
            "FROM raw.readings GROUP BY 1) x"
        ).fetchone()
    assert n == 35040
    assert float(total) == pytest.approx(959636.71, abs=1e-6)  # the publisher's Usage_kWh column sum
    assert str(row97[0]) == "2018-01-02 00:00:00" and float(row97[1]) == 3.42
    assert per_local_day[0] == 365 and per_local_day[1] == per_local_day[2] == 96  # every Korean day complete


def test_header_only_and_zero_byte_files_load_as_empty_batches_not_crashes(warehouse_url, tmp_path):
    feed = write_basic_feed(tmp_path / "drop")
    (feed / "readings_header_only.csv").write_text(READINGS_HEADER + "\n", encoding="utf-8")
    (feed / "readings_zero_byte.csv").write_bytes(b"")
    summary = ingest_path(warehouse_url, feed).to_dict()
    assert summary["failures"] == 0
    batches = {b["source_name"]: b for b in summary["batches"]}
    for name in ("readings_header_only.csv", "readings_zero_byte.csv"):
        assert batches[name]["status"] == "loaded" and batches[name]["rows_read"] == 0, batches[name]
    assert summary["rows_read"] == summary["rows_loaded"] + summary["rows_quarantined"] + summary["rows_duplicate"]
