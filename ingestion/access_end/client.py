"""A client of the access-end protocol, and the simulator's push mode (`iem simulate --push URL`).

`AccessEndClient` is one enterprise's side of the protocol: secretKey (rwk), registration with the
SM4-encrypted password, token, version check, dictionaries, configuration, data uploads. Connection
errors, 5xx and 429 answers are retried with backoff (tenacity); a 4xx answer is final.

`plan_feed` turns a simulated feed folder (the same files `iem ingest` loads) into what each enterprise
would send through the protocol: its registration, processes, one data-collection item per meter (the
16-character data code assigned here), the meter's metering instrument (multiplier, register,
calibration, installation; a replacement as an update), items for its own totals, products and
economic indicators, and its values grouped into messages by the time they were sent (uploadDate).
Rows the files carry broken stay broken: a malformed line becomes a malformed record, a wrong credit
code stays wrong, an unknown meter gets a data code nobody configured, a duplicate is sent twice. So
the faults and the ground truth are the simulator's own, and the warehouse must come out the same.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import string
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ..contract import entity as contract_entity
from ..contract import entity_of_file
from ..parse import parse_jsonl, split_fields, split_lines
from ..reference import read_seed
from . import codes, sm4

BEIJING = timezone(timedelta(hours=8))
LOCAL = "%Y-%m-%d %H:%M:%S"


class Refused(Exception):
    """A final (4xx) answer of the service."""

    def __init__(self, status: int, answer: dict):
        super().__init__(f"HTTP {status}: {answer.get('responseMessage')}")
        self.status, self.answer = status, answer


class Transient(Exception):
    pass


class AccessEndClient:
    def __init__(
        self,
        base_url: str,
        enterprise_code: str,
        *,
        secret_key: str | None = None,
        password: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 60.0,
        max_attempts: int = 6,
    ):
        self.base = base_url.rstrip("/") + "/"
        self.code = enterprise_code
        self.secret_key, self.password = secret_key, password
        self.session = session or requests.Session()
        self.timeout, self.max_attempts = timeout, max_attempts
        self.token: str | None = None
        self.reg_version: str | None = None
        self.dic_version: str | None = None

    def post(self, path: str, body: dict, *, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")

        def once() -> dict:
            try:
                resp = self.session.post(self.base + path, data=data, headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise Transient(f"{type(exc).__name__}") from exc
            if resp.status_code >= 500 or resp.status_code == 429:
                if resp.status_code == 429:
                    time.sleep(float(resp.headers.get("Retry-After", "1")))
                raise Transient(f"HTTP {resp.status_code}")
            try:
                answer = resp.json()
            except ValueError as exc:
                raise Transient("answer is not JSON") from exc
            if resp.status_code != 200:
                raise Refused(resp.status_code, answer)
            return answer.get("data") or {}

        for attempt in Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(Transient),
            reraise=True,
        ):
            with attempt:
                return once()
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ the protocol's steps

    def request_work_key(self) -> str:
        body = {"enterpriseCode": self.code}
        if self.secret_key:
            body["secretKey"] = self.secret_key
        self.secret_key = self.post(endpoint("request_work_key"), body, auth=False)["secretKey"]
        return self.secret_key

    def _cipher(self) -> str:
        if not self.password or not self.secret_key:
            raise ValueError(f"{self.code}: no password or secretKey yet (request_work_key first)")
        return sm4.encrypt_password(self.password, self.secret_key, self.code)

    def register(self, info: dict) -> str:
        body = {"enterpriseCode": self.code, "password": self._cipher(), **info}
        return self.post(endpoint("register"), body, auth=False)["dataIndex"]

    def request_token(self) -> str:
        answer = self.post(
            endpoint("request_token"), {"enterpriseCode": self.code, "password": self._cipher()}, auth=False
        )
        self.token = answer["token"]
        return self.token

    def check_version(self) -> dict:
        answer = self.post(endpoint("check_version"), {"enterpriseCode": self.code})
        self.reg_version, self.dic_version = answer["regVersion"], answer["dicVersion"]
        return answer

    def dictionary(self, item_index: int) -> dict:
        public = codes.is_public_dictionary(item_index)
        path = endpoint("dictionary_public" if public else "dictionary")
        return self.post(path, {"enterpriseCode": self.code, "itemIndex": str(item_index)}, auth=not public)

    def _envelope(self) -> dict:
        return {"enterpriseCode": self.code, "regVersion": self.reg_version, "dicVersion": self.dic_version}

    def configure(self, kind: str, action: str, body: dict) -> str:
        path = f"{codes.protocol()['endpoints']['configuration'][kind]}/{action}"
        return self.post(path, {**self._envelope(), **body})["dataIndex"]

    def upload(self, records: list[dict], upload_date: str | None = None) -> dict:
        body = {**self._envelope(), "data": records}
        if upload_date:
            body["uploadDate"] = upload_date
        return self.post(endpoint("data_upload"), body)


def endpoint(name: str) -> str:
    return codes.protocol()["endpoints"][name]


# ---------------------------------------------------------------- from a simulated feed to protocol messages


@dataclass
class EnterprisePlan:
    enterprise_id: str
    registration: dict = field(default_factory=dict)
    processes: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    metering: list[dict] = field(default_factory=list)
    metering_updates: list[dict] = field(default_factory=list)  # replacements: quote the instrument's dataIndex


@dataclass
class Message:
    enterprise_id: str
    upload_date: str
    records: list[dict]


@dataclass
class Plan:
    enterprises: dict[str, EnterprisePlan]
    messages: list[Message]
    meter_codes: dict[tuple[str, str], str]  # (enterprise_id, meter_id) → data code

    @property
    def records(self) -> int:
        return sum(len(m.records) for m in self.messages)


def _local(iso: str | None) -> str | None:
    """'2026-01-15T00:15:00+08:00' → '2026-01-15 00:15:00' (Beijing); garbage passes through de-offset."""
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        text = iso.replace("T", " ")
        return text[:19] if len(text) > 19 and text[19] in "+-Z" else text
    if moment.tzinfo is None:
        return moment.strftime(LOCAL)
    return moment.astimezone(BEIJING).strftime(LOCAL)


def _number(text):
    """A value as a JSON number when it is one; anything else is sent as written (and refused there)."""
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return value if math.isfinite(value) else text


def _category() -> dict[str, str]:
    return {r["energy_code"]: r["category"] for r in read_seed("energy_types")}


def _process_of_scope() -> dict[str, str]:
    return {r["scope"]: r["code"] for r in codes.process_codes().values()}


def _product_code_of() -> dict[str, str]:
    return {r["product_code"]: r["code"] for r in codes.product_codes().values()}


def _read_rows(path: Path) -> tuple[list[dict], list[tuple[int, str]]]:
    """(rows with their line numbers, lines that do not split into fields: (line number, text))."""
    ent = contract_entity(entity_of_file(path))
    data = path.read_bytes()
    if path.suffix.lower() == ".jsonl":
        parsed = parse_jsonl(data, ent.field_names)
        frame, broken = parsed.frame, [(r["row_number"], r["raw_row"] or "") for r in parsed.rejects]
    else:
        lines = split_lines(data, ent.field_names)
        frame, rejects = split_fields(lines.frame, lines.header, ent.field_names)
        broken = [(r["row_number"], r["raw_row"] or "") for r in lines.rejects + rejects]
    rows = [
        {k: v for k, v in r.items() if v is not None and k != "raw_row"}
        for r in frame.sort("row_number").iter_rows(named=True)
    ]
    return rows, sorted(broken)


def _owner(path: Path, root: Path) -> str | None:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else None


def plan_feed(folder: Path, round_minutes: int | None = None) -> Plan:
    """What each enterprise of a simulated feed folder sends through the protocol (module doc). Values
    sent at the same time make one message; with `round_minutes`, those sent within the same round
    (e.g. 60: a centre that uploads hourly), each record keeping its own uploadDate."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and entity_of_file(p))
    by_entity: dict[str, list[Path]] = defaultdict(list)
    for p in files:
        by_entity[str(entity_of_file(p))].append(p)
    plans: dict[str, EnterprisePlan] = {}
    for path in by_entity["enterprises"]:
        for row in _read_rows(path)[0]:
            plans[row["enterprise_id"]] = EnterprisePlan(
                row["enterprise_id"],
                registration={
                    "cmpName": row["name"],
                    "regionCode": row["region_code"],
                    "industryCode": row["industry_code"],
                    "center": "1" if row.get("has_energy_centre") == "true" else "0",
                    **{
                        k: row[f]
                        for k, f in (
                            ("declaredTce", "declared_tce"),
                            ("annualTargetTce", "annual_target_tce"),
                            ("connectedSince", "connected_since"),
                        )
                        if row.get(f)
                    },
                },
            )
    # cadence of each meter from its readings (a 15-minute meter reports statType 0, a daily one 1)
    reading_files = by_entity["readings"]
    parsed_readings = {p: _read_rows(p) for p in reading_files}
    period_kind: dict[tuple[str, str], str] = {}
    for rows, _ in parsed_readings.values():
        for r in rows:
            key = (str(r.get("enterprise_id")), str(r.get("meter_id")))
            if key not in period_kind:
                period_kind[key] = _stat_type(r.get("period_start"), r.get("period_end"))
    category, process_of, product_of = _category(), _process_of_scope(), _product_code_of()
    meter_codes: dict[tuple[str, str], str] = {}
    meter_rows: dict[tuple[str, str], dict] = {}
    used: dict[str, set] = defaultdict(set)
    processes: dict[str, set] = defaultdict(set)
    meter_files = sorted(by_entity["meters"], key=lambda p: (p.name != "meters.csv", p.name))
    for path in meter_files:
        for row in _read_rows(path)[0]:
            eid, mid = row["enterprise_id"], row["meter_id"]
            plan = plans[eid]
            if (eid, mid) in meter_codes:  # a later version of a known meter: its metering instrument changed
                plan.metering_updates.append(_metering(meter_codes[(eid, mid)], row))
                continue
            ec = codes.energy_code_of(row["energy_code"])
            data_class = (
                "03"
                if ec.code_list == "working_medium"
                else ("01" if category[row["energy_code"]] == "primary" else "02")
            )
            scope = row.get("scope", "boundary")
            process = "00" if scope in ("boundary", "check") else process_of[scope]
            scope_code = "1" if scope == "boundary" else ("4" if scope == "check" else "2")
            usage = "30" if row.get("direction") == "out" else "21"
            device = 1
            while codes.DataCode.compose(process, "00", f"{device:04d}", data_class, ec.code, usage) in used[eid]:
                device += 1
            code = codes.DataCode.compose(process, "00", f"{device:04d}", data_class, ec.code, usage)
            used[eid].add(code)
            meter_codes[(eid, mid)] = code
            meter_rows[(eid, mid)] = row
            if process != "00":
                processes[eid].add(process)
            item = {
                "collectItemName": mid,
                "dataCode": code,
                "processCode": process,
                "processUnitCode": "00",
                "equipmentCode": code[4:6],
                "equipmentUnitCode": code[4:8],
                "energyClassCode": data_class,
                "energyTypeCode": ec.code,
                "dataUsageCode": usage,
                "inputType": "4",
                "statType": period_kind.get((eid, mid), "0"),
                "scope": scope_code,
                "unit": row["unit"],
                "collectSystemName": "IEM simulator",
            }
            if row.get("rated_max"):
                item["dataValueMax"] = row["rated_max"]
            plan.items.append(item)
            plan.metering.append(_metering(code, row))
    # the enterprises' own totals, products and economic indicators: one item each
    aggregate = codes.protocol()["aggregate_device_code"]
    extra_items: dict[str, dict[str, str]] = defaultdict(dict)

    def item_for(eid: str, key: str, body: dict) -> str:
        if key not in extra_items[eid]:
            plans[eid].items.append(body)
            extra_items[eid][key] = body["dataCode"]
        return extra_items[eid][key]

    messages: dict[tuple[str, str], list[dict]] = defaultdict(list)
    order: list[tuple[str, str]] = []

    def add(eid: str, sent_at: str | None, record: dict) -> None:
        key = (eid, _round(_local(sent_at) or "", round_minutes))
        if key not in messages:
            order.append(key)
        messages[key].append(record)

    for path in by_entity["totals"]:
        for r in _read_rows(path)[0]:
            ec = codes.energy_code_of(r["energy_code"])
            data_class = (
                "03"
                if ec.code_list == "working_medium"
                else ("01" if category[r["energy_code"]] == "primary" else "02")
            )
            code = codes.DataCode.compose("00", "00", aggregate, data_class, ec.code, "21")
            item_for(
                r["enterprise_id"],
                code,
                {
                    "collectItemName": f"{r['energy_code']} total",
                    "dataCode": code,
                    "statType": "1",
                    "scope": "1",
                    "unit": r["unit"],
                    "inputType": "1",
                },
            )
            add(
                r["enterprise_id"],
                r["sent_at"],
                _record(
                    code,
                    _stat_type(r["period_start"], r["period_end"]),
                    r["period_start"],
                    r["period_end"],
                    r["value"],
                    r["unit"],
                    r["sent_at"],
                ),
            )
    for path in by_entity["production"]:
        for r in _read_rows(path)[0]:
            process = process_of.get(r["scope"], "00") if r.get("scope") else "00"
            code = codes.DataCode.compose(process, "00", aggregate, "04", product_of[r["product_code"]], "00")
            if process != "00":
                processes[r["enterprise_id"]].add(process)
            item_for(
                r["enterprise_id"],
                code,
                {
                    "collectItemName": r["product_code"],
                    "dataCode": code,
                    "statType": "2",
                    "scope": "1" if process == "00" else "2",
                    "unit": r["unit"],
                    "inputType": "1",
                },
            )
            add(
                r["enterprise_id"],
                r["sent_at"],
                _record(code, "2", r["period_start"], r["period_end"], r["quantity"], r["unit"], r["sent_at"]),
            )
    targets = {body["field"]: code for code, body in codes.protocol()["business_targets"].items()}
    for path in by_entity["economics"]:
        for r in _read_rows(path)[0]:
            for fld, target in targets.items():
                if not r.get(fld):
                    continue
                code = codes.DataCode.compose("00", "00", aggregate, "09", target, "00")
                item_for(
                    r["enterprise_id"],
                    code,
                    {"collectItemName": fld, "dataCode": code, "statType": "2", "scope": "1", "inputType": "1"},
                )
                add(
                    r["enterprise_id"],
                    r["sent_at"],
                    _record(code, "2", f"{r['month']}-01T00:00:00+08:00", None, r[fld], None, r["sent_at"]),
                )
    # readings, broken lines included, in the order of their files
    for path in reading_files:
        rows, broken = parsed_readings[path]
        owner = _owner(path, folder)
        broken_after: dict[int, list[str]] = defaultdict(list)
        numbers = [r["row_number"] for r in rows]
        for line_no, text in broken:
            previous = max((n for n in numbers if n < line_no), default=numbers[0] if numbers else -1)
            broken_after[previous].append(text)
        for r in rows:
            eid = str(owner or r.get("enterprise_id"))
            mid = str(r.get("meter_id"))
            code = meter_codes.get((eid, mid)) or codes.DataCode.compose("00", "00", "9999", "02", "3300", "21")
            stat_type = _stat_type(r.get("period_start"), r.get("period_end"), period_kind.get((eid, mid), "0"))
            rec = _record(
                code,
                stat_type,
                r.get("period_start"),
                r.get("period_end"),
                r.get("value"),
                r.get("unit"),
                r.get("sent_at"),
                quality=r.get("quality"),
            )
            if r.get("enterprise_id") and r["enterprise_id"] != eid:
                rec["enterpriseCode"] = r["enterprise_id"]  # a wrong credit code stays wrong
            add(eid, r.get("sent_at"), rec)
            for text in broken_after.pop(r["row_number"], []):
                add(eid, r.get("sent_at"), {**rec, "dataValue": text})  # a line that was not a row is no number
        for leftover in broken_after.values():  # a file with no readable row at all
            for text in leftover:
                add(str(owner), None, {"dataCode": "", "dataValue": text})
    for eid, procs in processes.items():
        names = codes.process_codes()
        plans[eid].processes = [{"processCode": p, "processName": names[p]["name_zh"]} for p in sorted(procs)]
    ordered = sorted(order, key=lambda k: (k[1], k[0]))
    return Plan(plans, [Message(eid, sent, messages[(eid, sent)]) for eid, sent in ordered], meter_codes)


