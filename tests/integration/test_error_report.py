"""`iem errors` as an enterprise energy manager reads it: its own folder's rows whatever credit
code they name, a mistyped code in a shared file by the nearest identity, root causes once and first with
their cascades counted, an encoding problem once per file with a hint, the warehouse's VEE rejections and
data-fault alerts, a CSV that Excel on Chinese Windows opens with its Chinese intact.

The landing folder (one enterprise per folder, as the centres send):

STEEL/ (every file GBK, what Excel on Chinese Windows saves as "CSV")
  enterprises.csv  2: STEEL, name 河北某钢铁有限公司 (loads)
  meters.csv       2: EL-01, unit 千瓦时 (loads)
                   3: EL-02 under a mistyped credit code (two neighbours swapped)   → root cause
                   4: COAL-01 with direction "sideways"                              → root cause
  readings.csv     2–9: EL-01, 8 × 15 min (one negative, one beyond rated_max: rejected in VEE)
                   10–12: EL-02 (3 rows waiting for its meter row)                  → cascade of meters.csv 3
                   13–14: COAL-01 (2 rows)                                          → cascade of meters.csv 4
                   15: EL-01 under a mistyped credit code (one character off)       → error, "did you mean"
                   16–17: GHOST-9, a meter never sent                               → cascade of missing_registry
                   18: exact repeat of line 2                                        → duplicate
CEMENT/
  enterprises.csv  UTF-8 (loads)
  meters.csv       2: EL-01 in UTF-8 (loads); 3: EL-02 pasted in GBK: the file mixes encodings
  readings.csv     2–3: EL-01 (load); 4–7: EL-02 (4 rows)                             → cascade of the file
TEXTILE/
  enterprises.csv  2: TEXTILE under a mistyped code                                  → root cause
  meters.csv       2: TEXTILE EL-01 (unknown enterprise)                             → cascade
  readings.csv     2–4: TEXTILE EL-01 (unknown enterprise)                           → cascade
readings_region.csv (a shared file at the landing root, no owner)
                   2: STEEL's code one character off → STEEL's report (nearest identity)
                   3: TEXTILE's code, two neighbours swapped → TEXTILE's report
"""

from __future__ import annotations

import csv
import os

import psycopg
import pytest

from ingestion.loader import ingest_path
from ingestion.reports import COLUMNS, write_error_report
from tests.feeds import CEMENT, READINGS_HEADER, STEEL, credit_code, reading

TEXTILE = credit_code("91320500MA1X2Y3K4")
STEEL_SWAPPED = STEEL[:12] + STEEL[13] + STEEL[12] + STEEL[14:]  # 91130100MA0AB12C31: check character fails
STEEL_OFF_BY_ONE = STEEL[:14] + "1" + STEEL[15:]  # 91130100MA0A1B1C31
TEXTILE_SWAPPED = TEXTILE[:11] + TEXTILE[12] + TEXTILE[11] + TEXTILE[13:]

ENT_HEADER = "enterprise_id,name,region_code,industry_code\n"
METER_HEADER = (
    "enterprise_id,meter_id,energy_code,unit,reading_type,multiplier,register_max,direction,scope,rated_max\n"
)
OLD_COLUMNS = ["kind", "source_name", "entity", "row_number", "field", "value", "reason", "raw_row", "batch_id"]


def _q(minute: int) -> str:
    h, m = divmod(minute, 60)
    return f"2026-01-05T{h:02d}:{m:02d}:00+08:00"


