"""Meter data of any shape is booked without loss (feed contract: "Periods of any length"). One feed
holds a meter per case, built once; each test checks its meter's booked energy to the kWh, computed by
hand from the rule written next to it:
- every valid period books exactly itself onto the grid intervals it overlaps (the meter's cadence, at
  most a day), in proportion to the overlap; Σ booked = Σ valid readings;
- a register books its advance over its high-water mark: never more than last − first (+ rollovers).
Values are chosen so the per-day split is whole: 1 kWh per minute or per hour, 10 kWh per day."""

from __future__ import annotations

import gzip
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from ingestion.loader import ingest_path
from orchestration.dbt_env import run_dbt, warehouse_target_path
from tests.feeds import ENTERPRISES, READINGS_HEADER, STEEL, reading
from tests.integration.test_incremental_build import VEE_SHARDS

METERS = (
    "enterprise_id,meter_id,energy_code,unit,reading_type,multiplier,register_max,direction,scope,rated_max,timezone\n"
    f"{STEEL},DRIFT,electricity,kWh,interval,1,,in,boundary,,\n"
    f"{STEEL},BILL,electricity,kWh,interval,1,,in,boundary,,\n"
    f"{STEEL},CAL,electricity,kWh,interval,1,,in,boundary,,\n"
    f"{STEEL},DST,electricity,kWh,interval,1,,in,boundary,,America/Chicago\n"
    f"{STEEL},DST25,electricity,kWh,interval,1,,in,boundary,,Australia/Sydney\n"
    f"{STEEL},BERLIN,electricity,kWh,interval,1,,in,boundary,,Europe/Berlin\n"
    f"{STEEL},LOCAL,electricity,kWh,interval,1,,in,boundary,,\n"
    f"{STEEL},ENDONLY,electricity,kWh,interval,1,,in,boundary,,\n"
    f"{STEEL},OVERLAP,electricity,kWh,interval,1,,in,boundary,,\n"
    f"{STEEL},REGNEG,electricity,kWh,register,1,999999,in,boundary,1000,\n"
    f"{STEEL},JITTER,electricity,kWh,register,1,999999,in,boundary,1000,\n"
    f"{STEEL},GZ,electricity,kWh,interval,1,,in,boundary,,\n"
    f"{STEEL},SILENT,electricity,kWh,interval,1,,in,boundary,,\n"
    f"{STEEL},RESENT,electricity,kWh,interval,1,,in,boundary,,\n"
)
CST = "+08:00"
UTC_PLUS_8 = timezone(timedelta(hours=8))
SENT = "2026-03-20T00:00:00+08:00"
SENT_APRIL = "2026-04-20T00:00:00+08:00"

# 22 consecutive billing periods of 27–35 days from 2024-01-01, 10 kWh a day of each
BILL_LENGTHS = [27, 28, 29, 30, 31, 32, 33, 34, 35, 30, 31, 29, 28, 33, 30, 31, 27, 35, 30, 31, 30, 32]


def _bill_rows() -> list[str]:
    rows, start = [], date(2024, 1, 1)
    for days in BILL_LENGTHS:
        end = start + timedelta(days=days)
        rows.append(reading(STEEL, "BILL", f"{start}T00:00:00{CST}", f"{end}T00:00:00{CST}", str(10 * days)))
        start = end
    return rows


