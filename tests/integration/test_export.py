"""The monthly export: per pilot region behind the quality gate, identical bytes for an unchanged
month, revision n+1 with a diff for changed data, the ledger, delivery to a folder and to a real
local HTTP endpoint that fails transiently."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import jsonschema
import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from export_fixtures import (
    CEMENT,
    CHEMICALS,
    MONTH,
    SHANGHAI,
    STEEL,
    ZHEJIANG,
    build_small_warehouse,
    rebuild_region_rollups,
)

from expectations import run_quality_gate
from orchestration.lib.export import MANIFEST_SCHEMA, REGION_SCHEMA, export_month, json_schema

FILES = ["enterprise_energy.csv", "enterprise_products.csv", "enterprises.csv", "enterprises.json", "manifest.json"]


def gate_and_export(url: str, outbox: Path, **kw) -> dict:
    return export_month(url, MONTH, outbox, quality=run_quality_gate(url, month=MONTH), **kw)


def region_bytes(outbox: Path, region: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((outbox / "2026-01" / region).iterdir())}


def ledger(url: str, query: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


@pytest.fixture
def warehouse(warehouse_url) -> str:
    build_small_warehouse(warehouse_url)
    return warehouse_url


def test_negative_comprehensive_energy_blocks_its_region_while_the_clean_region_exports(warehouse, tmp_path):
    with psycopg.connect(warehouse) as conn:
        conn.execute(
            "update marts.fct_enterprise_monthly set comprehensive_tce_equivalent = -12.5 where enterprise_id = %s",
            (CEMENT,),
        )
    outbox, national = tmp_path / "outbox", tmp_path / "national"
    result = gate_and_export(warehouse, outbox, deliver_to=f"file://{national}")

    assert result["month"] == "2026-01" and result["status"] == "blocked"
    by_region = {r["region_code"]: r for r in result["regions"]}
    shanghai, zhejiang = by_region[SHANGHAI], by_region[ZHEJIANG]
    assert shanghai["status"] == "blocked" and shanghai["revision"] is None and shanghai["files"] == []
    assert "no_negative_comprehensive_energy" in shanghai["failed_checks"]
    # nothing written, kept or delivered for the blocked region
    assert not (outbox / "2026-01" / SHANGHAI).exists()
    assert not (national / "2026-01" / SHANGHAI).exists()
    assert ledger(warehouse, "select count(*) from audit.export_revisions where region_code = %s", SHANGHAI) == [(0,)]
    [(status, failed)] = ledger(
        warehouse, "select status, failed_checks from audit.export_runs where region_code = %s", SHANGHAI
    )
    assert status == "blocked" and "no_negative_comprehensive_energy" in failed
    # the clean region still leaves
    assert zhejiang["status"] == "exported" and zhejiang["revision"] == 1 and zhejiang["failed_checks"] == []
    assert sorted(region_bytes(outbox, ZHEJIANG)) == FILES
    assert sorted(p.name for p in (national / "2026-01" / ZHEJIANG / "r1").iterdir()) == FILES


def test_negative_equal_value_blocks_its_region_instead_of_breaking_the_export_contract(warehouse, tmp_path):
    # the export schema requires 综合能耗 ≥ 0 at both values: an enterprise below zero at 等价值 blocks its
    # region through the gate (the other region leaves) rather than failing the whole run on the schema
    with psycopg.connect(warehouse) as conn:
        conn.execute(
            "update marts.fct_enterprise_monthly set comprehensive_tce_equal_value = -3.5 where enterprise_id = %s",
            (CHEMICALS,),
        )
    rebuild_region_rollups(warehouse)  # as transform would: the region sums stay identities
    result = gate_and_export(warehouse, tmp_path / "outbox")
    by_region = {r["region_code"]: r for r in result["regions"]}
    assert by_region[ZHEJIANG]["status"] == "blocked"
    assert "no_negative_comprehensive_energy" in by_region[ZHEJIANG]["failed_checks"]
    assert by_region[SHANGHAI]["status"] == "exported"


def test_clean_month_is_exported_and_re_export_is_unchanged_with_identical_bytes(warehouse, tmp_path):
    outbox = tmp_path / "outbox"
    first = gate_and_export(warehouse, outbox)
    assert first["status"] == "exported"
    assert [(r["region_code"], r["status"], r["revision"]) for r in first["regions"]] == [
        (SHANGHAI, "exported", 1),
        (ZHEJIANG, "exported", 1),
    ]
    files = region_bytes(outbox, SHANGHAI)
    assert sorted(files) == FILES

    document, manifest = json.loads(files["enterprises.json"]), json.loads(files["manifest.json"])
    jsonschema.Draft202012Validator(json_schema(REGION_SCHEMA)).validate(document)
    jsonschema.Draft202012Validator(json_schema(MANIFEST_SCHEMA)).validate(manifest)
    for name, entry in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == entry["sha256"]
    assert manifest["counts"] == {"enterprises": 2, "energy_rows": 4, "product_rows": 1}
    assert manifest["data_watermark"] == "2026-02-01T00:00:00+08:00"  # latest raw period_end, local time
    steel = next(e for e in document["enterprises"] if e["enterprise_id"] == STEEL)
    coal = next(k for k in steel["energy"] if k["energy_code"] == "raw_coal")
    assert (
        coal["quantity_purchased"],
        coal["quantity_consumed"],
        coal["coefficient_kgce_per_unit"],
        coal["tce_equivalent"],
    ) == (2000.0, 1900.0, 714.3, 1357.17)
    assert steel["comprehensive_tce_equivalent"] == 1480.07  # 1,000,000 kWh × 0.1229 + 1,900 t × 714.3 kgce/t
    assert steel["comprehensive_tce_equal_value"] == 1657.17  # electricity at 0.3 kgce/kWh (等价值)
    assert document["summary"]["comprehensive_tce_equivalent"] == round(
        sum(e["comprehensive_tce_equivalent"] for e in document["enterprises"]), 3
    )
    assert (
        b"2026-01,91310000MA1K000019,raw_coal,\xe5\x8e\x9f\xe7\x85\xa4,t,2000.000,1900.000,714.3000,"
        b"1357.170" in files["enterprise_energy.csv"]
    )
    zhejiang = json.loads(region_bytes(outbox, ZHEJIANG)["manifest.json"])
    assert zhejiang["quality"]["warnings"] == ["enterprise_completeness_90"]

    second = gate_and_export(warehouse, outbox)
    assert second["status"] == "unchanged"
    assert {(r["status"], r["revision"]) for r in second["regions"]} == {("unchanged", 1)}
    assert region_bytes(outbox, SHANGHAI) == files
    # the ledger keeps the bytes as sent, and no new revision
    assert ledger(warehouse, "select count(*) from audit.export_revisions") == [(2,)]
    kept = dict(ledger(warehouse, "select file_name, content from audit.export_files where region_code = %s", SHANGHAI))
    assert {k: bytes(v) for k, v in kept.items()} == files


def test_changed_data_gives_revision_two_with_a_diff_naming_the_changed_row(warehouse, tmp_path):
    outbox = tmp_path / "outbox"
    gate_and_export(warehouse, outbox)
    first = region_bytes(outbox, ZHEJIANG)
    with psycopg.connect(warehouse) as conn:  # a late correction of the electricity, rebuilt by transform
        conn.execute(  # in the VEE layer (81366.965 kWh × 0.1229 kgce/kWh = 10 tce) and in the marts
            "update intermediate.int_meter_daily set consumption = consumption + 81366.965 "
            "where enterprise_id = %s and meter_id = 'M-electricity'",
            (CHEMICALS,),
        )
        conn.execute(
            "update marts.fct_enterprise_energy_monthly set quantity = quantity + 81366.965, "
            "quantity_in = quantity_in + 81366.965, tce_equivalent = tce_equivalent + 10 "
            "where enterprise_id = %s and energy_code = 'electricity'",
            (CHEMICALS,),
        )
        conn.execute(
            "update marts.fct_enterprise_monthly set comprehensive_tce_equivalent = "
            "comprehensive_tce_equivalent + 10 where enterprise_id = %s",
            (CHEMICALS,),
        )
    rebuild_region_rollups(warehouse)

    result = gate_and_export(warehouse, outbox)
    assert result["status"] == "exported"
    by_region = {r["region_code"]: (r["status"], r["revision"]) for r in result["regions"]}
    assert by_region == {SHANGHAI: ("unchanged", 1), ZHEJIANG: ("exported", 2)}
    [(diff,)] = ledger(
        warehouse, "select diff from audit.export_revisions where region_code = %s and revision = 2", ZHEJIANG
    )
    [changed] = diff["changed"]
    assert changed["enterprise_id"] == CHEMICALS
    assert "comprehensive_tce_equivalent" in changed["fields"]
    assert changed["after"]["comprehensive_tce_equivalent"] - changed["before"][
        "comprehensive_tce_equivalent"
    ] == pytest.approx(10)
    assert changed["energy"]["changed"] == [
        {"energy_code": "electricity", "fields": ["quantity_consumed", "quantity_purchased", "tce_equivalent"]}
    ]
    assert diff["added"] == diff["removed"] == [] and diff["summary_changed"] is True
    assert json.loads(region_bytes(outbox, ZHEJIANG)["manifest.json"])["revision"] == 2
    # revision 1 is still kept byte for byte
    kept = dict(
        ledger(
            warehouse,
            "select file_name, content from audit.export_files where region_code = %s and revision = 1",
            ZHEJIANG,
        )
    )
    assert {k: bytes(v) for k, v in kept.items()} == first


class FlakyNationalEndpoint(BaseHTTPRequestHandler):
    """Answers 503 to the first two calls, then accepts; remembers what it accepted per idempotency key."""

    calls: ClassVar[list[str]] = []
    accepted: ClassVar[dict[str, list[dict]]] = {}

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["Idempotency-Key"]
        self.calls.append(key)
        if len(self.calls) <= 2:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"try again later")
            return
        if key not in self.accepted:
            self.accepted.setdefault(key, []).append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"receipt": f"R-{len(self.accepted)}"}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_endpoint():
    FlakyNationalEndpoint.calls, FlakyNationalEndpoint.accepted = [], {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyNationalEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/exports", FlakyNationalEndpoint
    server.shutdown()
    server.server_close()


def test_flaky_endpoint_receives_the_export_exactly_once_after_three_attempts(warehouse, tmp_path, flaky_endpoint):
    url, endpoint = flaky_endpoint
    with psycopg.connect(warehouse) as conn:  # one region, so the first two failures are all its own
        conn.execute("delete from marts.fct_enterprise_monthly where region_code = %s", (SHANGHAI,))
    rebuild_region_rollups(warehouse)
    outbox = tmp_path / "outbox"
    result = gate_and_export(warehouse, outbox, deliver_to=url)

    [region] = result["regions"]
    assert (region["region_code"], region["status"]) == (ZHEJIANG, "exported")
    [(key, [delivered])] = endpoint.accepted.items()
    assert endpoint.calls == [key, key, key]  # same idempotency key on every attempt
    assert {n: base64.b64decode(d) for n, d in delivered["files"].items()} == region_bytes(outbox, ZHEJIANG)
    attempts = ledger(
        warehouse,
        "select attempt, status, http_status, idempotency_key, acknowledgement "
        "from audit.export_deliveries where region_code = %s order by attempt",
        ZHEJIANG,
    )
    assert [(a, s, h) for a, s, h, _, _ in attempts] == [(1, "failed", 503), (2, "failed", 503), (3, "delivered", 200)]
    assert {k for *_, k, _ in attempts} == {key} and "R-1" in attempts[-1][4]

    again = gate_and_export(warehouse, outbox, deliver_to=url)  # unchanged and acknowledged: not sent again
    assert again["status"] == "unchanged" and len(endpoint.calls) == 3


def test_the_gate_and_the_export_are_libraries_without_dagster():
    import subprocess

    libraries = "expectations, orchestration.lib.export, orchestration.lib.forecasting, orchestration.lib.evaluation"
    code = f"import sys, {libraries}; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
