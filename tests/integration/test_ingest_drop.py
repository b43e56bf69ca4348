"""Many files of one drop booked together (ingestion/drop.py): one transaction for the chunk, but per
file its own ledger row, counts, rejected rows and exactly-once; a file the database refuses fails alone."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import psycopg

from ingestion import drop
from ingestion.loader import ingest_path
from tests.feeds import CEMENT, READINGS_HEADER, STEEL, reading, write_basic_feed


def _slot(i: int) -> tuple[str, str]:
    """Start and end of the i-th 15-minute interval of 1 January 2026 (i < 4)."""
    ends = ["00:15", "00:30", "00:45", "01:00"]
    return f"2026-01-01T00:{15 * i:02d}:00+08:00", f"2026-01-01T{ends[i]}:00+08:00"


def _rows(ent: str, meter: str, values: list[str], unit: str = "kWh") -> str:
    return "".join(reading(ent, meter, *_slot(i), v, unit) for i, v in enumerate(values))


def _drop(root: Path) -> Path:
    """Registries, and four readings files: two of STEEL (one gzip), one of CEMENT with a duplicate and a
    row of another enterprise, one of STEEL with a row of an unknown meter."""
    feed = write_basic_feed(root)
    (feed / STEEL).mkdir()
    (feed / CEMENT).mkdir()
    (feed / STEEL / "readings_a.csv").write_text(READINGS_HEADER + _rows(STEEL, "EL-01", ["1", "2", "3"]), "utf-8")
    (feed / STEEL / "readings_b.csv.gz").write_bytes(
        gzip.compress((READINGS_HEADER + _rows(STEEL, "COAL-01", ["4", "5"], "t")).encode())
    )
    cement = _rows(CEMENT, "EL-01", ["6", "7"])
    (feed / CEMENT / "readings_c.csv").write_text(
        READINGS_HEADER + cement + cement.splitlines(keepends=True)[0] + _rows(STEEL, "EL-01", ["8"]), "utf-8"
    )
    (feed / STEEL / "readings_d.csv").write_text(
        READINGS_HEADER + _rows(STEEL, "EL-01", ["9"]) + reading(STEEL, "NOPE", *_slot(1), "10"), "utf-8"
    )
    return feed


EXPECTED = {  # source_name: (read, loaded, quarantined, duplicate), counted from _drop
    f"{STEEL}/readings_a.csv": (3, 3, 0, 0),
    f"{STEEL}/readings_b.csv.gz": (2, 2, 0, 0),
    f"{CEMENT}/readings_c.csv": (4, 2, 1, 1),  # line 4 repeats line 2; line 5 is STEEL's, not CEMENT's
    f"{STEEL}/readings_d.csv": (2, 1, 1, 0),  # line 3: meter NOPE is not registered
}


def _ledger(url: str) -> dict:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT source_name, status, rows_read, rows_loaded, rows_quarantined, rows_duplicate, xmin::text "
            "FROM audit.ingest_batches WHERE entity = 'readings'"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_a_drop_is_booked_in_one_transaction_with_a_ledger_row_and_counts_per_file(warehouse_url, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ingestion.drop"):
        summary = ingest_path(warehouse_url, _drop(tmp_path / "drop")).to_dict()
    assert not caplog.records, "the files were not booked together"
    ledger = _ledger(warehouse_url)
    assert {k: v[1:5] for k, v in ledger.items()} == EXPECTED
    assert {v[0] for v in ledger.values()} == {"loaded"}
    assert len({v[5] for v in ledger.values()}) == 1, "the four files were not booked in one transaction"
    got = {
        b["source_name"]: (b["rows_read"], b["rows_loaded"], b["rows_quarantined"], b["rows_duplicate"])
        for b in summary["batches"]
        if b["entity"] == "readings"
    }
    assert got == EXPECTED
    with psycopg.connect(warehouse_url) as conn:
        rejects = conn.execute(
            "SELECT b.source_name, r.source_name, r.row_number, r.field, r.value, r.reason "
            "FROM quarantine.rejected_rows r JOIN audit.ingest_batches b USING (batch_id) ORDER BY b.batch_id"
        ).fetchall()
        dups = conn.execute(
            "SELECT b.source_name, d.row_number, d.first_row_number FROM quarantine.duplicate_rows d "
            "JOIN audit.ingest_batches b USING (batch_id)"
        ).fetchall()
        loaded = conn.execute(
            "SELECT b.source_name, r.row_number, r.value::text FROM raw.readings r "
            "JOIN audit.ingest_batches b USING (batch_id) ORDER BY b.batch_id, r.row_number"
        ).fetchall()
    assert rejects == [
        (
            f"{STEEL}/readings_d.csv",
            f"{STEEL}/readings_d.csv",
            3,
            "meter_id",
            "NOPE",
            "unknown meter: not in the meter registry of this enterprise",
        ),
        (
            f"{CEMENT}/readings_c.csv",
            f"{CEMENT}/readings_c.csv",
            5,
            "enterprise_id",
            STEEL,
            f"row belongs to another enterprise; this feed belongs to {CEMENT}",
        ),
    ]
    assert dups == [(f"{CEMENT}/readings_c.csv", 4, 2)]
    # every loaded row keeps its own file's batch and line number (header = line 1)
    assert loaded == [
        (f"{STEEL}/readings_a.csv", 2, "1"),
        (f"{STEEL}/readings_a.csv", 3, "2"),
        (f"{STEEL}/readings_a.csv", 4, "3"),
        (f"{STEEL}/readings_b.csv.gz", 2, "4"),
        (f"{STEEL}/readings_b.csv.gz", 3, "5"),
        (f"{STEEL}/readings_d.csv", 2, "9"),
        (f"{CEMENT}/readings_c.csv", 2, "6"),
        (f"{CEMENT}/readings_c.csv", 3, "7"),
    ]


def test_a_drop_sent_again_books_nothing_twice_and_a_copy_inside_a_drop_once(warehouse_url, tmp_path):
    feed = _drop(tmp_path / "drop")
    # the same content under another name in the same drop: booked once
    (feed / STEEL / "readings_a_copy.csv").write_bytes((feed / STEEL / "readings_a.csv").read_bytes())
    first = ingest_path(warehouse_url, feed).to_dict()
    copies = [b for b in first["batches"] if b["source_name"].startswith(f"{STEEL}/readings_a")]
    assert sorted(b["status"] for b in copies) == ["loaded", "skipped"]
    again = ingest_path(warehouse_url, feed).to_dict()
    assert again["files"] == 0 and again["files_skipped"] == 7  # 2 registries + 5 readings files
    assert {k: v[1:5] for k, v in _ledger(warehouse_url).items()} == EXPECTED
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FROM raw.readings").fetchone()[0] == 8  # 3 + 2 + 2 + 1, as above


def test_a_file_the_database_refuses_fails_alone_and_the_rest_of_its_drop_is_booked(warehouse_url, tmp_path):
    feed = _drop(tmp_path / "drop")
    with psycopg.connect(warehouse_url) as conn:  # a refusal the validation cannot foresee: a trigger
        conn.execute(
            "CREATE FUNCTION raw.refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.value = 666 THEN RAISE EXCEPTION 'value 666 refused by the test trigger'; END IF; "
            "RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_666 BEFORE INSERT ON raw.readings FOR EACH ROW EXECUTE FUNCTION raw.refuse_666()"
        )
    (feed / STEEL / "readings_e.csv").write_text(READINGS_HEADER + _rows(STEEL, "EL-01", ["5", "666"]), "utf-8")
    summary = ingest_path(warehouse_url, feed).to_dict()
    ledger = _ledger(warehouse_url)
    assert {k: v[1:5] for k, v in ledger.items() if v[0] == "loaded"} == EXPECTED
    assert ledger[f"{STEEL}/readings_e.csv"][:5] == ("failed", 0, 0, 0, 0)
    failed = next(b for b in summary["batches"] if b["source_name"] == f"{STEEL}/readings_e.csv")
    assert failed["status"] == "failed" and "value 666 refused by the test trigger" in failed["message"]
    with psycopg.connect(warehouse_url) as conn:
        values = sorted(int(r[0]) for r in conn.execute("SELECT value FROM raw.readings"))
    assert values == [1, 2, 3, 4, 5, 6, 7, 9]  # the good files' rows; nothing of readings_e.csv

    # once the database accepts it, the failed file loads on the next run, and only it
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("DROP TRIGGER refuse_666 ON raw.readings")
    rerun = ingest_path(warehouse_url, feed).to_dict()
    assert [b["source_name"] for b in rerun["batches"] if b["status"] == "loaded"] == [f"{STEEL}/readings_e.csv"]


def _feed_files(tmp_path: Path, sizes: list[int]) -> list[drop.FeedFile]:
    out = []
    for i, n in enumerate(sizes):
        p = tmp_path / f"readings_{i}.csv"
        with open(p, "wb") as fh:
            fh.truncate(n)  # sparse: only the size matters to the plan
        out.append(drop.FeedFile(p, p.name, "readings", None))
    return out


def test_plan_keeps_file_order_puts_a_large_file_alone_and_bounds_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(drop, "CHUNK_BYTES", 100)
    monkeypatch.setattr(drop, "CHUNK_FILES", 3)
    monkeypatch.setattr(drop, "ALONE_BYTES", 1000)
    files = _feed_files(tmp_path, [10, 10, 10, 10, 2000, 60, 60, 10])
    chunks = [([f.source_name[9:-4] for f in fs], alone) for fs, alone in drop.plan(files)]
    # 3 files at most per chunk; the 2000-byte file alone; 60 + 60 > 100 bytes splits
    assert chunks == [(["0", "1", "2"], False), (["3"], False), (["4"], True), (["5"], False), (["6", "7"], False)]


def test_a_drop_larger_than_one_chunk_books_every_file_once(warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setattr(drop, "CHUNK_FILES", 2)  # 3 readings files: two chunks, the next prepared meanwhile
    feed = write_basic_feed(tmp_path / "drop")
    for i in range(3):
        (feed / f"readings_{i}.csv").write_text(READINGS_HEADER + _rows(STEEL, "EL-01", [str(i)] * (i + 1)), "utf-8")
    summary = ingest_path(warehouse_url, feed).to_dict()
    ledger = _ledger(warehouse_url)
    # file i: i + 1 rows, all loaded (the same value in different intervals is not a duplicate)
    assert {k: v[1:5] for k, v in ledger.items()} == {f"readings_{i}.csv": (i + 1, i + 1, 0, 0) for i in range(3)}
    assert len({v[5] for v in ledger.values()}) == 2  # two transactions
    assert summary["rows_loaded"] == 2 + 4 + 6  # enterprises, meters, readings (1 + 2 + 3)


def test_files_booked_together_come_out_as_each_file_loaded_alone(fresh_database, tmp_path, caplog):
    """The same drop loaded by `ingest_path` (chunks) and file by file (`ingest_file`, the one-file
    path): the same ledger counts, rejected rows, duplicates and loaded rows per file."""
    from ingestion.loader import discover, ingest_file, ownership

    feed = _drop(tmp_path / "drop")
    s = feed / STEEL
    crlf = _rows(STEEL, "EL-01", ["11", "12"]).replace("\n", "\r\n")
    (s / "readings_crlf.csv").write_bytes(b"\xef\xbb\xbf" + (READINGS_HEADER + "\n" + crlf + "\r\n").encode())
    (s / "readings_quoted.csv").write_text(
        READINGS_HEADER + reading(STEEL, "EL-01", *_slot(2), '"13"') + reading(STEEL, "EL-01", *_slot(3), "1,4"),
        "utf-8",
    )
    (s / "readings_gbk.csv").write_bytes(
        (
            READINGS_HEADER
            + _rows(STEEL, "EL-01", ["15"])
            + f"{STEEL},电表,{_slot(1)[0]},{_slot(1)[1]},1,kWh,measured,"
            f"{_slot(1)[1]}\n"
        ).encode("gbk")
    )
    (s / "readings_nul.csv").write_bytes((READINGS_HEADER + _rows(STEEL, "EL-01", ["16", "1\x007"])).encode())
    (s / "readings_badheader.csv").write_text("enterprise_id,meter,value\na,b,1\n", "utf-8")
    record = dict(zip(READINGS_HEADER.strip().split(","), reading(STEEL, "EL-01", *_slot(0), "18").strip().split(",")))
    (s / "readings_j.jsonl").write_text(json.dumps(record) + "\nnot json\n", "utf-8")
    together, alone = fresh_database(), fresh_database()
    with caplog.at_level(logging.WARNING, logger="ingestion.drop"):
        ingest_path(together, feed)
    assert not caplog.records, "the files were not booked together"
    assert len({v[5] for k, v in _ledger(together).items() if k != f"{STEEL}/readings_nul.csv"}) == 1
    files, _ = discover(feed)
    for p, rel, ent in files:
        owner, refusal = ownership(p, feed)
        ingest_file(alone, p, source_name=rel, entity_name=ent, owner=owner, refusal=refusal)

    def facts(url: str) -> tuple:
        with psycopg.connect(url) as conn:
            q = [
                "SELECT source_name, status, rows_read, rows_loaded, rows_quarantined, rows_duplicate, encoding, "
                "header FROM audit.ingest_batches",
                "SELECT b.source_name, r.row_number, r.field, r.value, r.reason, r.raw_row, r.enterprise_id "
                "FROM quarantine.rejected_rows r JOIN audit.ingest_batches b USING (batch_id)",
                "SELECT b.source_name, d.row_number, d.first_row_number, d.natural_key "
                "FROM quarantine.duplicate_rows d JOIN audit.ingest_batches b USING (batch_id)",
                "SELECT b.source_name, r.row_number, r.meter_id, r.period_end, r.value, r.sent_at "
                "FROM raw.readings r JOIN audit.ingest_batches b USING (batch_id)",
            ]
            return tuple(sorted(conn.execute(x).fetchall(), key=repr) for x in q)

    got, expected = facts(together), facts(alone)
    assert len(got[0]) == 12 and len(got[1]) >= 6  # 2 registries + 10 readings files; rejects of each kind
    assert got == expected


def test_large_files_load_alone_with_the_same_counts(warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setattr(drop, "ALONE_BYTES", 1)  # every file "large": each streams alone, in its own transaction
    feed = _drop(tmp_path / "drop")
    (feed / STEEL / "readings_a_copy.csv").write_bytes((feed / STEEL / "readings_a.csv").read_bytes())
    summary = ingest_path(warehouse_url, feed).to_dict()
    ledger = _ledger(warehouse_url)
    assert {k: v[1:5] for k, v in ledger.items()} == EXPECTED  # the copy of readings_a.csv is not booked
    assert len({v[5] for v in ledger.values()}) == 4
    assert [b["status"] for b in summary["batches"] if b["source_name"].endswith("readings_a_copy.csv")] == ["skipped"]


def test_a_large_plain_file_streamed_piece_by_piece_books_what_the_one_file_path_books(
    fresh_database, tmp_path, monkeypatch
):
    """A large plain CSV file is read, validated and COPY'd piece by piece (ingestion/stream.py), its
    repeats found once the whole file is hashed: per file the same ledger counts, rejected rows (file,
    row, field, reason), duplicates and loaded rows as the one-file path (`ingest_file`); a file that is
    not as plain as it looked (a later piece with too many or too few fields) is rolled back and loaded
    the general way."""
    from ingestion import parse, stream
    from ingestion.loader import discover, ingest_file, ownership

    monkeypatch.setattr(drop, "ALONE_BYTES", 1)  # every file alone
    monkeypatch.setattr(stream, "PIECE_BYTES", 300)  # ~2 rows a piece: repeats and rejects across pieces
    monkeypatch.setattr(parse, "PLAIN_HEAD_BYTES", 300)  # a quote further down is met in a piece
    feed = write_basic_feed(tmp_path / "drop")
    s = feed / STEEL
    s.mkdir()
    good = _rows(STEEL, "EL-01", ["1", "2", "3", "4"]).splitlines(keepends=True)
    unknown = reading(STEEL, "NOPE", *_slot(1), "10")
    other = reading(CEMENT, "EL-01", *_slot(2), "11")
    (s / "readings_big.csv").write_text(
        READINGS_HEADER
        + good[0]
        + unknown
        + good[1]
        + reading(STEEL, "EL-01", *_slot(2), "x")  # not a number
        + other
        + good[2]
        + good[0]  # repeats line 2 (valid), pieces later
        + unknown  # repeats line 3 (rejected)
        + good[3]
        + good[0],  # repeats line 2 again; no final newline
        "utf-8",
    )
    (s / "readings_spaces.csv").write_text(READINGS_HEADER + good[0].replace(",1,", ", 1 ,") + good[1], "utf-8")
    (s / "readings_ragged.csv").write_text(
        READINGS_HEADER + "".join(good) + good[0].replace(",measured,", ",measured,,")
    )  # a line with one field too many, after the first pieces
    (s / "readings_quoted.csv").write_text(
        READINGS_HEADER + "".join(good) + reading(STEEL, "EL-01", *_slot(0), '"13"')
    )  # a quoted value, in a later piece
    (s / "readings_short.csv").write_text(
        READINGS_HEADER + "".join(good[:3]) + good[3].replace(",measured", "")
    )  # a line with one field too few
    streamed, fell_back = [], []
    real = stream.load_stream

    def spy(url, st, digest, **kw):
        result = real(url, st, digest, **kw)
        (streamed if result is not None else fell_back).append(kw["source_name"])
        return result

    monkeypatch.setattr(drop, "load_stream", spy)
    together, alone = fresh_database(), fresh_database()
    summary = ingest_path(together, feed).to_dict()
    assert sorted(streamed) == [f"{STEEL}/readings_big.csv", f"{STEEL}/readings_spaces.csv"]
    assert sorted(fell_back) == [f"{STEEL}/readings_{n}.csv" for n in ("quoted", "ragged", "short")]
    assert summary["failures"] == 0
    files, _ = discover(feed)
    for p, rel, ent in files:
        owner, refusal = ownership(p, feed)
        ingest_file(alone, p, source_name=rel, entity_name=ent, owner=owner, refusal=refusal)

    def facts(url: str) -> tuple:
        with psycopg.connect(url) as conn:
            q = [
                "SELECT source_name, status, rows_read, rows_loaded, rows_quarantined, rows_duplicate, encoding, "
                "header, min_period_end, max_period_end FROM audit.ingest_batches",
                "SELECT b.source_name, r.source_name, r.row_number, r.field, r.value, r.reason, r.raw_row, "
                "r.enterprise_id FROM quarantine.rejected_rows r JOIN audit.ingest_batches b USING (batch_id)",
                "SELECT b.source_name, d.source_name, d.row_number, d.first_row_number, d.natural_key, "
                "d.enterprise_id FROM quarantine.duplicate_rows d JOIN audit.ingest_batches b USING (batch_id)",
                "SELECT b.source_name, r.row_number, r.meter_id, r.period_start, r.period_end, r.value, r.unit, "
                "r.quality, r.sent_at FROM raw.readings r JOIN audit.ingest_batches b USING (batch_id)",
            ]
            return tuple(sorted(conn.execute(x).fetchall(), key=repr) for x in q)

    got, expected = facts(together), facts(alone)
    big = f"{STEEL}/readings_big.csv"
    assert next(r for r in got[0] if r[0] == big)[2:6] == (10, 4, 4, 2)  # read = loaded + rejected + repeats
    assert sorted((r[2], r[3], r[5]) for r in got[1] if r[0] == big) == [
        (3, "meter_id", "unknown meter: not in the meter registry of this enterprise"),
        (5, "value", "not a number"),
        (6, "enterprise_id", f"row belongs to another enterprise; this feed belongs to {STEEL}"),
        (
            9,
            "meter_id",
            "repeats row 3, which was rejected: unknown meter: not in the meter registry of this enterprise",
        ),
    ]
    assert sorted((r[2], r[3]) for r in got[2] if r[0] == big) == [(8, 2), (11, 2)]
    assert sorted(r[1] for r in got[3] if r[0] == big) == [2, 4, 7, 10]
    assert got == expected
