"""HTTP pull against a real local server that fails transiently; error reports; onboarding."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from ingestion.http_pull import ConfigError, load_endpoints, pull_all
from ingestion.loader import ingest_path
from ingestion.onboarding import onboard
from ingestion.reports import write_error_report
from tests.feeds import CEMENT, STEEL, write_basic_feed

TOKEN = "s3cret-test-token"


def _items(n):
    out = []
    for i in range(n):
        h, m = divmod(i * 15, 60)
        h2, m2 = divmod(i * 15 + 15, 60)
        out.append(
            {
                "enterprise_id": STEEL,
                "meter_id": "EL-01",
                "period_start": f"2026-01-01T{h:02d}:{m:02d}:00+08:00",
                "period_end": f"2026-01-{1 + h2 // 24:02d}T{h2 % 24:02d}:{m2:02d}:00+08:00",
                "value": 100 + i,
                "unit": "kWh",
                "quality": "measured",
                "sent_at": "2026-01-02T01:00:00+08:00",
            }
        )
    return out


class FlakyFeed:
    """An enterprise energy-centre API: pages of 10; the first call of each page fails in turn with a
    500, a truncated JSON body, and a timeout (a slow answer)."""

    def __init__(self, items):
        self.items = items
        self.calls = 0
        self.faults = {}

    def handler(self):
        feed = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                import time
                from urllib.parse import parse_qs, urlparse

                feed.calls += 1
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_response(401)
                    self.end_headers()
                    return
                q = parse_qs(urlparse(self.path).query)
                after = int(q.get("after", ["0"])[0])
                limit = int(q.get("limit", ["10"])[0])
                page = after // limit
                seen = feed.faults.setdefault(page, 0)
                feed.faults[page] += 1
                body = json.dumps(
                    {
                        "items": feed.items[after : after + limit],
                        "next_cursor": str(min(after + limit, len(feed.items))),
                    }
                )
                if seen == 0 and page % 3 == 0:
                    self.send_response(500)
                    self.end_headers()
                    return
                if seen == 0 and page % 3 == 1:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2].encode())
                    return
                if seen == 0 and page % 3 == 2:
                    time.sleep(1.5)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

        return H


@pytest.fixture
def flaky_server():
    feed = FlakyFeed(_items(45))
    server = ThreadingHTTPServer(("127.0.0.1", 0), feed.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield feed, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _endpoints(tmp_path, base, **extra):
    cfg = {
        "endpoints": [
            {
                "name": "steel-1",
                "enterprise_id": STEEL,
                "base_url": base,
                "token_env": "IEM_TEST_TOKEN",
                "entities": ["readings"],
                "page_size": 10,
                "timeout_seconds": 0.5,
                "max_attempts": 4,
                **extra,
            }
        ]
    }
    path = tmp_path / "endpoints.yaml"
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    return path


def test_pull_with_500s_truncated_json_and_timeouts_loads_exactly_the_feed(
    warehouse_url, tmp_path, flaky_server, monkeypatch
):
    feed, base = flaky_server
    ingest_path(warehouse_url, write_basic_feed(tmp_path / "registry"))
    monkeypatch.setenv("IEM_TEST_TOKEN", TOKEN)
    endpoints = _endpoints(tmp_path, base)
    summary = pull_all(warehouse_url, endpoints).to_dict()
    assert summary["failures"] == 0
    assert summary["rows_loaded"] == 45 and summary["rows_quarantined"] == 0
    assert all(v >= 2 for p, v in feed.faults.items() if p < 4)  # every page failed once and was retried
    with psycopg.connect(warehouse_url) as conn:
        n, total = conn.execute("SELECT count(*), sum(value) FROM raw.readings").fetchone()
        cursor = conn.execute("SELECT cursor, last_error FROM audit.pull_cursors").fetchone()
    assert n == 45 and float(total) == sum(100 + i for i in range(45))
    assert cursor == ("45", None)
    again = pull_all(warehouse_url, endpoints).to_dict()  # cursor advanced: nothing new
    assert again["rows_loaded"] == 0
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FROM raw.readings").fetchone()[0] == 45


def test_pull_without_token_fails_clearly_and_loads_nothing(warehouse_url, tmp_path, flaky_server, monkeypatch):
    _, base = flaky_server
    monkeypatch.delenv("IEM_TEST_TOKEN", raising=False)
    summary = pull_all(warehouse_url, _endpoints(tmp_path, base)).to_dict()
    assert summary["failures"] == 1 and summary["rows_loaded"] == 0
    with psycopg.connect(warehouse_url) as conn:
        assert "IEM_TEST_TOKEN is not set" in conn.execute("SELECT last_error FROM audit.pull_cursors").fetchone()[0]


def test_endpoint_config_errors_name_the_endpoint(tmp_path):
    path = _endpoints(tmp_path, "http://127.0.0.1:1", enterprise_id="91110000600037341X")
    with pytest.raises(ConfigError, match=r"endpoint #1 .*not a valid 统一社会信用代码"):
        load_endpoints(path)


def test_error_report_lists_the_enterprises_rejected_and_duplicate_rows(warehouse_url, tmp_path):
    from tests.feeds import READINGS_HEADER, reading

    feed = write_basic_feed(tmp_path / "drop")
    (feed / STEEL).mkdir()
    r = reading(STEEL, "EL-01", "2026-01-01T00:00:00+08:00", "2026-01-01T00:15:00+08:00", "1")
    (feed / STEEL / "readings_1.csv").write_text(
        READINGS_HEADER + r + r + "oops\n" + reading(STEEL, "EL-01", "x", "2026-01-01T00:30:00+08:00", "1")
    )
    ingest_path(warehouse_url, feed)
    out = tmp_path / "report.csv"
    result = write_error_report(warehouse_url, STEEL, out)
    assert (result["rejected"], result["duplicate"]) == (2, 1)
    text = out.read_text(encoding="utf-8")
    assert "row has 1 fields, header has 8" in text  # the malformed line is the enterprise's through its folder
    assert "exact duplicate of row 2" in text
    assert write_error_report(warehouse_url, CEMENT, tmp_path / "other.csv")["rows"] == 0


def test_errors_for_an_enterprise_nobody_knows_is_a_clear_error(warehouse_url, tmp_path):
    # before: `iem errors --enterprise <a valid but unknown credit code>` wrote an empty report and exited 0,
    # which reads as "no errors" when the id was mistyped
    import os

    from stdnum.cn import uscc

    from ingestion.reports import enterprise_is_known
    from tests.e2e.iem_cli import run_iem

    ingest_path(warehouse_url, write_basic_feed(tmp_path / "drop"))
    nobody = "91110000MA00000XX"
    nobody += uscc.calc_check_digit(nobody)
    assert uscc.is_valid(nobody) and enterprise_is_known(warehouse_url, STEEL)
    assert not enterprise_is_known(warehouse_url, nobody)
    env = {**os.environ, "IEM_DATABASE_URL": warehouse_url, "IEM_HOME": str(tmp_path / "home")}
    unknown = run_iem(["errors", "--enterprise", nobody], env)
    assert unknown.returncode == 2 and "not in the registry" in unknown.stderr, unknown.stderr
    assert not (tmp_path / "home" / "errors" / f"{nobody}.csv").exists()
    known = run_iem(["errors", "--enterprise", STEEL], env)
    assert known.returncode == 0, known.stderr


def test_onboarding_names_what_to_fix_before_go_live(tmp_path):
    from tests.feeds import READINGS_HEADER, reading

    feed = write_basic_feed(tmp_path / "new")
    rows = [
        reading(STEEL, "EL-01", f"2026-01-01T{h:02d}:00:00+08:00", f"2026-01-01T{h + 1:02d}:00:00+08:00", "10")
        for h in range(6)
    ]
    rows.append(reading(STEEL, "COAL-01", "2026-01-01T00:00:00+08:00", "2026-01-02T00:00:00+08:00", "9999", unit="t"))
    (feed / "readings_sample.csv").write_text(READINGS_HEADER + "".join(rows))
    result = onboard(feed)
    assert not result["ready"]
    messages = [f["message"] for f in result["findings"]]
    assert f"{STEEL} meter EL-REG: no readings in the sample" in messages
    assert f"{CEMENT} meter EL-01: no readings in the sample" in messages
    assert any(m.startswith(f"{STEEL} meter COAL-01: 9999 × multiplier exceeds rated_max") for m in messages)
    assert not any("electricity every" in m for m in messages)  # hourly electricity is allowed
    # a 5-minute electricity feed is not
    fast = [
        reading(STEEL, "EL-01", f"2026-01-02T00:{m:02d}:00+08:00", f"2026-01-02T00:{m + 5:02d}:00+08:00", "1")
        for m in range(0, 30, 5)
    ]
    (feed / "readings_fast.csv").write_text(READINGS_HEADER + "".join(fast))
    messages = [f["message"] for f in onboard(feed)["findings"]]
    assert any(m.startswith(f"{STEEL} meter EL-01: electricity every") for m in messages)


def test_pull_against_the_simulator_with_500s_truncation_and_timeouts_loads_exactly_its_rows(
    warehouse_url, tmp_path, monkeypatch
):
    """The enterprise energy-centre API of the simulator (iem simulate --serve), misbehaving."""
    from datetime import date

    import yaml

    from ingestion.simulator import simulate
    from ingestion.simulator.serve import load_feed_records, make_server

    feed = tmp_path / "sim"
    simulate(feed, enterprises=3, start=date(2026, 2, 1), days=2, seed=9, faults="none")
    ent = next(p.name for p in sorted(feed.iterdir()) if p.is_dir())
    records = load_feed_records(feed, enterprise_id=ent)
    server = make_server(records, 0, token=TOKEN, fail_rate=0.2, truncate_rate=0.2, slow_ms=1200, slow_rate=0.1, seed=4)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("IEM_TEST_TOKEN", TOKEN)
    cfg = {
        "endpoints": [
            {
                "name": "sim-1",
                "enterprise_id": ent,
                "base_url": f"http://127.0.0.1:{server.server_address[1]}",
                "token_env": "IEM_TEST_TOKEN",
                "entities": ["readings", "meters", "enterprises"],
                "page_size": 500,
                "timeout_seconds": 0.5,
                "max_attempts": 10,
            }
        ]
    }
    (tmp_path / "endpoints.yaml").write_text(yaml.safe_dump(cfg))
    try:
        summary = pull_all(warehouse_url, tmp_path / "endpoints.yaml").to_dict()
    finally:
        server.shutdown()
    assert summary["failures"] == 0 and summary["rows_quarantined"] == 0 and summary["rows_duplicate"] == 0
    with psycopg.connect(warehouse_url) as conn:
        counts = {
            t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0]
            for t in ("enterprises", "meters", "readings")
        }
        total = conn.execute("select sum(value) from raw.readings").fetchone()[0]
    assert counts == {"enterprises": 1, "meters": len(records["meters"]), "readings": len(records["readings"])}
    assert float(total) == pytest.approx(sum(float(r["value"]) for r in records["readings"]))
