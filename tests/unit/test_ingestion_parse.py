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


def _plain_cases() -> list[bytes]:
    rows = [
        reading(STEEL, "EL-01", f"2026-01-01T00:{15 * i:02d}:00+08:00", f"2026-01-01T00:{15 * i + 15:02d}:00+08:00", v)
        for i, v in enumerate(["1.5", "2", "3"])
    ]
    short = "enterprise_id,meter_id,period_end,value,unit,sent_at\n"
    return [
        (READINGS_HEADER + "".join(rows)).encode(),
        b"\xef\xbb\xbf" + (READINGS_HEADER + "".join(rows)).encode(),  # BOM
        (READINGS_HEADER + "".join(rows)).rstrip("\n").encode(),  # no final newline
        (READINGS_HEADER + rows[0].replace(",1.5,", ", 1.5 ,").replace(",EL-01,", ",,")).encode(),  # spaces, empty
        (short + f"{STEEL},EL-01,2026-01-01T00:15:00+08:00,1,kWh,2026-01-01T00:15:00+08:00\n").encode(),
        (READINGS_HEADER + rows[0] + "\n" + rows[1]).encode(),  # a blank line: not plain
        (READINGS_HEADER + rows[0] + rows[1].replace(",2,", ",2,x,")).encode(),  # a field too many
        (READINGS_HEADER + rows[0] + rows[1].replace(",2,", ",")).encode(),  # a field too few
        (READINGS_HEADER + rows[0] + rows[1].replace(",2,", ',"2",')).encode(),  # quoted
        (READINGS_HEADER + "".join(rows)).replace("\n", "\r\n").encode(),  # CRLF
        (READINGS_HEADER + rows[0].replace("EL-01", "电表")).encode("gbk"),  # not UTF-8
        READINGS_HEADER.encode(),  # header only
    ]


def test_plain_csv_read_by_polars_is_what_the_general_path_makes():
    """`plain_csv` + `read_plain` (polars' CSV reader, files of one header at once) give the frame of
    `parse_csv` file by file, line numbers per file included; anything else is refused (None) or raises,
    and then the general path reads it."""
    from polars.testing import assert_frame_equal

    from ingestion.parse import plain_csv, read_plain

    read, refused = [], 0
    for data in _plain_cases():
        plain = plain_csv(data, FIELDS)
        if plain is None:
            refused += 1
            continue
        try:
            frame, counts = read_plain([plain], FIELDS)
        except (pl.exceptions.PolarsError, ValueError):
            refused += 1
            continue
        expected = parse_csv(data, FIELDS)
        assert not expected.rejects and counts == [expected.rows_read]
        assert_frame_equal(frame, expected.frame)
        read.append((plain, expected))
    assert len(read) == 5 and refused == 7
    same_header = [(p, e) for p, e in read if p.header == read[0][0].header]
    frame, counts = read_plain([p for p, _ in same_header], FIELDS)  # several files at once
    assert counts == [e.rows_read for _, e in same_header]
    assert_frame_equal(frame, pl.concat([e.frame for _, e in same_header]))