def _round(local: str, minutes: int | None) -> str:
    if not minutes or not local:
        return local
    try:
        moment = datetime.strptime(local, LOCAL).replace(tzinfo=BEIJING)
    except ValueError:
        return local
    floor = moment - timedelta(minutes=(moment.hour * 60 + moment.minute) % minutes, seconds=moment.second)
    return floor.strftime(LOCAL)


def _stat_type(start: str | None, end: str | None, default: str = "0") -> str:
    if not start:
        return default
    try:
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end or "")
    except (TypeError, ValueError):
        return default
    span = b - a
    if span == timedelta(days=1):
        return "1"
    if span >= timedelta(days=28):
        return "2"
    return "0"


def _record(code, stat_type, start, end, value, unit, sent_at, quality=None) -> dict:
    stat_date = _local(end) if stat_type == "0" else _local(start)
    rec = {
        "dataCode": code,
        "statType": int(stat_type),
        "statDate": stat_date,
        "dataValue": _number(value),
        "inputType": 5 if quality == "manual" else 4,
        "uploadDate": _local(sent_at),
    }
    if unit:
        rec["unit"] = unit
    return {k: v for k, v in rec.items() if v is not None}


def _metering(code: str, row: dict) -> dict:
    body = {
        "meterCode": row["meter_id"],
        "dataCode": code,
        "meteringName": row["meter_id"],
        "meteringLevel": 1 if row.get("scope", "boundary") == "boundary" else (3 if row.get("scope") == "check" else 2),
        "magnification": row.get("multiplier") or "1",
        "meteringCalculateType": 0 if row.get("reading_type") == "register" else 1,
        "measureState": 1,
    }
    if row.get("register_max"):
        body["registerMax"] = row["register_max"]
    if row.get("calibration_valid_until"):
        body["nextCalibration"] = row["calibration_valid_until"]
    if row.get("installed_at"):
        body["installDate"] = _local(row["installed_at"])
    if row.get("replaced_at"):
        body["measureState"], body["measureStateDate"] = 3, _local(row["replaced_at"])
    return body


