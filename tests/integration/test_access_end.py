"""`iem serve` as a real process on 127.0.0.1: a simulated region pushed through the access-end protocol
gives the marts the same simulation gives when loaded from files; a server killed mid-stream and every
message re-sent loses nothing and loads nothing twice; tokens are per enterprise and expire; a bad
record gets its own error while the rest of its message loads.

One small faulty region (3 enterprises, 2 days) serves every test: the files go into one warehouse,
the pushes into others, each through its own server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import requests

from ingestion.access_end import sm4
from ingestion.access_end.client import AccessEndClient, Credentials, Pusher, Refused, plan_feed, summarise
from ingestion.loader import ingest_path
from ingestion.reports import write_error_report
from ingestion.simulator import simulate
from orchestration.dbt_env import run_dbt

SEED, ENTERPRISES, START, DAYS = 26, 3, date(2026, 1, 1), 2
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`iem serve --open-enrolment` in a subprocess against one warehouse; its log is kept for reading."""

    def __init__(self, url: str, home: Path, port: int | None = None, **env):
        self.url, self.home, self.port = url, home, port or free_port()
        self.env = {**os.environ, "IEM_DATABASE_URL": url, "IEM_HOME": str(home), "IEM_LOG_LEVEL": "INFO", **env}
        self.log = home / f"serve-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> Server:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as fh:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestration.cli", "serve", "--port", str(self.port), "--open-enrolment"],
                cwd=REPO,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"iem serve exited: {self.log.read_text()[-2000:]}")
            try:
                requests.post(self.base + "checkVersion", json={}, timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.2)
        raise RuntimeError("iem serve did not start within 60 s")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    folder = tmp_path_factory.mktemp("region")
    simulate(folder, enterprises=ENTERPRISES, start=START, days=DAYS, seed=SEED, faults="default")
    return folder, plan_feed(folder, round_minutes=60)  # centres that upload hourly (the benchmark: every round)


@pytest.fixture(scope="module")
def pushed(region, fresh_database, tmp_path_factory):
    """The region loaded from files in one warehouse and pushed through a served protocol in another."""
    folder, plan = region
    files_url, push_url = fresh_database(), fresh_database()
    ingest_path(files_url, folder)
    home = tmp_path_factory.mktemp("serve-home")
    server = Server(push_url, home).start()
    try:
        pusher = Pusher(server.base, plan, Credentials(home / "credentials.json"), concurrency=3)
        pusher.setup()
        results = pusher.send()
        yield {
            "files": files_url,
            "push": push_url,
            "server": server,
            "pusher": pusher,
            "results": results,
            "raw": raw_contents(push_url),
        }
    finally:
        server.stop()


@pytest.fixture(scope="module")
def built(pushed):
    for url in (pushed["files"], pushed["push"]):
        run_dbt(["build", "--exclude", "resource_type:test"], url)  # seeds and models, one dbt invocation each
    return pushed


