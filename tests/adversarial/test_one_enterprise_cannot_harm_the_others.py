"""One enterprise's bad input never stops, corrupts or reads anyone else.

Every case below is a file or an HTTP answer of one enterprise (the victim V) inside one drop with
everyone's clean data. Each asserts, on the shared hostile warehouse (tests/adversarial/conftest.py):
- its batch is recorded, as a failed batch with the reason or with every bad row rejected with it;
- counts are conserved: rows read = loaded + quarantined + duplicates, for its batch and for the run;
- the run went on: every file after it loaded, the build and the gate ran, the other regions exported;
- every other enterprise's marts and every other region's export files are byte-identical to a run
  of the same drop without the bad input (the baseline).
"""

from __future__ import annotations

import psycopg
import pytest

from tests.adversarial import hostile
from tests.adversarial.conftest import REGIONS

FILE_CASES = [c.name for c in hostile.file_cases("V", "O", "")]


def _case(cast, name: str) -> hostile.Case:
    return next(c for c in hostile.file_cases(cast.victim, cast.other, "") if c.name == name)


def _batch(warehouse, case: hostile.Case) -> dict:
    stored = case.extra.get("stored_name", case.file)
    found = [b for b in warehouse.ingest if b["source_name"] == stored]
    assert len(found) == 1, f"{case.file}: {len(found)} batches recorded"
    return found[0]


def _ledger(url: str, batch_id: int) -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "select status, rows_read, rows_loaded, rows_quarantined, rows_duplicate, failure_reason, encoding "
            "from audit.ingest_batches where batch_id = %s",
            (batch_id,),
        )
        return dict(zip([d.name for d in cur.description], cur.fetchone()))


def _rejects(url: str, batch_id: int) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select row_number, field, value, reason, raw_row from quarantine.rejected_rows where batch_id = %s "
            "order by row_number",
            (batch_id,),
        ).fetchall()


def test_the_run_went_on_and_every_count_adds_up(hostile_warehouse, baseline):
    # every clean file of the drop loaded as in the baseline, whatever came before or after it
    clean = {b["source_name"]: b["rows_loaded"] for b in baseline.ingest if b["status"] == "loaded"}
    loaded = {b["source_name"]: b["rows_loaded"] for b in hostile_warehouse.ingest if b["status"] == "loaded"}
    assert {k: loaded.get(k) for k in clean} == clean
    for b in hostile_warehouse.ingest + hostile_warehouse.pulls:
        assert b["rows_read"] == b["rows_loaded"] + b["rows_quarantined"] + b["rows_duplicate"], b
    with psycopg.connect(hostile_warehouse.url) as conn:
        lost = conn.execute(
            "select count(*) from audit.ingest_batches "
            "where rows_read <> rows_loaded + rows_quarantined + rows_duplicate or status not in ('loaded', 'failed')"
        ).fetchone()[0]
    assert lost == 0
    statuses = {r["region_code"]: r["status"] for r in hostile_warehouse.export["regions"]}
    assert statuses[REGIONS[1]] == statuses[REGIONS[2]] == "exported"


@pytest.mark.parametrize("name", FILE_CASES)
def test_file_case(name, cast, hostile_warehouse, others_untouched):
    case = _case(cast, name)
    batch = _batch(hostile_warehouse, case)
    assert batch["rows_read"] == batch["rows_loaded"] + batch["rows_quarantined"] + batch["rows_duplicate"]
    ledger = _ledger(hostile_warehouse.url, batch["batch_id"])
    if case.expect == "failed":
        assert ledger["status"] == "failed" and batch["status"] == "failed"
        assert case.reason in ledger["failure_reason"], ledger["failure_reason"]
        assert (ledger["rows_read"], ledger["rows_loaded"]) == (0, 0)
    else:
        assert ledger["status"] == "loaded"
        rejects = _rejects(hostile_warehouse.url, batch["batch_id"])
        assert len(rejects) == case.rows == ledger["rows_quarantined"] and ledger["rows_loaded"] == 0
        for row_number, _field, value, reason, raw in rejects:
            wanted = case.extra.get("reasons") or [case.reason]
            assert any(w in reason for w in wanted), reason
            assert row_number >= 2  # a line of the file, header = 1
            assert "\x00" not in (raw or "") and "\x00" not in (value or "")
            assert len(value or "") <= 1100 and len(raw or "") <= 4100  # kept, cut to a storable size
    others_untouched()


def test_a_repeated_malformed_row_is_rejected_not_recorded_as_a_duplicate_key(cast, hostile_warehouse):
    case = _case(cast, "duplicate_malformed_rows")
    batch = _batch(hostile_warehouse, case)
    rejects = _rejects(hostile_warehouse.url, batch["batch_id"])
    assert [r[0] for r in rejects] == [2, 3] and rejects[1][3].startswith("repeats row 2, which was rejected")
    with psycopg.connect(hostile_warehouse.url) as conn:
        assert (
            conn.execute(
                "select count(*) from quarantine.duplicate_rows where batch_id = %s", (batch["batch_id"],)
            ).fetchone()[0]
            == 0
        )