# ---------------------------------------------------------------- pushing a plan


def new_password(length: int = 12) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


class Credentials:
    """The simulated enterprises' secretKeys and passwords, kept in a 0600 JSON file between runs."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self.data: dict[str, dict] = json.loads(path.read_text()) if path and path.exists() else {}

    def get(self, eid: str) -> dict:
        with self._lock:
            return self.data.setdefault(eid, {"password": new_password()})

    def save(self) -> None:
        if not self.path:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(self.data, fh)
            tmp.replace(self.path)


class Pusher:
    """Runs a Plan against a service: setup (registration and configuration) per enterprise, then the
    messages, each enterprise's in the order they were sent, enterprises side by side."""

    def __init__(
        self,
        base_url: str,
        plan: Plan,
        credentials: Credentials | None = None,
        *,
        concurrency: int = 4,
        max_attempts: int = 6,
        timeout: float = 60.0,
    ):
        self.base_url, self.plan = base_url, plan
        self.credentials = credentials or Credentials(None)
        self.concurrency, self.max_attempts, self.timeout = concurrency, max_attempts, timeout
        self.clients: dict[str, AccessEndClient] = {}
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def client(self, eid: str) -> AccessEndClient:
        c = self.clients.get(eid)
        if c is None:
            cred = self.credentials.get(eid)
            c = AccessEndClient(
                self.base_url,
                eid,
                secret_key=cred.get("secretKey"),
                password=cred["password"],
                max_attempts=self.max_attempts,
                timeout=self.timeout,
            )
            self.clients[eid] = c
        c.session = self._session()
        return c

    def setup_one(self, eid: str) -> None:
        plan = self.plan.enterprises[eid]
        c = self.client(eid)
        cred = self.credentials.get(eid)
        if not c.secret_key:
            cred["secretKey"] = c.request_work_key()
            self.credentials.save()
        c.register(plan.registration)
        c.request_token()
        c.check_version()
        for body in plan.processes:
            c.configure("process", "add", body)
        for body in plan.items:
            c.configure("collect_item", "add", body)
        metering_index = {}
        for body in plan.metering:
            metering_index[body["dataCode"]] = c.configure("metering", "add", body)
        for body in plan.metering_updates:
            c.configure("metering", "update", {**body, "dataIndex": metering_index[body["dataCode"]]})

    def setup(self) -> None:
        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(self.setup_one, sorted(self.plan.enterprises)))

    def send(self, messages: list[Message] | None = None, on_answer=None) -> list[dict]:
        """Send messages (default: all); each enterprise's in order, enterprises in parallel. Returns one
        entry per message: enterprise, records, seconds, and the answer (or the error)."""
        messages = self.plan.messages if messages is None else messages
        queues: dict[str, list[Message]] = defaultdict(list)
        for m in messages:
            queues[m.enterprise_id].append(m)
        results: list[dict] = []
        lock = threading.Lock()

        def run(eid: str) -> None:
            for m in queues[eid]:
                t0 = time.perf_counter()
                try:
                    answer, error = self.client(eid).upload(m.records), None
                except (Refused, Transient) as exc:
                    answer, error = getattr(exc, "answer", {}), str(exc)
                entry = {
                    "enterprise_id": eid,
                    "upload_date": m.upload_date,
                    "records": len(m.records),
                    "seconds": time.perf_counter() - t0,
                    "answer": answer,
                    "error": error,
                }
                with lock:
                    results.append(entry)
                if on_answer:
                    on_answer(entry)

        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(run, sorted(queues)))
        return results