def _landing(root):
    steel, cement, textile = root / STEEL, root / CEMENT, root / TEXTILE
    for d in (steel, cement, textile):
        d.mkdir(parents=True)
    gbk = "gbk"
    (steel / "enterprises.csv").write_bytes((ENT_HEADER + f"{STEEL},河北某钢铁有限公司,130100,C3120\n").encode(gbk))
    (steel / "meters.csv").write_bytes(
        (
            METER_HEADER
            + f"{STEEL},EL-01,electricity,千瓦时,interval,1,,in,boundary,50000\n"
            + f"{STEEL_SWAPPED},EL-02,electricity,kWh,interval,1,,in,boundary,50000\n"
            + f"{STEEL},COAL-01,raw_coal,吨,interval,1,,sideways,boundary,5000\n"
        ).encode(gbk)
    )
    el01 = [reading(STEEL, "EL-01", _q(m), _q(m + 15), v, unit="千瓦时") for m, v in zip(range(0, 120, 15), (
        "10", "10", "-5", "10", "60000", "10", "10", "10"), strict=True)]  # fmt: skip
    rows = [
        *el01,  # lines 2–9
        *(reading(STEEL, "EL-02", _q(m), _q(m + 15), "7") for m in (0, 15, 30)),  # 10–12
        *(reading(STEEL, "COAL-01", _q(m), _q(m + 15), "1", unit="吨") for m in (0, 15)),  # 13–14
        reading(STEEL_OFF_BY_ONE, "EL-01", _q(120), _q(135), "10", unit="千瓦时"),  # 15
        *(reading(STEEL, "GHOST-9", _q(m), _q(m + 15), "3") for m in (0, 15)),  # 16–17
        el01[0],  # 18
    ]
    (steel / "readings.csv").write_bytes((READINGS_HEADER + "".join(rows)).encode(gbk))

    (cement / "enterprises.csv").write_text(ENT_HEADER + f"{CEMENT},浙江某水泥有限公司,330100,C30\n", encoding="utf-8")
    (cement / "meters.csv").write_bytes(
        METER_HEADER.encode()
        + f"{CEMENT},EL-01,electricity,千瓦时,interval,1,,in,boundary,2000\n".encode()
        + f"{CEMENT},EL-02,electricity,千瓦时,interval,1,,in,boundary,2000\n".encode(gbk)  # pasted from a GBK file
    )
    cement_rows = [reading(CEMENT, "EL-01", _q(m), _q(m + 15), "5") for m in (0, 15)]
    cement_rows += [reading(CEMENT, "EL-02", _q(m), _q(m + 15), "5") for m in (0, 15, 30, 45)]
    (cement / "readings.csv").write_text(READINGS_HEADER + "".join(cement_rows), encoding="utf-8")

    (textile / "enterprises.csv").write_text(ENT_HEADER + f"{TEXTILE_SWAPPED},江苏某纺织有限公司,320500,C17\n")
    (textile / "meters.csv").write_text(METER_HEADER + f"{TEXTILE},EL-01,electricity,kWh,interval,1,,in,boundary,\n")
    (textile / "readings.csv").write_text(
        READINGS_HEADER + "".join(reading(TEXTILE, "EL-01", _q(m), _q(m + 15), "2") for m in (0, 15, 30))
    )
    (root / "readings_region.csv").write_text(
        READINGS_HEADER
        + reading(STEEL_OFF_BY_ONE, "EL-01", _q(150), _q(165), "10")
        + reading(TEXTILE_SWAPPED, "EL-01", _q(150), _q(165), "2")
    )
    return root


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, fresh_database):
    url = fresh_database()
    ingest_path(url, _landing(tmp_path_factory.mktemp("error_report") / "landing"))
    return url


def _report(url, enterprise, out):
    result = write_error_report(url, enterprise, out)
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return result, rows


def test_a_gbk_file_with_chinese_names_loads_them_intact(loaded):
    with psycopg.connect(loaded) as conn:
        names = dict(conn.execute("SELECT enterprise_id, name FROM raw.enterprises").fetchall())
        encodings = conn.execute(
            "SELECT encoding FROM audit.ingest_batches WHERE source_name = %s", (f"{STEEL}/meters.csv",)
        ).fetchall()
        units = dict(
            conn.execute("SELECT meter_id, unit FROM raw.meters WHERE enterprise_id = %s", (STEEL,)).fetchall()
        )
        el01 = conn.execute(
            "SELECT count(*) FROM raw.readings WHERE meter_id = 'EL-01' AND enterprise_id = %s", (STEEL,)
        )
        n_el01 = el01.fetchone()[0]
    assert names == {STEEL: "河北某钢铁有限公司", CEMENT: "浙江某水泥有限公司"}  # TEXTILE's row was mistyped
    assert encodings == [("gb18030",)]
    assert units == {"EL-01": "千瓦时"}  # EL-02 and COAL-01 rejected
    assert n_el01 == 8  # lines 2–9; line 18 is a duplicate, line 15 names a mistyped code


