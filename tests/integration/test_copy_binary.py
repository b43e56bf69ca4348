"""Valid rows sent in PostgreSQL's binary COPY format are stored exactly as the same rows sent as CSV
(ingestion/copy_binary.py, loader.RawCopy): every column compared as the server holds it, the numeric's
display scale included (`value::text`: '7.50' stays '7.50', '-0.000' becomes '0.000' both ways)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import polars as pl
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import contract, copy_binary
from ingestion.loader import RawCopy, ingest_path
from ingestion.validate import _prepare_timestamps
from tests.feeds import READINGS_HEADER, STEEL, reading, write_basic_feed

COLUMNS = ["batch_id", "row_number", *contract.entity("readings").field_names]
STORED = (  # each column as the server holds it, as text (timestamps in UTC)
    "row_number, enterprise_id, meter_id, period_start AT TIME ZONE 'UTC', period_end AT TIME ZONE 'UTC', "
    "value::text, unit, quality, sent_at AT TIME ZONE 'UTC'"
)
# any text the server takes (no NUL), with CSV's troublemakers weighted in
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    st.sampled_from(["", ",", '"', '""', "a,b", 'say "hi"', "line\nbreak", "\r\n", "\\.", "\\N", "电表-01", " "]),
)


@st.composite
def decimal_text(draw) -> str:
    """A number as an enterprise may write it: sign, digits, point, fraction, exponent in any mix the
    server's numeric input takes (the door's rule is polars' float parse; both take these)."""
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    whole = draw(st.text("0123456789", max_size=20))
    point = draw(st.booleans())
    fraction = draw(st.text("0123456789", max_size=20)) if point else ""
    if not (whole or fraction):
        whole = "0"
    exponent = draw(st.sampled_from(["", "", "", "e3", "E-7", "e+2"]))
    return f"{sign}{whole}{'.' if point else ''}{fraction}{exponent}"


@st.composite
def timestamp_text(draw) -> str:
    """A date-time with a UTC offset in the door's canonical form: 0–9 fraction digits, offsets of
    whole and half hours, years of the contract's range (1900–2199)."""
    year, month, day = draw(st.integers(1900, 2199)), draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    digits = draw(st.integers(0, 9))
    fraction = ("." + draw(st.text("0123456789", min_size=digits, max_size=digits))) if digits else ""
    offset = draw(st.sampled_from(["+08:00", "+00:00", "-05:30", "+05:45", "+14:00", "-12:00", "+0800"]))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"


ROW = st.fixed_dictionaries(
    {
        "enterprise_id": TEXT,
        "meter_id": TEXT,
        "period_start": st.one_of(st.none(), timestamp_text()),
        "period_end": timestamp_text(),
        "value": decimal_text(),
        "unit": TEXT,
        "quality": TEXT,
        "sent_at": timestamp_text(),
    }
)


def valid_frame(rows: list[dict]) -> pl.DataFrame:
    """The rows as the door hands them on: text fields, date-times parsed (`_dt_<field>`) and loaded in
    their normalised text, row numbers from 2."""
    frame = pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String)).with_columns(
        pl.int_range(2, len(rows) + 2, dtype=pl.Int32).alias("row_number")
    )
    frame = _prepare_timestamps(frame, contract.entity("readings"))
    times = ["period_start", "period_end", "sent_at"]
    return frame.with_columns([pl.col(f"_ts_{t}").alias(t) for t in times]).sort("row_number")


def _load(conn: psycopg.Connection, frame: pl.DataFrame, batch_id: int, fmt: str, monkeypatch) -> dict:
    monkeypatch.setenv("IEM_INGEST_COPY", fmt)
    with conn.cursor() as cur, RawCopy(cur, "readings", COLUMNS) as target:
        for piece in frame.iter_slices(7):  # several pieces: a batch may switch format between them
            target.write(piece.with_columns(pl.lit(batch_id, pl.Int64).alias("batch_id")))
    return target.rows


def _stored(conn: psycopg.Connection, batch_id: int) -> list[tuple]:
    return conn.execute(
        f"SELECT {STORED} FROM raw.readings WHERE batch_id = %s ORDER BY row_number", (batch_id,)
    ).fetchall()


@pytest.fixture(scope="module")
def copy_url(fresh_database) -> str:
    return fresh_database()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=30))
def test_binary_copy_stores_what_csv_copy_stores(copy_url, monkeypatch, rows):
    frame = valid_frame(rows)
    with psycopg.connect(copy_url) as conn:
        conn.execute("TRUNCATE raw.readings")
        binary = _load(conn, frame, 1, "binary", monkeypatch)
        csv = _load(conn, frame, 2, "csv", monkeypatch)
        assert csv == {"binary": 0, "csv": frame.height}
        assert binary["binary"] + binary["csv"] == frame.height
        # a row goes binary exactly when every value of it encodes (DECIMAL shape, no sub-microsecond digits)
        with_batch = frame.with_columns(pl.lit(1, pl.Int64).alias("batch_id"))
        assert binary["binary"] == copy_binary.exact_rows(with_batch, COLUMNS, types(conn)).sum()
        assert _stored(conn, 1) == _stored(conn, 2)
        conn.rollback()