def summarise(results: list[dict]) -> dict:
    out = {
        "messages": len(results),
        "records": 0,
        "loaded": 0,
        "rejected": 0,
        "duplicate": 0,
        "already_loaded_messages": 0,
        "failed_messages": 0,
    }
    for r in results:
        out["records"] += r["records"]
        a = r["answer"] or {}
        if r["error"] and not a.get("results"):
            out["failed_messages"] += 1
            continue
        for k in ("loaded", "rejected", "duplicate"):
            out[k] += a.get(k, 0)
        out["already_loaded_messages"] += bool(a.get("alreadyLoaded"))
    return out


def push_simulation(
    url: str,
    *,
    out_dir: Path | None,
    credentials_file: Path | None,
    progress=None,
    concurrency: int = 4,
    **simulate_args,
) -> dict:
    """`iem simulate --push URL`: simulate a feed (with its faults and truth), then push it."""
    import tempfile

    from ..simulator import simulate

    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="iem-push-") as tmp:
        folder = Path(out_dir) if out_dir else Path(tmp)
        sim = simulate(folder, **simulate_args)
        plan = plan_feed(folder)
        say(f"  {len(plan.enterprises)} enterprises, {len(plan.messages)} messages, {plan.records} records")
        pusher = Pusher(url, plan, Credentials(credentials_file), concurrency=concurrency)
        t0 = time.perf_counter()
        pusher.setup()
        say(f"  registered and configured in {time.perf_counter() - t0:.1f} s")
        t1 = time.perf_counter()
        results = pusher.send()
    summary = summarise(results)
    summary.update(
        enterprises=len(plan.enterprises),
        seconds=round(time.perf_counter() - t1, 2),
        faults=sim["faults"],
        url=url,
    )
    return summary