def test_mistyped_code_and_rejected_meter_row_are_root_causes_once_with_their_cascades(loaded, tmp_path):
    result, rows = _report(loaded, STEEL, tmp_path / "steel.csv")
    # rejected: meters 3, 4 (2) + readings 10–12 (3) + 13–14 (2) + 15 (1) + 16–17 (2) + readings_region 2 (1) = 11;
    # duplicate: readings 18 (1); missing_registry: GHOST-9 (1) → 13 rows
    assert (result["rows"], result["rejected"], result["duplicate"], result["missing_registry"]) == (13, 11, 1, 1)
    # root causes: meters.csv 3 (3 readings), meters.csv 4 (2 readings), GHOST-9 (2 readings) → 3 roots, 7 cascaded
    assert (result["root_causes"], result["cascaded"]) == (3, 7)
    roles = [r["role"] for r in rows]
    assert roles == ["root cause"] * 3 + ["error"] * 3 + ["cascade"] * 7  # root causes first, cascades last
    roots = {(r["source_name"], r["row_number"]): r for r in rows if r["role"] == "root cause"}
    mistyped = roots[(f"{STEEL}/meters.csv", "3")]
    assert mistyped["field"] == "enterprise_id" and mistyped["value"] == STEEL_SWAPPED
    assert mistyped["cascaded_rows"] == "3" and "3 readings of meter EL-02" in mistyped["hint"]
    assert f"did you mean {STEEL}?" in mistyped["hint"]
    direction = roots[(f"{STEEL}/meters.csv", "4")]
    assert (direction["field"], direction["value"], direction["cascaded_rows"]) == ("direction", "sideways", "2")
    ghost = roots[("", "")]
    assert (ghost["kind"], ghost["meter_id"], ghost["cascaded_rows"]) == ("missing_registry", "GHOST-9", "2")
    # each root cause once; every cascade names its root, and the counts agree
    caused = [r["caused_by"] for r in rows if r["role"] == "cascade"]
    assert caused.count(f"{STEEL}/meters.csv row 3") == 3
    assert caused.count(f"{STEEL}/meters.csv row 4") == 2
    assert caused.count("meter GHOST-9 missing from the registry") == 2
    errors = [r for r in rows if r["role"] == "error"]
    assert [(r["kind"], r["source_name"], r["row_number"]) for r in errors] == [
        ("rejected", f"{STEEL}/readings.csv", "15"),
        ("duplicate", f"{STEEL}/readings.csv", "18"),
        ("rejected", "readings_region.csv", "2"),  # a shared file: its mistyped code is STEEL's nearest
    ]
    assert errors[2]["hint"] == f"credit code {STEEL_OFF_BY_ONE} looks mistyped: did you mean {STEEL}?"
    assert list(rows[0]) == COLUMNS and COLUMNS[: len(OLD_COLUMNS)] == OLD_COLUMNS  # old columns first, unchanged


def test_an_enterprise_row_under_a_mistyped_code_is_the_root_of_every_unknown_enterprise_row(loaded, tmp_path):
    result, rows = _report(loaded, TEXTILE, tmp_path / "textile.csv")
    # enterprises 2 (root) + meters 2 + readings 2–4 (4 cascaded) + readings_region 3 (nearest, error) = 6 rows
    assert (result["rows"], result["rejected"], result["root_causes"], result["cascaded"]) == (6, 6, 1, 4)
    root = rows[0]
    assert (root["role"], root["source_name"], root["entity"], root["value"]) == (
        "root cause",
        f"{TEXTILE}/enterprises.csv",
        "enterprises",
        TEXTILE_SWAPPED,
    )
    assert root["cascaded_rows"] == "4" and "1 meters row, 3 readings" in root["hint"]
    assert rows[1]["source_name"] == "readings_region.csv" and rows[1]["role"] == "error"
    assert {r["caused_by"] for r in rows[2:]} == {f"{TEXTILE}/enterprises.csv row 2"}


def test_a_file_with_mixed_encodings_is_one_root_cause_with_a_hint(loaded, tmp_path):
    result, rows = _report(loaded, CEMENT, tmp_path / "cement.csv")
    # meters.csv line 3 undecodable (1) + readings 4–7 waiting for EL-02 (4) = 5 rejected, all from the file
    assert (result["rows"], result["file"], result["rejected"], result["root_causes"], result["cascaded"]) == (
        6,
        1,
        5,
        1,
        5,
    )
    file_root = rows[0]
    assert (file_root["kind"], file_root["role"], file_root["source_name"]) == (
        "file",
        "root cause",
        f"{CEMENT}/meters.csv",
    )
    assert "neither UTF-8 nor GB18030 (first: line 3)" in file_root["reason"]
    assert "CSV UTF-8" in file_root["hint"] and file_root["cascaded_rows"] == "5"
    assert {r["caused_by"] for r in rows[1:]} == {f"{CEMENT}/meters.csv: encoding"}
    # nothing of this is anybody else's
    _, steel = _report(loaded, STEEL, tmp_path / "steel.csv")
    assert not any(CEMENT in r["source_name"] for r in steel)