def frame(url: str, sql: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def marts(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
    return [r[0] for r in rows]


# a record refused at the door is reported in the terms it was sent in (statDate, dataCode: the protocol's
# fields; period_end, meter_id: the file's), so only the alert itself is compared, not its wording
SPOKEN = ("field", "value", "reason")


def comparable(df: pd.DataFrame, meter_ids: dict[tuple[str, str], str]) -> pd.DataFrame:
    """A mart as compared: build bookkeeping dropped; a pushed meter's data code read as the file's
    meter_id; in alert evidence, the file and row (a message and record index when pushed) dropped."""
    df = df.drop(
        columns=[c for c in ("built_through_batch", "batch_id", "alert_id", "first_seen", "last_seen") if c in df]
    )
    if "meter_id" in df:
        df["meter_id"] = [meter_ids.get((e, m), m) for e, m in zip(df["enterprise_id"], df["meter_id"])]
    if "evidence" in df:
        df["evidence"] = df["evidence"].map(
            lambda e: {k: v for k, v in (e or {}).items() if k not in ("file", "row", "first_row", *SPOKEN)}
        )
    df = df.astype(str)
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_every_message_was_answered_and_every_record_accounted_for(pushed, region):
    _, plan = region
    s = summarise(pushed["results"])
    assert s["failed_messages"] == 0 and s["messages"] == len(plan.messages)
    assert s["records"] == s["loaded"] + s["rejected"] + s["duplicate"] == plan.records
    # the feed's faults at the door arrive as the same rejected and duplicate rows as the files'
    files = frame(pushed["files"], "select reason from quarantine.rejected_rows order by 1")["reason"]
    assert s["rejected"] == len(files) > 0 and s["duplicate"] >= 1
    # each meter's current row carries its metering instrument (level, calibration, multiplier)
    meters = frame(
        pushed["push"],
        "select distinct on (enterprise_id, meter_id) metering_level, calibration_valid_until, multiplier "
        "from raw.meters order by enterprise_id, meter_id, batch_id desc",
    )
    assert len(meters) == len(plan.meter_codes)
    assert meters["metering_level"].notna().all() and meters["calibration_valid_until"].notna().all()


def test_pushed_region_builds_the_same_marts_as_its_files(built):
    meter_ids = {(eid, code): mid for (eid, mid), code in built["pusher"].plan.meter_codes.items()}
    names = marts(built["files"])
    assert "fct_enterprise_monthly" in names and names == marts(built["push"])
    compared = 0
    for name in names:
        a = comparable(frame(built["files"], f"select * from marts.{name}"), meter_ids)
        b = comparable(frame(built["push"], f"select * from marts.{name}"), meter_ids)
        pd.testing.assert_frame_equal(a, b, obj=name)
        compared += len(a)
    assert compared > 0
    totals = frame(built["push"], "select sum(comprehensive_tce_equivalent) as t from marts.fct_enterprise_monthly")
    assert float(totals["t"][0]) > 0
    alerts = frame(built["push"], "select fault_kind from marts.fct_alerts")["fault_kind"]
    assert {"invalid_enterprise_id", "unknown_meter", "malformed_row", "duplicate"} <= set(alerts)


def raw_contents(url: str) -> dict[str, pd.DataFrame]:
    queries = {
        "readings": "select enterprise_id, meter_id, period_start, period_end, value, unit, quality, sent_at "
        "from raw.readings",
        "totals": "select enterprise_id, energy_code, period_start, period_end, value, unit, sent_at from raw.totals",
        "production": "select enterprise_id, product_code, period_start, quantity, sent_at from raw.production",
        "economics": "select enterprise_id, month, gross_output_10k_yuan, value_added_10k_yuan, sent_at "
        "from raw.economics",
        "rejected": "select enterprise_id, entity, field, value, reason, raw_row from quarantine.rejected_rows",
        "duplicates": "select enterprise_id, entity, natural_key from quarantine.duplicate_rows",
    }
    out = {}
    for name, sql in queries.items():
        df = frame(url, sql).astype(str)
        out[name] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


def test_killed_mid_stream_then_every_message_resent_loses_nothing_and_loads_nothing_twice(
    pushed, region, fresh_database, tmp_path_factory
):
    _, plan = region
    url = fresh_database()
    home = tmp_path_factory.mktemp("kill-home")
    server = Server(url, home).start()
    try:
        pusher = Pusher(server.base, plan, Credentials(home / "credentials.json"), concurrency=3, max_attempts=1)
        pusher.setup()
        answered, killed = [], threading.Event()

        def kill_after_a_third(entry):
            answered.append(entry)
            if len(answered) == len(plan.messages) // 3 and not killed.is_set():
                killed.set()
                server.kill()  # SIGKILL while the other senders have messages in flight

        first = pusher.send(on_answer=kill_after_a_third)
        assert killed.is_set()
        failed = [r for r in first if r["error"]]
        assert failed, "the kill cut the stream"
        server.start()  # same warehouse, same port
        pusher.max_attempts = 6
        again = pusher.send()  # every message, from the first
    finally:
        server.stop()
    s = summarise(again)
    assert s["failed_messages"] == 0 and s["messages"] == len(plan.messages)
    assert s["already_loaded_messages"] >= len(plan.messages) // 3  # recognised, answered as before
    # nothing twice: the warehouse holds exactly what the uninterrupted push holds, row for row
    expected, got = pushed["raw"], raw_contents(url)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], obj=name)
    ledger = frame(
        url, "select count(*) as n, count(distinct content_sha256) as d from audit.ingest_batches where source = 'push'"
    )
    assert ledger["n"][0] == ledger["d"][0]


# ---------------------------------------------------------------- security and per-record errors


def enterprise_client(pushed, eid: str) -> AccessEndClient:
    c = pushed["pusher"].client(eid)
    c.session = requests.Session()
    return c


def meter_code(pushed, eid: str) -> str:
    return next(code for (e, _), code in pushed["pusher"].plan.meter_codes.items() if e == eid)


def reading(code: str, value, when: str = "2026-01-06 10:15:00", **extra) -> dict:
    return {
        "dataCode": code,
        "dataValue": value,
        "statType": 0,
        "statDate": when,
        "inputType": 4,
        "uploadDate": "2026-01-06 10:20:00",
        **extra,
    }


def test_a_malformed_record_gets_its_own_error_while_the_rest_of_the_message_loads(pushed, region):
    a = sorted(pushed["pusher"].plan.enterprises)[0]
    client, code = enterprise_client(pushed, a), meter_code(pushed, a)
    records = [
        reading(code, 101.5, "2026-01-05 10:15:00"),
        reading(code, "12..5x", "2026-01-05 10:30:00"),  # not a number
        reading(code, 99.25, "2026-01-05 10:45:00"),
    ]
    answer = client.upload(records)
    assert (answer["received"], answer["loaded"], answer["rejected"]) == (3, 2, 1)
    bad = answer["results"][1]
    assert bad["index"] == 2 and bad["status"] == "rejected" and bad["field"] == "value" and bad["value"] == "12..5x"
    assert [r["status"] for r in answer["results"]] == ["loaded", "rejected", "loaded"]
    loaded = frame(
        pushed["push"],
        f"select value from raw.readings where meter_id = '{code}' and period_end >= '2026-01-05T10:15:00+08:00'",
    )
    assert sorted(float(v) for v in loaded["value"]) == [99.25, 101.5]
    # the enterprise's error report carries it, pointing at the message and the record
    report = write_error_report(pushed["push"], a, Path(pushed["server"].home) / "errors.csv")
    text = (Path(pushed["server"].home) / "errors.csv").read_text(encoding="utf-8")
    assert report["rejected"] >= 1 and f"dataUpload/{answer['messageId']}/readings,readings,2,value,12..5x" in text
    # the same message again is recognised: answered as before, nothing loaded twice
    again = client.upload(records)
    assert again["alreadyLoaded"] and again["results"] == answer["results"]
    assert (
        len(
            frame(
                pushed["push"],
                f"select 1 from raw.readings where meter_id = '{code}' and period_end >= '2026-01-05T10:15:00+08:00'",
            )
        )
        == 2
    )