def test_gb18030_file_is_detected_and_recorded(cast, hostile_warehouse, others_untouched):
    case = hostile.gb18030_registry(cast.enterprise_rows[cast.victim])
    batch = _batch(hostile_warehouse, case)
    assert (batch["status"], batch["rows_loaded"]) == ("loaded", 1)
    assert _ledger(hostile_warehouse.url, batch["batch_id"])["encoding"] == "gb18030"
    name = cast.enterprise_rows[cast.victim].split(",")[1]
    with psycopg.connect(hostile_warehouse.url) as conn:
        stored = conn.execute("select name from raw.enterprises where batch_id = %s", (batch["batch_id"],)).fetchone()[
            0
        ]
    assert stored == name and any("\u4e00" <= ch <= "\u9fff" for ch in stored)  # Chinese, not mojibake
    others_untouched()


def test_readings_that_waited_for_their_meter_load_when_it_arrives(cast, hostile_warehouse, others_untouched):
    case = _case(cast, "readings_before_their_meter")
    first = _batch(hostile_warehouse, case)
    retry = [b for b in hostile_warehouse.ingest if b["source_name"].startswith(case.file + " (re-validated")]
    assert len(retry) == 1 and (retry[0]["rows_read"], retry[0]["rows_loaded"]) == (3, 3)
    with psycopg.connect(hostile_warehouse.url) as conn:
        resolved = conn.execute(
            "select row_number, resolved_by_batch from quarantine.rejected_rows where batch_id = %s order by 1",
            (first["batch_id"],),
        ).fetchall()
        loaded = conn.execute(
            "select row_number, value from raw.readings where batch_id = %s order by 1", (retry[0]["batch_id"],)
        ).fetchall()
        consumption = conn.execute(
            "select sum(consumption) from intermediate.int_meter_daily "
            "where enterprise_id = %s and meter_id = 'NEW-01'",
            (cast.victim,),
        ).fetchone()[0]
    # kept in quarantine (the first batch still adds up: 3 read = 3 quarantined), each pointing at its batch
    assert resolved == [(n, retry[0]["batch_id"]) for n in (2, 3, 4)]
    assert [(n, float(v)) for n, v in loaded] == [(2, 100.0), (3, 100.0), (4, 100.0)]  # the file's own row numbers
    assert float(consumption) == pytest.approx(300.0)  # 3 quarter hours × 100 kWh × multiplier 1
    others_untouched()


@pytest.mark.parametrize("case", hostile.HTTP_CASES, ids=[c.name for c in hostile.HTTP_CASES])
def test_http_case(case, hostile_warehouse, others_untouched):
    name = f"victim-{case.name}"
    failed = [b for b in hostile_warehouse.pulls if b["status"] == "failed" and b["source_name"].startswith(name + "/")]
    assert len(failed) == 1, [b["source_name"] for b in hostile_warehouse.pulls]
    assert case.reason in failed[0]["message"], failed[0]["message"]
    with psycopg.connect(hostile_warehouse.url) as conn:
        last_error = conn.execute(
            "select last_error from audit.pull_cursors where endpoint_name = %s", (name,)
        ).fetchone()[0]
        ledger = conn.execute(
            "select status, failure_reason from audit.ingest_batches where batch_id = %s", (failed[0]["batch_id"],)
        ).fetchone()
    assert ledger[0] == "failed" and case.reason in ledger[1] and case.reason in last_error
    for text in (last_error, ledger[1], failed[0]["message"]):
        assert hostile.TOKEN not in text and "\x00" not in text  # the token is never recorded or printed
    others_untouched()


def test_cursor_cycle_loaded_each_page_once_then_stopped(hostile_warehouse):
    pages = [b for b in hostile_warehouse.pulls if b["source_name"].startswith("victim-cursors_that_cycle/")]
    # after= '' → A, A → B loaded; B → A is a cycle: not loaded, recorded failed
    assert [(b["status"], b["rows_loaded"]) for b in pages] == [("loaded", 1), ("loaded", 1), ("failed", 0)]


def test_one_drop_of_future_nul_1e25_and_duplicate_malformed_files_leaves_every_other_region_identical(
    cast, baseline, hostile_warehouse, others_untouched
):
    """Must show: the four files in one drop; every other region exports, byte for byte as
    without them, and the victim's own region is judged on its own data."""
    names = {
        "future_after_the_clock",
        "nul_bytes_in_rows",
        "value_1e25_and_beyond_plausible",
        "duplicate_malformed_rows",
    }
    for case in (c for c in hostile.file_cases(cast.victim, cast.other, "") if c.name in names):
        assert _batch(hostile_warehouse, case)["rows_loaded"] == 0
    base = {r["region_code"]: r for r in baseline.export["regions"]}
    host = {r["region_code"]: r for r in hostile_warehouse.export["regions"]}
    for region in REGIONS[1:]:
        assert host[region]["status"] == base[region]["status"] == "exported"
        assert host[region]["revision"] == base[region]["revision"] == 1
    others_untouched()