def _drift_rows() -> list[str]:
    # manual readings around 08:00 (1 kWh a minute of each period): 08:00 → 08:02 → 07:59, then a
    # 2-minute gap (07:59 → 08:01) before the last
    t = [
        ("2026-01-01T08:00", "2026-01-02T08:02"),  # 1442 min
        ("2026-01-02T08:02", "2026-01-03T07:59"),  # 1437 min
        ("2026-01-03T08:01", "2026-01-04T08:00"),  # 1439 min
    ]
    rows = []
    for s, e in t:
        minutes = int((datetime.fromisoformat(e) - datetime.fromisoformat(s)).total_seconds() // 60)
        rows.append(reading(STEEL, "DRIFT", f"{s}:00{CST}", f"{e}:00{CST}", str(minutes)))
    return rows


def _dst_rows() -> list[str]:
    # local midnight to midnight in Chicago, 1 kWh an hour: 2026-03-08 has 23 hours (DST starts)
    rows = []
    for d in range(5, 13):
        hours = 23 if d == 8 else 24
        rows.append(
            reading(STEEL, "DST", f"2026-03-{d:02d} 00:00:00", f"2026-03-{d + 1:02d} 00:00:00", str(hours), sent=SENT)
        )
    return rows


def _dst25_rows() -> list[str]:
    # local midnight to midnight in Sydney, 1 kWh an hour: 2026-04-05 has 25 hours (daylight saving ends)
    return [
        reading(
            STEEL, "DST25", f"2026-04-{d:02d} 00:00:00", f"2026-04-{d + 1:02d} 00:00:00", str(hours), sent=SENT_APRIL
        )
        for d, hours in ((3, 24), (4, 24), (5, 25), (6, 24))
    ]


def _rows() -> list[str]:
    rows = [*_bill_rows(), *_drift_rows(), *_dst_rows(), *_dst25_rows()]
    # two calendar months of monthly readings
    rows += [
        reading(STEEL, "CAL", f"2026-01-01T00:00:00{CST}", f"2026-02-01T00:00:00{CST}", "310"),
        reading(STEEL, "CAL", f"2026-02-01T00:00:00{CST}", f"2026-03-01T00:00:00{CST}", "280"),
    ]
    # local times without offset: Beijing time (the meter has no timezone) and Berlin (UTC+1 in January)
    rows += [
        reading(STEEL, "LOCAL", "2026-01-10 00:00:00", "2026-01-10 00:15:00", "5", sent=SENT),
        reading(STEEL, "BERLIN", "2026-01-10 00:00:00", "2026-01-10 00:15:00", "7", sent=SENT),
    ]
    # end-only 15-minute readings: each runs from the previous reading's end (the first: end − 15 min)
    rows += [
        reading(STEEL, "ENDONLY", None, f"2026-01-10T00:{m:02d}:00{CST}", str(v))
        for m, v in ((15, 1), (30, 2), (45, 3))
    ] + [reading(STEEL, "ENDONLY", None, f"2026-01-10T01:00:00{CST}", "4")]
    # a daily period overlapping the one before it
    rows += [
        reading(STEEL, "OVERLAP", f"2026-01-10T00:00:00{CST}", f"2026-01-11T00:00:00{CST}", "24"),
        reading(STEEL, "OVERLAP", f"2026-01-11T00:00:00{CST}", f"2026-01-12T00:00:00{CST}", "24"),
        reading(STEEL, "OVERLAP", f"2026-01-11T12:00:00{CST}", f"2026-01-12T12:00:00{CST}", "999"),
    ]
    # registers: a negative reading, and dips within the jitter tolerance (0.1 % of the previous value)
    for meter, values in (
        ("REGNEG", ["100", "110", "120", "-1", "140"]),
        ("JITTER", ["1000", "1000.5", "1000.4", "1000.9", "1001.0"]),
    ):
        for k, v in enumerate(values):
            rows.append(reading(STEEL, meter, None, f"2026-01-10T{k // 4:02d}:{15 * (k % 4):02d}:00{CST}", v))
    # 15-minute readings on 02-01 … 02-05, nothing at all on 02-03
    for day in (1, 2, 4, 5):
        for q in range(96):
            start = datetime(2026, 2, day, tzinfo=UTC_PLUS_8) + timedelta(minutes=15 * q)
            end = start + timedelta(minutes=15)
            rows.append(reading(STEEL, "SILENT", start.isoformat(), end.isoformat(), "1"))
    return rows


@pytest.fixture(scope="module")
def booked(tmp_path_factory, fresh_database):
    feed = tmp_path_factory.mktemp("period_true")
    (feed / "enterprises.csv").write_text(ENTERPRISES, encoding="utf-8")
    (feed / "meters.csv").write_text(METERS, encoding="utf-8")
    (feed / "readings_cases.csv").write_text(READINGS_HEADER + "".join(_rows()), encoding="utf-8")
    gz = [
        reading(STEEL, "GZ", f"2026-01-10T00:{m:02d}:00{CST}", f"2026-01-10T00:{m + 15:02d}:00{CST}", "2.5")
        for m in (0, 15)
    ]
    (feed / "readings_gz.csv.gz").write_bytes(gzip.compress((READINGS_HEADER + "".join(gz)).encode()))
    url = fresh_database()
    summary = ingest_path(url, feed)
    run_dbt(["build"], url)
    # a file sent again under its name, with a bad row at the same line both times (incremental builds)
    for version, bad in enumerate(("abc", "xyz")):
        drop = tmp_path_factory.mktemp(f"resent_{version}")
        sent = f"2026-01-12T00:0{version}:00{CST}"
        rows = [
            reading(
                STEEL, "RESENT", f"2026-01-11T00:00:00{CST}", f"2026-01-11T00:15:00{CST}", str(version + 1), sent=sent
            ),
            reading(STEEL, "RESENT", f"2026-01-11T00:15:00{CST}", f"2026-01-11T00:30:00{CST}", bad, sent=sent),
        ]
        (drop / "readings_daily.csv").write_text(READINGS_HEADER + "".join(rows), encoding="utf-8")
        ingest_path(url, drop)
        run_dbt(["build"], url)  # raises if any error-severity test fails
    return url, summary


def _query(url: str, sql: str, params=()) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _intervals(url: str, meter: str) -> pd.DataFrame:
    return _query(
        url,
        "select interval_start, consumption, quality_code, observed_quality_code, vee_flag, is_received "
        "from intermediate.int_meter_intervals where enterprise_id = %s and meter_id = %s order by interval_start",
        (STEEL, meter),
    )


def _booked(url: str, meter: str) -> Decimal:
    """Σ of what the meter's own readings booked (gap estimates left out)."""
    return _query(
        url,
        "select coalesce(sum(observed_consumption), 0) b from intermediate.int_meter_intervals "
        "where enterprise_id = %s and meter_id = %s and observed_quality_code in ('measured', 'estimated')",
        (STEEL, meter),
    ).b[0]


def test_every_row_was_counted_and_only_the_negative_register_rejected(booked):
    url, _ = booked
    batches = _query(url, "select source_name, rows_read, rows_loaded, rows_quarantined from audit.ingest_batches")
    readings = batches[batches.source_name.str.contains("readings")]
    assert (readings.rows_read == readings.rows_loaded + readings.rows_quarantined).all()
    # gzip is a feed file like any other; the file sent again is two batches
    assert sorted(Path(n).name for n in readings.source_name) == [
        "readings_cases.csv",
        "readings_daily.csv",
        "readings_daily.csv",
        "readings_gz.csv.gz",
    ]
    rejected = _query(url, "select source_name, field, reason from quarantine.rejected_rows order by batch_id")
    assert list(rejected.field) == ["value"] * 3
    assert "register reading cannot be negative" in rejected.reason[0]  # the only reading of the cases refused
    assert [Path(n).name for n in rejected.source_name[1:]] == ["readings_daily.csv"] * 2


def test_27_to_35_day_billing_periods_book_every_day_of_their_months(booked):
    url, _ = booked
    # rule: 10 kWh a day of each period, split onto days by overlap → each month = 10 × its days covered
    monthly = _query(
        url,
        "select local_month, sum(consumption) q from intermediate.int_meter_daily "
        "where enterprise_id = %s and meter_id = 'BILL' group by 1 order by 1",
        (STEEL,),
    )
    end = date(2024, 1, 1) + timedelta(days=sum(BILL_LENGTHS))  # 676 days: 2025-11-07
    expected: dict[str, Decimal] = {}
    d = date(2024, 1, 1)
    while d < end:
        expected[f"{d:%Y-%m}"] = expected.get(f"{d:%Y-%m}", Decimal(0)) + 10
        d += timedelta(days=1)
    got = {f"{m:%Y-%m}": q for m, q in zip(monthly.local_month, monthly.q, strict=True) if q is not None}
    assert got == pytest.approx(expected, abs=Decimal("1e-9"))
    assert sum(expected.values()) == 10 * 676 == _booked(url, "BILL").quantize(Decimal("1e-9"))
    assert expected["2024-02"] == 290  # leap year February: 29 days


def test_two_calendar_months_of_monthly_readings_both_count(booked):
    url, _ = booked
    monthly = _query(
        url,
        "select local_month, sum(consumption) q from intermediate.int_meter_daily "
        "where enterprise_id = %s and meter_id = 'CAL' and consumption is not null group by 1 order by 1",
        (STEEL,),
    )
    got = {f"{m:%Y-%m}": float(q) for m, q in zip(monthly.local_month, monthly.q, strict=True)}
    assert got == pytest.approx({"2026-01": 310.0, "2026-02": 280.0}, abs=1e-9)  # 10 kWh a day of each


def test_drifting_daily_readings_book_their_minutes_on_calendar_days_and_leave_no_day_missing(booked):
    url, _ = booked
    iv = _intervals(url, "DRIFT").head(4)
    # a cadence of 12 h or more is booked on calendar days (Asia/Shanghai), 1 kWh a minute of each period:
    # 01-01 08:00 → 01-02 08:02 (1442): 960 on 01-01, 482 on 01-02; 08:02 → 01-03 07:59 (1437): 958 on
    # 01-02, 479 on 01-03; the gap 07:59 → 08:01 stays a gap; 08:01 → 01-04 08:00 (1439): 959 on 01-03,
    # 480 on 01-04. Days: 960, 482 + 958 = 1440, 479 + 959 = 1438, 480
    days = [pd.Timestamp(x).tz_convert("Asia/Shanghai").date().isoformat() for x in iv.interval_start]
    assert days == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    assert [float(x) for x in iv.consumption] == pytest.approx([960.0, 1440.0, 1438.0, 480.0], abs=1e-9)
    assert list(iv.observed_quality_code) == ["estimated"] * 4  # pro-rated shares
    assert iv.is_received.all()
    assert float(_booked(url, "DRIFT")) == pytest.approx(1442 + 1437 + 1439, abs=1e-9)


def test_a_23_hour_day_in_chicago_loses_nothing(booked):
    url, _ = booked
    iv = _intervals(url, "DST")
    iv = iv[iv.consumption.notna() & iv.observed_quality_code.isin(["measured", "estimated"])]
    # Chicago midnights, 1 kWh an hour, from 03-05 06:00Z (CST) to 03-13 05:00Z (CDT since 03-08), booked
    # on Beijing days [16:00Z, 16:00Z): 03-05 from 06:00Z = 10 h, 03-06 … 03-12 whole (24 h each), 03-13
    # until 05:00Z = 13 h
    assert [float(x) for x in iv.consumption] == pytest.approx([10] + [24] * 7 + [13], abs=1e-9)
    assert float(_booked(url, "DST")) == pytest.approx(7 * 24 + 23, abs=1e-9)
    first = _query(url, "select min(period_start) s from staging.stg_raw__readings where meter_id = 'DST'").s[0]
    assert first == datetime.fromisoformat("2026-03-05T06:00:00+00:00")  # local midnight in Chicago, CST


def test_a_25_hour_day_in_sydney_loses_nothing(booked):
    url, _ = booked
    iv = _intervals(url, "DST25")
    iv = iv[iv.consumption.notna() & iv.observed_quality_code.isin(["measured", "estimated"])]
    # Sydney midnights, 1 kWh an hour, from 04-02 13:00Z (AEDT, +11) to 04-06 14:00Z (AEST, +10 since the
    # 25-hour 04-05), booked on Beijing days [16:00Z, 16:00Z): 04-02 from 13:00Z = 3 h, 04-03 … 04-05 whole,
    # 04-06 until 14:00Z = 22 h. Σ 3 + 72 + 22 = 97 = 24 + 24 + 25 + 24
    assert [float(x) for x in iv.consumption] == pytest.approx([3, 24, 24, 24, 22], abs=1e-9)
    assert float(_booked(url, "DST25")) == pytest.approx(97, abs=1e-9)


def test_local_times_without_offset_are_read_in_the_meters_zone(booked):
    url, _ = booked
    ends = _query(
        url,
        "select meter_id, period_end from staging.stg_raw__readings where meter_id in ('LOCAL', 'BERLIN') order by 1",
    )
    got = dict(zip(ends.meter_id, ends.period_end, strict=True))
    assert got["LOCAL"] == datetime.fromisoformat("2026-01-10T00:15:00+08:00")  # Beijing time by default
    assert got["BERLIN"] == datetime.fromisoformat("2026-01-10T00:15:00+01:00")  # CET in January
    assert float(_booked(url, "BERLIN")) == 7.0


def test_end_only_readings_run_from_the_previous_reading(booked):
    url, _ = booked
    iv = _intervals(url, "ENDONLY").head(4)
    assert [float(x) for x in iv.consumption] == [1.0, 2.0, 3.0, 4.0]
    assert list(iv.observed_quality_code) == ["measured"] * 4
    assert iv.interval_start.iloc[0] == datetime.fromisoformat("2026-01-10T00:00:00+08:00")  # end − 15 min


def test_an_overlapping_period_is_rejected_and_alerted_not_summed(booked):
    url, _ = booked
    assert float(_booked(url, "OVERLAP")) == 48.0  # the 999 starting before the previous period ended: never booked
    alerts = _query(url, "select rule_id from marts.fct_alerts where meter_id = 'OVERLAP'")
    assert "DF-OVERLAP" in set(alerts.rule_id)


def test_a_negative_register_reading_is_rejected_and_never_booked_as_measured(booked):
    url, _ = booked
    iv = _intervals(url, "REGNEG")
    iv = iv[iv.observed_quality_code.isin(["measured", "estimated"])]
    # 100 → 110 → 120 measured (10 + 10); -1 rejected at the door; 120 → 140 over two intervals: 10 + 10 estimated
    assert [float(x) for x in iv.consumption] == [10.0, 10.0, 10.0, 10.0]
    assert list(iv.observed_quality_code) == ["measured", "measured", "estimated", "estimated"]
    assert float(_booked(url, "REGNEG")) == 140 - 100


def test_register_jitter_never_books_more_than_the_register_advanced(booked):
    url, _ = booked
    iv = _intervals(url, "JITTER")
    iv = iv[iv.observed_quality_code == "measured"]
    # 1000 → 1000.5: 0.5; → 1000.4: a dip of 0.1 ≤ 0.1 % (jitter), 0; → 1000.9: 0.4 over the high-water
    # mark 1000.5; → 1001.0: 0.1. Σ 1.0 = last − first
    assert [float(x) for x in iv.consumption] == pytest.approx([0.5, 0.0, 0.4, 0.1], abs=1e-12)
    assert "register_jitter" in set(iv.vee_flag.dropna())
    assert _booked(url, "JITTER") == Decimal("1001.0") - Decimal("1000")


def test_a_gzip_file_is_booked_like_any_other(booked):
    url, _ = booked
    assert float(_booked(url, "GZ")) == 5.0


def test_conservation_holds_for_every_interval_meter(booked):
    """Σ booked = Σ valid readings per interval meter (the overlapping period is the one reading not valid)."""
    url, _ = booked
    sums = _query(
        url,
        "select r.meter_id, sum(r.value) sent, "
        "  (select sum(observed_consumption) from intermediate.int_meter_intervals i "
        "   where i.enterprise_id = r.enterprise_id and i.meter_id = r.meter_id "
        "   and i.observed_quality_code in ('measured', 'estimated')) booked "
        "from staging.stg_raw__readings r join staging.stg_raw__meters m using (enterprise_id, meter_id) "
        "where m.reading_type = 'interval' and r.meter_id <> 'OVERLAP' group by r.enterprise_id, r.meter_id",
    )
    for meter, sent, booked_sum in sums.itertuples(index=False):
        assert float(booked_sum) == pytest.approx(float(sent), rel=1e-12), meter


def test_the_conservation_test_fails_naming_a_meter_whose_bookings_are_off(booked):
    """The dbt conservation test (macros/tests/interval_bookings_conserved.sql, on each shard table of the
    observations, macros/vee_shards.sql) must catch a booking that departs from the readings: RESENT, the meter the
    latest build rebuilt, gets 1 more booked in one interval of its shard table. The test of that shard then fails
    and names that meter with the 1 it is off by; restored, it passes again."""
    url, _ = booked
    test = "test_name:interval_bookings_conserved"
    shards = [f"intermediate.int_meter_observations__shard_{n}" for n in range(VEE_SHARDS)]
    changed = "update {} set observed_consumption = observed_consumption + %s where enterprise_id = %s and " + (
        "meter_id = 'RESENT' and quality_code <> 'rejected' and interval_start = (select min(interval_start) from "
        "intermediate.int_meter_observations where enterprise_id = %s and meter_id = 'RESENT' and quality_code <> "
        "'rejected')"
    )

    def book(extra: int) -> int:
        with psycopg.connect(url) as conn:
            return sum(conn.execute(changed.format(shard), (extra, STEEL, STEEL)).rowcount for shard in shards)

    run_dbt(["test", "--select", test], url)  # passes as built
    assert book(1) == 1  # one interval, in one shard
    try:
        with pytest.raises(RuntimeError, match=f"dbt test --select {test} failed"):
            run_dbt(["test", "--select", test], url)
        compiled = sorted(warehouse_target_path(url).rglob("compiled/**/interval_bookings_conserved_*.sql"))
        assert len(compiled) == VEE_SHARDS  # one test per shard
        failures = pd.concat([_query(url, path.read_text()) for path in compiled], ignore_index=True)
        assert [(e, m) for e, m in zip(failures.enterprise_id, failures.meter_id, strict=True)] == [(STEEL, "RESENT")]
        assert float(failures.booked_total[0] - failures.readings_total[0]) == pytest.approx(1.0)
    finally:
        assert book(-1) == 1
    run_dbt(["test", "--select", test], url)


def test_a_day_with_nothing_received_counts_in_completeness(booked):
    url, _ = booked
    days = _query(
        url,
        "select local_date, intervals_expected, intervals_received from intermediate.int_meter_daily "
        "where enterprise_id = %s and meter_id = 'SILENT' and local_date <= '2026-02-05' order by 1",
        (STEEL,),
    )
    assert [str(d) for d in days.local_date] == [f"2026-02-0{d}" for d in range(1, 6)]  # 02-03 is there
    assert list(days.intervals_expected) == [96] * 5
    assert list(days.intervals_received) == [96, 96, 0, 96, 96]
    assert days.intervals_received.sum() / days.intervals_expected.sum() == 0.8  # 4 days of 5


def test_a_file_sent_again_with_a_bad_row_at_the_same_row_updates_its_alert(booked):
    """Rejected-row alerts are keyed by owner, file name and row: a second version of the file with a bad
    row at the same line used to give two alerts with one identity, and the unique test on fct_alerts then
    failed the build for every enterprise, on that build and every later one (the fixture's builds raise)."""
    url, _ = booked
    alerts = _query(url, "select evidence from marts.fct_alerts where rule_id = 'DF-REJECTED'")
    resent = [e for e in alerts.evidence if Path(e["file"]).name == "readings_daily.csv"]
    assert len(resent) == 1
    assert resent[0]["row"] == 3 and resent[0]["value"] == "xyz"  # line 3 (after the header); the latest batch
    assert float(_booked(url, "RESENT")) == 2.0  # the later version of the good row replaced the first