def test_a_token_writes_only_its_own_enterprise(pushed):
    a, b = sorted(pushed["pusher"].plan.enterprises)[:2]
    client_a, code_b = enterprise_client(pushed, a), meter_code(pushed, b)
    with pytest.raises(Refused) as err:
        client_a.post("dataUpload", {"enterpriseCode": b, "data": [reading(code_b, 1.0)]})
    assert err.value.status == 403
    # B's credit code inside A's message: the record is refused, never booked to B
    answer = client_a.upload([reading(code_b, 1.0, enterpriseCode=b)])
    assert answer["rejected"] == 1
    assert answer["results"][0]["reason"].startswith(("row belongs to another enterprise", "unknown meter"))
    assert (
        frame(
            pushed["push"],
            f"select count(*) as n from raw.readings where enterprise_id = '{b}' "
            "and sent_at = '2026-01-06T10:20:00+08:00'",
        )["n"][0]
        == 0
    )
    # B's configuration records cannot be changed with A's token
    with psycopg.connect(pushed["push"]) as conn:
        index_b = conn.execute(
            "select data_index from audit.access_end_records "
            "where enterprise_code = %s and kind = 'collect_item' limit 1",
            (b,),
        ).fetchone()[0]
    with pytest.raises(Refused) as err:
        client_a.configure("collect_item", "delete", {"dataIndex": index_b})
    assert err.value.status == 403


def test_an_expired_or_unknown_token_is_refused_and_a_new_one_works(pushed):
    a = sorted(pushed["pusher"].plan.enterprises)[2]
    client = enterprise_client(pushed, a)
    client.request_token()
    assert client.check_version()["regVersion"]
    with psycopg.connect(pushed["push"]) as conn:
        conn.execute(
            "update audit.access_end_tokens set expires_at = now() - interval '1 second' where enterprise_code = %s",
            (a,),
        )
    with pytest.raises(Refused) as err:
        client.check_version()
    assert err.value.status == 401 and "expired" in err.value.answer["responseMessage"]
    saved = client.token
    client.token = "not-a-token"
    with pytest.raises(Refused) as err:
        client.check_version()
    assert err.value.status == 401
    client.token = saved
    no_token = requests.post(timeout=30, url=client.base + "dataUpload", json={"enterpriseCode": a, "data": []})
    assert no_token.status_code == 401 and no_token.json()["responseCode"] == 401
    client.request_token()
    assert client.check_version()["dicVersion"]


def test_credentials_sizes_and_secrets(pushed):
    a = sorted(pushed["pusher"].plan.enterprises)[0]
    client = enterprise_client(pushed, a)
    # a wrong password, and an enterprise's secretKey asked for again without the current one
    wrong = requests.post(
        timeout=30,
        url=client.base + "requestAK",
        json={"enterpriseCode": a, "password": sm4.encrypt_password("guess", client.secret_key, a)},
    )
    assert wrong.status_code == 401 and wrong.json()["responseCode"] == 401
    hijack = requests.post(timeout=30, url=client.base + "enterpriseInfo/rwk", json={"enterpriseCode": a})
    assert hijack.status_code == 401
    # a body over the limit is refused before it is read whole
    client.request_token()
    big = requests.post(
        timeout=30,
        url=client.base + "dataUpload",
        data=b"[" + b"0," * 2_500_000 + b"0]",
        headers={"Authorization": f"Bearer {client.token}", "Content-Type": "application/json"},
    )
    assert big.status_code == 413
    # no password, key or token in the service's log
    log = pushed["server"].log.read_text(encoding="utf-8", errors="replace")
    assert "POST /dataUpload" in log
    for eid, c in pushed["pusher"].clients.items():
        for secret in (c.password, c.secret_key, c.token, sm4.encrypt_password(c.password, c.secret_key, eid)):
            assert secret and secret not in log


def test_anonymous_requests_are_rate_limited_per_address(pushed):
    base = pushed["server"].base
    codes = [
        requests.post(timeout=30, url=base + "dataDownload/public", json={"itemIndex": "1"}).status_code
        for _ in range(80)
    ]
    assert codes[0] == 200 and 429 in codes  # burst 50, then 2 a second (protocol.yaml)
