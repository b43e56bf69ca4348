"""Parser and validator, without a database: row numbers, reasons, counts conserved."""

import polars as pl
import pytest

from ingestion import contract
from ingestion.parse import parse_csv, parse_jsonl
from ingestion.reference import load_reference
from ingestion.validate import Context, validate
from tests.feeds import CEMENT, READINGS_HEADER, STEEL, reading

FIELDS = contract.entity("readings").field_names


def _ctx(owner=None):
    meters = pl.DataFrame(
        {
            "enterprise_id": [STEEL, STEEL],
            "meter_id": ["EL-01", "EL-REG"],
            "energy_code": ["electricity", "electricity"],
            "reading_type": ["interval", "register"],
        }
    )
    return Context(load_reference(), {STEEL, CEMENT}, meters, owner)


def test_csv_rows_keep_file_line_numbers_and_bom_crlf_tolerated():
    body = (
        READINGS_HEADER
        + reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1.5")
        + "\n"
        + reading(STEEL, "EL-01", "2026-01-01T00:15:00+08:00", "2026-01-01T00:30:00+08:00", "2")
    )
    parsed = parse_csv(b"\xef\xbb\xbf" + body.replace("\n", "\r\n").encode(), FIELDS)
    assert parsed.rows_read == 2  # the blank line is not a row
    assert parsed.frame["row_number"].to_list() == [2, 4]
    assert parsed.frame["value"].to_list() == ["1.5", "2"]


@pytest.mark.parametrize(
    "line, field, reason",
    [
        (
            reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "01/01/2026 00:15", "1"),
            "period_end",
            "not an ISO 8601 date-time",
        ),
        (
            reading(STEEL, "EL-01", "2026-02-30T00:00:00+08:00", "2026-02-30T00:15:00+08:00", "1"),
            "period_start",
            "valid date-time",
        ),
        (reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1,5"), None, "fields"),
        (
            reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "abc"),
            "value",
            "not a number",
        ),
        (
            reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1", unit="m3"),
            "unit",
            "convertible",
        ),
        (
            reading(STEEL, "EL-99", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1"),
            "meter_id",
            "unknown meter",
        ),
        (
            reading(
                STEEL[:-1] + ("0" if STEEL[-1] != "0" else "1"),
                "EL-01",
                "2026-01-01T00:00:00+08:00",
                "2026-01-01T00:15:00+08:00",
                "1",
            ),
            "enterprise_id",
            "统一社会信用代码",
        ),
        (
            reading(STEEL, "EL-01", "2026-01-01T00:15:00+08:00", "2026-01-01T00:15:00+08:00", "1"),
            "period_start",
            "not before",
        ),
        (
            reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1", quality="guess"),
            "quality",
            "not one of",
        ),
    ],
)
def test_each_bad_row_is_rejected_with_field_and_reason(line, field, reason):
    good = reading(STEEL, "EL-01", "2026-01-01T00:30:00+08:00", "2026-01-01T00:45:00+08:00", "3")
    parsed = parse_csv((READINGS_HEADER + good + line).encode(), FIELDS)
    checked = validate(parsed.frame, contract.entity("readings"), _ctx())
    rejects = parsed.rejects + checked.rejects.to_dicts()
    assert checked.valid.height == 1 and checked.valid["row_number"].to_list() == [2]
    assert len(rejects) == 1
    assert rejects[0]["row_number"] == 3
    assert rejects[0]["field"] == field
    assert reason in rejects[0]["reason"]


def test_timestamps_are_normalised_and_register_rows_need_no_start():
    rows = reading(STEEL, "EL-REG", None, "2026-01-01 00:15Z", "100.5", unit="MWh") + reading(
        STEEL, "EL-01", "2026-01-01T00:00+0800", "2026-01-01T00:15+0800", "7"
    )
    parsed = parse_csv((READINGS_HEADER + rows).encode(), FIELDS)
    checked = validate(parsed.frame, contract.entity("readings"), _ctx())
    assert checked.rejects.height == 0
    assert checked.valid["period_end"].to_list() == ["2026-01-01T00:15:00+00:00", "2026-01-01T00:15:00+08:00"]


def test_exact_duplicates_are_separated_and_point_at_the_first_row():
    r = reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1.5")
    corrected = reading(
        STEEL,
        "EL-01",
        "2026-01-01T00:00:00+08:00",
        "2026-01-01T00:15:00+08:00",
        "1.6",
        sent="2026-01-03T00:00:00+08:00",
    )
    parsed = parse_csv((READINGS_HEADER + r + r + corrected + r).encode(), FIELDS)
    checked = validate(parsed.frame, contract.entity("readings"), _ctx())
    assert checked.valid["row_number"].to_list() == [2, 4]  # the correction is not a duplicate
    assert checked.duplicates["row_number"].to_list() == [3, 5]
    assert checked.duplicates["first_row_number"].to_list() == [2, 2]


def test_owned_feed_rejects_rows_of_another_enterprise():
    rows = reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1") + reading(
        CEMENT, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1"
    )
    parsed = parse_csv((READINGS_HEADER + rows).encode(), FIELDS)
    checked = validate(parsed.frame, contract.entity("readings"), _ctx(owner=STEEL))
    assert checked.valid["enterprise_id"].to_list() == [STEEL]
    assert "belongs to another enterprise" in checked.rejects["reason"][0]


def test_jsonl_bad_lines_are_rejected_with_their_line_numbers():
    good = (
        '{"enterprise_id": "%s", "meter_id": "EL-01", "period_start": "2026-01-01T00:00:00+08:00", '
        '"period_end": "2026-01-01T00:15:00+08:00", "value": 1.25, "unit": "kWh", '
        '"sent_at": "2026-01-01T01:00:00+08:00"}'.replace("%s", STEEL)
    )
    data = "\n".join([good, '{"enterprise_id": "x", broken', "", good.replace("1.25", "2"), '{"bogus": 1}']).encode()
    parsed = parse_jsonl(data, FIELDS)
    assert parsed.rows_read == 4
    assert parsed.frame["row_number"].to_list() == [1, 4]
    assert [r["row_number"] for r in parsed.rejects] == [2, 5]
    assert "not valid JSON" in parsed.rejects[0]["reason"]


def test_file_kind_is_the_first_word_of_the_name():
    from pathlib import PurePath

    assert contract.entity_of_file(PurePath("readings_2026-01.csv")) == "readings"
    assert contract.entity_of_file(PurePath("Meters-v2.JSONL")) == "meters"
    assert contract.entity_of_file(PurePath("notes.csv")) is None
    assert contract.entity_of_file(PurePath("readings.xlsx")) is None