def test_the_report_opens_in_excel_on_chinese_windows(loaded, tmp_path):
    out = tmp_path / "steel.csv"
    write_error_report(loaded, STEEL, out)
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark: Excel reads UTF-8, not the GBK code page
    assert "千瓦时".encode() in data  # raw rows of the GBK file, in UTF-8


def test_iem_errors_command_writes_the_report(loaded, tmp_path):
    from tests.e2e.iem_cli import run_iem

    env = {**os.environ, "IEM_DATABASE_URL": loaded, "IEM_HOME": str(tmp_path / "home")}
    proc = run_iem(["errors", "--enterprise", STEEL, "--json"], env)
    assert proc.returncode == 0, proc.stderr
    import json

    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["rows"], result["root_causes"], result["cascaded"]) == (13, 3, 7)


@pytest.fixture(scope="module")
def built(loaded):
    from orchestration.dbt_env import run_dbt

    run_dbt(["build"], loaded)
    return loaded


def test_vee_rejections_and_data_fault_alerts_reach_the_enterprise(built, tmp_path):
    result, rows = _report(built, STEEL, tmp_path / "steel.csv")
    vee = [r for r in rows if r["kind"] == "vee_rejected"]
    # EL-01 readings 4 (−5, 00:30–00:45) and 6 (60000 > rated_max 50000, 01:00–01:15): rejected, not booked
    assert [(r["source_name"], r["row_number"], r["meter_id"], r["value"], r["period_start"]) for r in vee] == [
        (f"{STEEL}/readings.csv", "4", "EL-01", "-5", _q(30)),
        (f"{STEEL}/readings.csv", "6", "EL-01", "60000", _q(60)),
    ]
    assert "negative consumption" in vee[0]["reason"] and "rated_max" in vee[1]["reason"]
    alerts = {r["reason"].split(" ")[0] for r in rows if r["kind"] == "data_fault"}
    assert {"DF-NEGATIVE", "DF-SPIKE"} <= alerts
    assert not alerts & {"DF-REJECTED", "DF-DUP"}  # those rows are in the report once, from quarantine
    # the ingestion rows are unchanged, and still come before the warehouse's findings and the cascades
    assert (result["rejected"], result["duplicate"], result["root_causes"], result["cascaded"]) == (11, 1, 3, 7)
    kinds = [r["kind"] for r in rows if r["role"] != "cascade"]
    assert kinds.index("vee_rejected") > max(i for i, k in enumerate(kinds) if k in ("rejected", "duplicate"))


def test_iem_errors_reads_the_warehouse_with_its_stage_role(built, tmp_path):
    import json

    from tests.e2e.iem_cli import run_iem

    env = {**os.environ, "IEM_DATABASE_URL": built, "IEM_HOME": str(tmp_path / "home")}
    proc = run_iem(["errors", "--enterprise", STEEL, "--json"], env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["vee_rejected"] == 2 and result["data_fault"] >= 2  # the transformer role may read both


def test_an_unreadable_file_and_a_repeated_bad_row_are_root_causes(warehouse_url, tmp_path):
    from tests.feeds import write_basic_feed

    feed = write_basic_feed(tmp_path / "landing")
    (feed / STEEL).mkdir()
    bad = reading(STEEL, "EL-01", _q(0), _q(15), "abc")
    (feed / STEEL / "readings_1.csv").write_text(READINGS_HEADER + bad + bad)  # line 3 repeats the rejected line 2
    (feed / STEEL / "readings_2.csv").write_text(
        READINGS_HEADER + reading(STEEL, "EL-01", _q(15), _q(30), "1"), encoding="utf-16"
    )
    ingest_path(warehouse_url, feed)
    result, rows = _report(warehouse_url, STEEL, tmp_path / "steel.csv")
    # the UTF-16 file (a failed batch: no row read) + line 2 (root, 1 cascaded) + line 3 (its repeat) = 3 rows
    assert (result["rows"], result["file"], result["rejected"], result["root_causes"], result["cascaded"]) == (
        3,
        1,
        2,
        2,
        1,
    )
    assert (rows[0]["kind"], rows[0]["source_name"], rows[0]["role"]) == (
        "file",
        f"{STEEL}/readings_2.csv",
        "root cause",
    )
    assert rows[0]["reason"].startswith("file is UTF-16 text")
    assert [(r["row_number"], r["role"], r["cascaded_rows"], r["caused_by"]) for r in rows[1:]] == [
        ("2", "root cause", "1", ""),
        ("3", "cascade", "", f"{STEEL}/readings_1.csv row 2"),
    ]
