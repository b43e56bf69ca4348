"""Property-based conservation (hypothesis): random meters of every shape — interval periods from
1 minute to 35 days, regular, drifting, with gaps, overlaps and end-only readings, written with a UTC
offset or as wall-clock time, daily meters on local midnights in Asia/Shanghai, America/Chicago and
Europe/Berlin (local times without offset, DST days included), registers with rollovers, resets,
jitter dips and negative readings — are generated into ONE feed, built once, and each meter's booked
energy per day, per month and in all is compared with an independent pure-Python computation from the
rule of docs/feed-contract.md ("Periods of any length"):

- interval meters: each valid period's value is split onto Asia/Shanghai calendar days by time overlap;
  a period starting before the previous one (by end) ended is not booked; negative values are not;
- registers: a negative reading is rejected at the door; each step books the register's advance over
  the highest of the previous four readings (rollovers unwrapped); a dip within 0.1 % books nothing; a
  reset books nothing; Σ booked never exceeds the register's advance.

Hypothesis draws the examples (deterministically: derandomize=True); they are built together so the
suite adds about one dbt build, not one per example."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.loader import ingest_path
from orchestration.dbt_env import run_dbt
from tests.feeds import CEMENT, ENTERPRISES, READINGS_HEADER, STEEL, credit_code

CHEMICAL = credit_code("91130100MA0C4D5E6")
SHANGHAI = ZoneInfo("Asia/Shanghai")
SENT = "2026-11-30T00:00:00+08:00"  # after every period (the door rejects a reading sent before it ends)
REGISTER_MAX = 99999.0
JITTER, LOOKBACK = 0.001, 4  # dbt vars register_jitter_tolerance, register_high_water_readings


@dataclass
class Period:
    start: datetime | None  # None: end-only (the period runs from the previous reading's end)
    end: datetime
    value: float
    booked_from: datetime  # where the rule says the period starts


@dataclass
class IntervalMeter:
    enterprise: str
    zone: str
    periods: list[Period] = field(default_factory=list)
    written: str = "local"  # how its times are written: local wall-clock, or with a UTC offset (+08:00, Z)


@dataclass
class RegisterMeter:
    enterprise: str
    readings: list[tuple[datetime, float]] = field(default_factory=list)


MINUTE = timedelta(minutes=1)


@st.composite
def sub_daily_meter(draw) -> IntervalMeter:
    """A Beijing-time meter on a 5-minute, 15-minute or hourly cadence: mostly regular periods, with
    drift, gaps, short and long periods (up to 35 days), overlaps and end-only readings."""
    cadence = draw(st.sampled_from([5, 15, 60])) * MINUTE
    day = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 4)))
    t = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + cadence * draw(st.integers(0, 20))
    meter = IntervalMeter(STEEL, "Asia/Shanghai", written=draw(st.sampled_from(["local", "+08:00", "Z"])))
    previous_end: datetime | None = None
    for k in range(draw(st.integers(12, 40))):
        kind = (
            "regular"
            if k == 0
            else draw(st.sampled_from(["regular"] * 7 + ["gap", "drift", "short", "long", "overlap", "end_only"]))
        )
        start = t
        length = cadence
        if kind == "gap":
            start = t + cadence * draw(st.integers(1, 6))
        elif kind == "drift":
            start = t + MINUTE * draw(st.integers(0, 2))
            length = cadence + MINUTE * draw(st.integers(-2, 2))
        elif kind == "short":
            length = MINUTE * draw(st.integers(1, max(1, cadence // MINUTE - 1)))
        elif kind == "long":
            length = MINUTE * draw(st.integers(cadence // MINUTE + 1, 2 * 24 * 60))
        elif kind == "overlap" and previous_end is not None:
            start = previous_end - MINUTE * draw(st.integers(1, 4))
            length = cadence + MINUTE * 5
        end = start + length
        value = float(draw(st.decimals(0, 500, places=3)))
        if kind == "end_only" and previous_end is not None:
            # runs from the previous reading's end, never longer than the cadence
            meter.periods.append(Period(None, end, value, max(previous_end, end - cadence)))
        else:
            meter.periods.append(Period(start, end, value, start))
        previous_end, t = end, end
    return meter


@st.composite
def daily_meter(draw) -> IntervalMeter:
    """Local midnight to midnight in one of three zones (23- and 25-hour days where DST changes), with
    gaps, billing-length periods (27–35 days) and, in Beijing time, readings a few minutes late (the next
    period starts where the late one ended)."""
    zone = draw(st.sampled_from(["Asia/Shanghai", "America/Chicago", "Europe/Berlin"]))
    tz = ZoneInfo(zone)
    day = date(2026, 3, 1) + timedelta(days=draw(st.integers(0, 10)))  # DST starts 03-08 (US), 03-29 (EU)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    meter = IntervalMeter(CHEMICAL, zone)
    for k in range(draw(st.integers(6, 30))):
        kind = "regular" if k == 0 else draw(st.sampled_from(["regular"] * 5 + ["gap", "billing", "late"]))
        if kind == "gap":
            day += timedelta(days=draw(st.integers(1, 3)))
            start = datetime(day.year, day.month, day.day, tzinfo=tz)
        day += timedelta(days=draw(st.integers(27, 35)) if kind == "billing" else 1)
        end = datetime(day.year, day.month, day.day, tzinfo=tz)
        if kind == "late" and zone == "Asia/Shanghai":
            end += MINUTE * draw(st.integers(1, 5))
        meter.periods.append(Period(start, end, float(draw(st.decimals(0, 5000, places=2))), start))
        start = end
    return meter


@st.composite
def register_meter(draw) -> RegisterMeter:
    """15-minute register readings with rollovers past 99,999, resets, jitter dips and negative readings."""
    t = datetime(2026, 1, 3, tzinfo=SHANGHAI) + 15 * MINUTE * draw(st.integers(0, 40))
    value = float(draw(st.decimals(0, 99000, places=2)))
    meter = RegisterMeter(CEMENT)
    meter.readings.append((t, value))
    for _ in range(draw(st.integers(10, 40))):
        t += 15 * MINUTE
        kind = draw(st.sampled_from(["advance"] * 6 + ["rollover", "reset", "jitter", "negative", "skip"]))
        if kind == "skip":
            continue
        if kind == "negative":
            meter.readings.append((t, -1.0))
            continue
        if kind == "rollover":
            value = float(draw(st.decimals(REGISTER_MAX - 40, REGISTER_MAX - 1, places=2)))
            meter.readings.append((t, value))
            t += 15 * MINUTE
            value = round(value + float(draw(st.decimals(1, 39, places=2))) - REGISTER_MAX, 2)
        elif kind == "reset":
            value = float(draw(st.decimals(0, 5, places=2)))
        elif kind == "jitter":  # a dip well inside the tolerance, recovered by the next reading
            before = value
            value = round(value - min(value * JITTER / 2, float(draw(st.decimals(0.01, 0.5, places=2)))), 2)
            meter.readings.append((t, value))
            t += 15 * MINUTE
            value = round(before + float(draw(st.decimals(0, 30, places=2))), 2)
        else:
            value = round(value + float(draw(st.decimals(0, 30, places=2))), 2)
        meter.readings.append((t, max(value, 0.0)))
    return meter


def _collect(strategy, n: int) -> list:
    found: list = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example):
        found.append(example)

    collect()
    return found


# --- the independent computation ----------------------------------------------------------------


def _split_by_day(start: datetime, end: datetime, value: float, into: dict[date, float]) -> None:
    # in UTC: Python subtracts two times of one zone as wall-clock times (a 23-hour day would count 24)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    length = (end - start).total_seconds()
    t = start
    while t < end:
        local = t.astimezone(SHANGHAI)
        next_midnight = datetime(local.year, local.month, local.day, tzinfo=SHANGHAI) + timedelta(days=1)
        piece_end = min(end, next_midnight)
        into[local.date()] += value * (piece_end - t).total_seconds() / length
        t = piece_end


def expected_interval_days(meter: IntervalMeter) -> dict[date, float]:
    days: dict[date, float] = defaultdict(float)
    previous_end = None
    for p in sorted(meter.periods, key=lambda p: p.end):
        overlapping = previous_end is not None and p.booked_from < previous_end
        previous_end = p.end
        if not overlapping and p.value >= 0:
            _split_by_day(p.booked_from, p.end, p.value, days)
    return days


def expected_register(meter: RegisterMeter) -> tuple[dict[date, float], float]:
    """(booked per day, the register's advance: over each register between resets, its highest position
    (rollovers unwrapped) − its opening value)."""
    readings = [(t, v) for t, v in meter.readings if v >= 0]  # negatives are rejected at the door
    days: dict[date, float] = defaultdict(float)
    rollovers = 0
    segment = [readings[0][1]]  # positions of the current register, since its opening reading
    advance = 0.0
    for (t0, v0), (t1, v1) in pairwise(readings):
        if v1 >= v0:
            kind = "delta"
        elif v0 - v1 <= JITTER * v0:
            kind = "jitter"
        elif v0 >= 0.5 * REGISTER_MAX and v1 < 0.5 * REGISTER_MAX:
            kind = "rollover"
        else:
            kind = "reset"  # never booked: the value after it opens a new register
        if kind == "rollover":
            rollovers += 1
        position = v1 + REGISTER_MAX * rollovers
        if kind == "reset":
            advance += max(segment) - segment[0]
            segment = [position]
            continue
        _split_by_day(t0, t1, max(0.0, position - max(segment[-LOOKBACK:])), days)
        segment.append(position)
    advance += max(segment) - segment[0]
    return days, advance


# --- one feed, one build ------------------------------------------------------------------------


def _local(t: datetime, zone: str, written: str = "local") -> str:
    if written == "Z":
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if written == "+08:00":
        return t.astimezone(SHANGHAI).isoformat()
    return t.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture(scope="module")
def world(tmp_path_factory, fresh_database):
    interval = _collect(sub_daily_meter(), 20) + _collect(daily_meter(), 15)
    registers = _collect(register_meter(), 15)
    meters = {f"P{k:03d}": m for k, m in enumerate(interval)} | {f"R{k:03d}": m for k, m in enumerate(registers)}
    registry = [
        "enterprise_id,meter_id,energy_code,unit,reading_type,multiplier,register_max,direction,scope,rated_max,timezone"
    ]
    rows = []
    for meter_id, m in meters.items():
        if isinstance(m, IntervalMeter):
            registry.append(f"{m.enterprise},{meter_id},electricity,kWh,interval,1,,in,boundary,,{m.zone}")
            for p in m.periods:
                start = "" if p.start is None else _local(p.start, m.zone, m.written)
                end = _local(p.end, m.zone, m.written)
                rows.append(f"{m.enterprise},{meter_id},{start},{end},{p.value},kWh,measured,{SENT}")
        else:
            registry.append(f"{m.enterprise},{meter_id},electricity,kWh,register,1,{REGISTER_MAX:.0f},in,boundary,,")
            rows += [
                f"{m.enterprise},{meter_id},,{_local(t, 'Asia/Shanghai')},{v},kWh,measured,{SENT}"
                for t, v in m.readings
            ]
    feed = tmp_path_factory.mktemp("properties")
    third = f"{CHEMICAL},河北某化工有限公司,130100,C3120,true,30000,,2025-06-01\n"
    (feed / "enterprises.csv").write_text(ENTERPRISES + third, encoding="utf-8")
    (feed / "meters.csv").write_text("\n".join(registry) + "\n", encoding="utf-8")
    (feed / "readings_properties.csv").write_text(READINGS_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    url = fresh_database()
    ingest_path(url, feed)
    run_dbt(["build"], url)
    # the same readings arriving in two batches (split at the median period end), built incrementally
    ends = sorted(row.split(",")[3] for row in rows)
    cut = ends[len(ends) // 2]
    incremental = fresh_database()
    run_dbt(["seed"], incremental)
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    for drop, part in (
        (first, [r for r in rows if r.split(",")[3] < cut]),
        (second, [r for r in rows if r.split(",")[3] >= cut]),
    ):
        for name in ("enterprises.csv", "meters.csv"):
            (drop / name).write_bytes((feed / name).read_bytes())
        (drop / "readings_properties.csv").write_text(READINGS_HEADER + "\n".join(part) + "\n", encoding="utf-8")
        ingest_path(incremental, drop)
        # built with the data tests: the booking conservation tests check the second build from each meter's first
        # rebuilt interval on, where registers' steps and long periods straddle the cut (raises if one fails)
        run_dbt(["build"], incremental)
    with psycopg.connect(url) as conn:
        booked = conn.execute(
            "select meter_id, local_date, sum(observed_consumption)::float8 from intermediate.int_meter_intervals "
            "where observed_quality_code in ('measured', 'estimated') group by 1, 2"
        ).fetchall()
        rejected = conn.execute("select count(*) from quarantine.rejected_rows").fetchone()[0]
    by_meter: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for meter_id, day, q in booked:
        by_meter[meter_id][day] += q
    return meters, by_meter, rejected, url, incremental


def _assert_days_equal(meter_id: str, got: dict[date, float], expected: dict[date, float]) -> None:
    for day in sorted(set(got) | set(expected)):
        assert got.get(day, 0.0) == pytest.approx(expected.get(day, 0.0), rel=1e-9, abs=1e-6), (meter_id, day)
    months_got, months_expected = defaultdict(float), defaultdict(float)
    for d, q in got.items():
        months_got[d.replace(day=1)] += q
    for d, q in expected.items():
        months_expected[d.replace(day=1)] += q
    assert dict(months_got) == pytest.approx(dict(months_expected), rel=1e-9, abs=1e-6), meter_id


def test_examples_cover_every_shape(world):
    meters, _, rejected, _, _ = world
    intervals = [m for m in meters.values() if isinstance(m, IntervalMeter)]
    assert {m.zone for m in intervals} == {"Asia/Shanghai", "America/Chicago", "Europe/Berlin"}
    assert {m.written for m in intervals} == {"local", "+08:00", "Z"}  # wall-clock times and UTC offsets
    lengths = [p.end - p.booked_from for m in intervals for p in m.periods]
    assert min(lengths) <= timedelta(minutes=3) and max(lengths) >= timedelta(days=27)
    assert any(p.start is None for m in intervals for p in m.periods)  # end-only
    overlaps = sum(
        later.booked_from < earlier.end
        for m in intervals
        for earlier, later in pairwise(sorted(m.periods, key=lambda p: p.end))
    )
    assert overlaps > 0
    registers = [m for m in meters.values() if isinstance(m, RegisterMeter)]
    steps = [(v0, v1) for m in registers for (_, v0), (_, v1) in pairwise([r for r in m.readings if r[1] >= 0])]
    assert any(v0 - v1 > 0.5 * REGISTER_MAX for v0, v1 in steps)  # rollovers
    assert any(0 < v0 - v1 <= JITTER * v0 for v0, v1 in steps)  # jitter dips
    assert any(v1 < v0 - JITTER * v0 and v0 < 0.5 * REGISTER_MAX for v0, v1 in steps)  # resets
    negatives = sum(v < 0 for m in registers for _, v in m.readings)
    assert negatives > 0 and rejected == negatives  # each negative register reading, and nothing else


def test_interval_meters_book_every_period_onto_its_days(world):
    meters, booked, _, _, _ = world
    for meter_id, m in meters.items():
        if isinstance(m, IntervalMeter):
            _assert_days_equal(meter_id, booked.get(meter_id, {}), expected_interval_days(m))


def test_registers_book_their_steps_and_never_more_than_they_advanced(world):
    meters, booked, _, _, _ = world
    for meter_id, m in meters.items():
        if isinstance(m, RegisterMeter):
            expected, advance = expected_register(m)
            got = booked.get(meter_id, {})
            _assert_days_equal(meter_id, got, expected)
            assert sum(got.values()) <= advance + 1e-6, meter_id


def test_utc_helpers_agree():  # the independent computation's own day split
    days: dict[date, float] = defaultdict(float)
    _split_by_day(datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 2, 12, tzinfo=UTC), 24.0, days)
    # 12:00Z = 20:00 Beijing: 4 h on 01-01, 20 h on 01-02
    assert dict(days) == pytest.approx({date(2026, 1, 1): 4.0, date(2026, 1, 2): 20.0})


@pytest.mark.parametrize(
    "model", ["int_meter_cadence", "int_meter_observations", "int_meter_intervals", "int_meter_daily"]
)
def test_two_incremental_batches_build_what_one_full_build_does(world, model):
    from tests.integration.test_incremental_build import COMPARED, table

    _, _, _, full, incremental = world
    name = f"intermediate.{model}"
    a, b = table(incremental, name, COMPARED[name]), table(full, name, COMPARED[name])
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