def types(conn: psycopg.Connection) -> list[str]:
    from ingestion.loader import raw_column_types

    return raw_column_types(conn, "raw.readings", COLUMNS)


def test_plain_readings_go_binary_and_keep_their_scale_sign_and_instants(copy_url, monkeypatch):
    """Golden values, by the rules of numeric and timestamptz input: the scale is the count of fraction
    digits as written ('007.50' → 7.50), a negative zero is zero ('-0.000' → 0.000), 16 digits on either
    side still fit the fixed form; an instant is its UTC time whatever the offset written."""
    rows = [
        {
            "enterprise_id": STEEL,
            "meter_id": "EL-01",
            "period_start": "2026-01-01T00:00:00+08:00",
            "period_end": "2026-01-01T00:15:00.123456+08:00",
            "value": value,
            "unit": "kWh",
            "quality": "measured",
            "sent_at": "2025-12-31T16:20:00-00:00" if i else "2026-01-01T00:20:00+08:00",
        }
        for i, value in enumerate(["007.50", "-0.000", "1234567890123456.1234567890123456", "-42", "0.0001"])
    ]
    frame = valid_frame(rows)
    with psycopg.connect(copy_url) as conn:
        conn.execute("TRUNCATE raw.readings")
        assert _load(conn, frame, 1, "binary", monkeypatch) == {"binary": 5, "csv": 0}
        stored = conn.execute(
            "SELECT value::text, period_end AT TIME ZONE 'UTC', sent_at AT TIME ZONE 'UTC' FROM raw.readings "
            "ORDER BY row_number"
        ).fetchall()
        conn.rollback()
    assert [r[0] for r in stored] == ["7.50", "0.000", "1234567890123456.1234567890123456", "-42", "0.0001"]
    assert str(stored[0][1]) == "2025-12-31 16:15:00.123456"  # 00:15:00.123456 at +08:00
    assert {str(r[2]) for r in stored} == {"2025-12-31 16:20:00"}  # the same instant written two ways


def test_files_load_the_same_rows_binary_or_csv(fresh_database, tmp_path: Path, monkeypatch, caplog):
    """The loader end to end (door, ledger, COPY), with IEM_INGEST_COPY=binary and, as other files (CRLF
    line ends: other content hashes), with csv, in one warehouse: the same counts and stored rows. Of the
    two files (validated and COPY'd together, as a drop's files are), the plain one's rows go binary; the
    other's values are ones only the server's text input reads as written ('1e3', '+5', '.5', '5.', 17
    fraction digits), so its rows go as CSV under either setting."""
    url = fresh_database()
    ingest_path(url, write_basic_feed(tmp_path / "feed"))
    plain = ["1", "2.50", "-0.0", "0012.3400", "1234.5678901234567890"]
    odd = ["1e3", "+5", ".5", "5.", "0.12345678901234567"]
    ends = ["00:15", "00:30", "00:45", "01:00", "01:15"]
    starts = ["00:00", *ends[:-1]]

    def body(values: list[str], day: int, newline: str) -> str:
        lines = [
            reading(STEEL, "EL-01", f"2026-01-{day:02d}T{s}:00+08:00", f"2026-01-{day:02d}T{e}:00+08:00", v)
            for s, e, v in zip(starts, ends, values, strict=True)
        ]
        return (READINGS_HEADER + "".join(lines)).replace("\n", newline)

    written = {}
    for fmt, newline, day in (("binary", "\n", 1), ("csv", "\r\n", 1)):
        (tmp_path / fmt).mkdir()
        (tmp_path / fmt / "readings_1_plain.csv").write_bytes(body(plain, day, newline).encode())
        (tmp_path / fmt / "readings_2_odd.csv").write_bytes(body(odd, day + 1, newline).encode())
        monkeypatch.setenv("IEM_INGEST_COPY", fmt)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="ingestion.loader"):
            assert ingest_path(url, tmp_path / fmt).to_dict()["rows_loaded"] == 10
        counts = [re.search(r"(\d+) rows in binary COPY, (\d+) as CSV", r.getMessage()) for r in caplog.records]
        written[fmt] = [sum(int(m.group(k)) for m in counts if m) for k in (1, 2)]
    assert written == {"binary": [5, 5], "csv": [0, 10]}
    with psycopg.connect(url) as conn:
        batches = conn.execute(
            "SELECT batch_id FROM audit.ingest_batches WHERE entity = 'readings' ORDER BY batch_id"
        ).fetchall()
        stored = [_stored(conn, b) for (b,) in batches]
    assert len(stored) == 4  # plain and odd, loaded binary; plain and odd, loaded as CSV
    assert stored[0] + stored[1] == stored[2] + stored[3]
    by_numeric_input = [
        "1",
        "2.50",
        "0.0",
        "12.3400",
        "1234.5678901234567890",
        "1000",
        "5",
        "0.5",
        "5",
        "0.12345678901234567",
    ]
    assert [r[5] for r in stored[0] + stored[1]] == by_numeric_input
