"""Feed contract v1.1 at the door, without a database: local times read in the meter's time zone
(daylight-saving gaps and repeats rejected with a reason naming them), end-only interval readings,
gzip files; every v1 row still validates."""

from __future__ import annotations

import gzip
from pathlib import PurePath

import polars as pl
import pytest

from ingestion import contract
from ingestion.loader import FeedFileError, read_feed_file
from ingestion.parse import parse_csv
from ingestion.reference import load_reference
from ingestion.validate import Context, validate
from tests.feeds import READINGS_HEADER, STEEL, reading

READINGS = contract.entity("readings")


def _ctx(timezone: str | None):
    meters = pl.DataFrame(
        {
            "enterprise_id": [STEEL],
            "meter_id": ["EL-01"],
            "energy_code": ["electricity"],
            "reading_type": ["interval"],
            "timezone": [timezone],
        },
        schema=dict.fromkeys(("enterprise_id", "meter_id", "energy_code", "reading_type", "timezone"), pl.String),
    )
    return Context(load_reference(), {STEEL}, meters)


def _check(lines: list[str], timezone: str | None = None):
    parsed = parse_csv((READINGS_HEADER + "".join(lines)).encode(), READINGS.field_names)
    return validate(parsed.frame, READINGS, _ctx(timezone))


def test_local_times_without_offset_are_read_in_the_meters_time_zone():
    # Chicago is UTC−6 in January (CST) and UTC−5 in July (CDT)
    checked = _check(
        [
            reading(STEEL, "EL-01", "2026-01-15 08:00:00", "2026-01-16 08:00", "10", sent="2026-01-16 09:00"),
            reading(STEEL, "EL-01", "2026-07-15T08:00", "2026-07-16T08:00:00", "10", sent="2026-07-16T09:00:00"),
        ],
        timezone="America/Chicago",
    )
    assert checked.rejects.height == 0
    assert checked.valid["period_start"].to_list() == [
        "2026-01-15T14:00:00.000000+00:00",
        "2026-07-15T13:00:00.000000+00:00",
    ]
    assert checked.valid["period_end"].to_list() == [
        "2026-01-16T14:00:00.000000+00:00",
        "2026-07-16T13:00:00.000000+00:00",
    ]


def test_a_meter_without_a_time_zone_reads_local_times_as_beijing_time():
    checked = _check([reading(STEEL, "EL-01", "2026-01-01 00:00:00", "2026-01-01 00:15:00", "1")])
    assert checked.rejects.height == 0
    assert checked.valid["period_start"].to_list() == ["2025-12-31T16:00:00.000000+00:00"]


def test_times_with_an_offset_load_unchanged_whatever_the_meters_zone():
    line = reading(
        STEEL, "EL-01", "2026-03-08T02:30:00+08:00", "2026-03-08T02:45:00+08:00", "1", sent="2026-03-08T03:00:00+08:00"
    )
    checked = _check([line], timezone="America/Chicago")
    assert checked.rejects.height == 0
    assert checked.valid["period_start"].to_list() == ["2026-03-08T02:30:00+08:00"]


@pytest.mark.parametrize(
    "start, end, field, words",
    [
        # 2026-03-08 02:00 → 03:00 in America/Chicago: 02:30 never happens
        ("2026-03-08 02:15", "2026-03-08 02:30", "period_start", ["does not exist in America/Chicago"]),
        # 2026-11-01 02:00 → 01:00: 01:00–02:00 happens twice
        ("2026-11-01 00:45", "2026-11-01 01:30", "period_end", ["ambiguous in America/Chicago", "UTC offset"]),
    ],
)
def test_local_times_a_daylight_saving_change_skips_or_repeats_are_rejected_with_the_zone(start, end, field, words):
    good = reading(STEEL, "EL-01", "2026-06-01 00:00", "2026-06-01 00:15", "1", sent="2026-06-01 01:00")
    checked = _check([good, reading(STEEL, "EL-01", start, end, "1")], timezone="America/Chicago")
    assert checked.valid["row_number"].to_list() == [2]
    (reject,) = checked.rejects.to_dicts()
    assert reject["row_number"] == 3 and reject["field"] == field
    assert all(w in reject["reason"] for w in words), reject["reason"]


def test_end_only_interval_readings_are_valid():
    checked = _check([reading(STEEL, "EL-01", None, "2026-01-01T00:15:00+08:00", "1")])
    assert checked.rejects.height == 0 and checked.valid["period_start"].to_list() == [None]


def test_a_meter_with_an_unknown_time_zone_is_rejected_with_a_reason():
    meters = contract.entity("meters")
    body = (
        "enterprise_id,meter_id,energy_code,unit,reading_type,timezone,installed_at\n"
        f"{STEEL},EL-01,electricity,kWh,interval,Europe/Berlin,2026-03-29 02:30\n"
        f"{STEEL},EL-02,electricity,kWh,interval,Mars/Olympus,\n"
        f"{STEEL},EL-03,electricity,kWh,interval,,2026-01-01 00:00\n"
    )
    parsed = parse_csv(body.encode(), meters.field_names)
    checked = validate(parsed.frame, meters, Context(load_reference(), {STEEL}, pl.DataFrame()))
    reasons = {r["row_number"]: (r["field"], r["reason"]) for r in checked.rejects.to_dicts()}
    # row 2: 02:30 on 2026-03-29 does not exist in Berlin (clocks jump 02:00 → 03:00)
    assert reasons[2][0] == "installed_at" and "does not exist in Europe/Berlin" in reasons[2][1]
    assert reasons[3] == ("timezone", "unknown time zone: not an IANA name such as Asia/Shanghai or Europe/Berlin")
    (ok,) = checked.valid.to_dicts()
    assert ok["timezone"] == "Asia/Shanghai"  # the default is filled in
    assert ok["installed_at"] == "2025-12-31T16:00:00.000000+00:00"


def test_gzip_files_are_feed_files_and_read_as_their_content(tmp_path):
    assert contract.entity_of_file(PurePath("readings_2026-01.csv.gz")) == "readings"
    assert contract.entity_of_file(PurePath("meters.jsonl.GZ")) == "meters"
    assert contract.feed_suffix(PurePath("readings.jsonl.gz")) == ".jsonl"
    assert contract.entity_of_file(PurePath("readings.gz")) is None
    body = (READINGS_HEADER + reading(STEEL, "EL-01", None, "2026-01-01T00:15:00+08:00", "1")).encode()
    path = tmp_path / "readings_x.csv.gz"
    path.write_bytes(gzip.compress(body))
    assert read_feed_file(path) == body
    (tmp_path / "readings_bad.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(FeedFileError, match=r"readings_bad\.csv\.gz: not a readable gzip file"):
        read_feed_file(tmp_path / "readings_bad.csv.gz")
    big = tmp_path / "readings_big.csv.gz"
    big.write_bytes(gzip.compress(b"x" * 3_000_000))
    with pytest.raises(FeedFileError, match="expands beyond 1000000 bytes"):
        read_feed_file(big, limit=1_000_000)


def test_every_v1_schema_field_is_in_v1_1_with_the_same_rules_or_looser():
    assert contract.VERSION_ENTITIES["1"] == contract.VERSION_ENTITIES["1.1"]
    for name in contract.VERSION_ENTITIES["1"]:
        v1 = contract.schema_document(name, "1")
        v11 = contract.schema_document(name, "1.1")
        assert set(v1["properties"]) <= set(v11["properties"]), name
        assert set(v11["required"]) <= set(v1["required"]), name
        assert v1["x-key"] == v11["x-key"], name
