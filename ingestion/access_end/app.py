"""`iem serve`: the access-end upload protocol as an ASGI service (Starlette, served by uvicorn).

Every request is `POST <root>/<path>` with a JSON object; every answer is
`{"responseCode": n, "responseMessage": "...", "data": {...}}` with the HTTP status n (protocol.yaml).

Flow of an enterprise (REVIEW-2026-12 §9.1; docs/access-end-protocol.md):
  enterpriseInfo/rwk (secretKey) → enterpriseInfo/apply (registration, SM4 password) → requestAK (token)
  → checkVersion → dataDownload (dictionaries) → processConfigure, dataCollectConfigure,
  meteringConfigure ... (dataIndex) → dataUpload (values).

What reaches the warehouse goes through ingestion.loader like a file: a registration is an
`enterprises` batch, a data-collection item with its metering instrument a `meters` batch, an upload
one batch per contract entity it carries (readings, totals, production, economics). A pushed batch is
identified by the hash of its enterprise, entity and records (audit.ingest_batches, source 'push'), so a
re-sent message is recognised and answered with its first results, never loaded twice. Records that
cannot be mapped are rejected one by one (quarantine, `iem errors`); the rest of the message loads.

Security: per-enterprise secretKey, password (scrypt hash) and bearer tokens with expiry; a token
writes only its own enterprise's data (the message's enterpriseCode must be the token's, the loader's
ownership rule rejects rows of any other); request size, records per message and request rate are
limited; no body, token, key or password is ever logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import cast

import orjson
import polars as pl
import psycopg
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from stdnum.cn import uscc

from ..contract import entity as contract_entity
from ..loader import load_parsed
from ..parse import ROW, Parsed, parse_records
from ..reference import load_reference
from . import codes, mapping, sm4
from .store import Sealer, Store, verify_password

log = logging.getLogger("iem.access_end")

CONFIG_KINDS = {v: k for k, v in codes.protocol()["endpoints"]["configuration"].items()}  # path → kind
RC = codes.protocol()["response_codes"]
BEIJING = timezone(timedelta(hours=8))


class ProtocolError(Exception):
    def __init__(self, status: int, message: str, data: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.data = status, message, data


def _answer(status: int, message: str, data: dict | None = None) -> Response:
    body = {"responseCode": status, "responseMessage": message, "data": data or {}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(codes.protocol()["protocol"]["date_time_format"])


def canonical(obj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


class RateLimiter:
    """Token buckets per key (enterprise or client address), in this process."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, float]:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            return False, (1.0 - tokens) / self.rate if self.rate > 0 else 60.0


@dataclass
class Service:
    url: str
    settings: codes.ServiceSettings
    store: Store
    max_concurrent_loads: int = 4

    def __post_init__(self):
        self.reference = load_reference()
        self.loads = threading.BoundedSemaphore(self.max_concurrent_loads)
        ep = codes.protocol()["endpoints"]
        self.anonymous: dict[str, Callable] = {
            ep["request_work_key"]: self.request_work_key,
            ep["register"]: self.register,
            ep["register_update"]: self.register,
            ep["request_token"]: self.request_token,
            ep["dictionary_public"]: self.public_dictionary,
        }
        self.authenticated: dict[str, Callable] = {
            ep["check_version"]: self.check_version,
            ep["access_urls"]: self.access_urls,
            ep["dictionary"]: self.dictionary,
            ep["data_upload"]: self.data_upload,
        }

    # ------------------------------------------------------------ registration and tokens

    def _code(self, body: dict) -> str:
        code = body.get("enterpriseCode")
        if not isinstance(code, str) or not uscc.is_valid(code):
            raise ProtocolError(RC["bad_request"], "enterpriseCode is not a valid 统一社会信用代码 (GB 32100)")
        return code

    def request_work_key(self, body: dict, base_url: str) -> dict:
        """enterpriseInfo/rwk: the SM4 secretKey. A new enterprise gets one only under open enrolment (the
        operator enrols otherwise: `iem serve --enrol`); an existing key is rotated only by its holder."""
        code = self._code(body)
        length = codes.protocol()["service"]["secret_key_length"]
        account = self.store.account(code)
        if account is None:
            if not self.settings.open_enrolment:
                raise ProtocolError(
                    RC["forbidden"], "enterprise not enrolled on this platform: ask the platform operator"
                )
            key = self.store.enrol(code, "open", length)
            if key is None:  # enrolled concurrently
                raise ProtocolError(RC["conflict"], "enterprise already holds a secretKey: send it to rotate it")
            return {"secretKey": key}
        given = body.get("secretKey")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), account.secret_key.encode()):
            raise ProtocolError(
                RC["unauthorized"], "this enterprise already holds a secretKey: send it (secretKey) to rotate it"
            )
        return {"secretKey": self.store.rotate_key(code, length)}

    def _password(self, body: dict, code: str, account) -> str:
        cipher = body.get("password")
        if not isinstance(cipher, str):
            raise ProtocolError(RC["bad_request"], "password (SM4 PIN block, hex) is missing")
        try:
            return sm4.decrypt_password(cipher, account.secret_key, code)
        except sm4.PinBlockError:
            raise ProtocolError(
                RC["unauthorized"], "password does not decode under this enterprise's secretKey"
            ) from None

    def register(self, body: dict, base_url: str) -> dict:
        """enterpriseInfo/apply and /update: the registration, loaded as the contract's enterprises row."""
        code = self._code(body)
        account = self.store.account(code)
        if account is None:
            raise ProtocolError(
                RC["forbidden"], "enterprise not enrolled: request a secretKey first (enterpriseInfo/rwk)"
            )
        password = self._password(body, code, account)
        if account.status == "registered" and not verify_password(password, account.password_hash):
            raise ProtocolError(RC["unauthorized"], "enterprise already registered with another password")
        stored = {k: v for k, v in body.items() if k not in ("password", "dataIndex")}
        with self.store.connect() as conn:
            existing = self.store.record(conn, code, "registration", code)
        if body.get("dataIndex") and (existing is None or body["dataIndex"] != existing["data_index"]):
            raise ProtocolError(RC["not_found"], "dataIndex is not this enterprise's registration")
        if existing and existing["body"] == stored:
            with self.store.connect() as conn:  # a re-sent registration (a new password is taken too)
                self.store.set_registered(conn, code, password, existing["data_index"])
            return {"dataIndex": existing["data_index"]}
        index = self._keep_loaded(
            code,
            "enterprises",
            mapping.enterprise_row(body),
            kind="registration",
            key=code,
            body=stored,
            record=existing,
            source_name=f"enterpriseInfo/{code}",
            also=lambda conn, data_index: self.store.set_registered(conn, code, password, data_index),
        )
        return {"dataIndex": index}

    def _keep_loaded(self, code, entity, row, *, kind, key, body, record, source_name, also=None) -> str:
        """Load one registry row (enterprises or meters) through the loader; the configuration record is
        stored in the same transaction, and only when the row loaded. The batch identity is the row and
        the state it replaces, so a re-sent message is recognised and A → B → A loads three times."""
        holder: dict = {}

        def keep(conn: psycopg.Connection, batch_id: int) -> None:
            loaded = cast(
                "tuple",
                conn.execute(
                    "SELECT rows_loaded FROM audit.ingest_batches WHERE batch_id = %s", (batch_id,)
                ).fetchone(),
            )[0]
            if loaded:
                holder["index"], _ = self.store.put_record(
                    conn,
                    data_index=record["data_index"] if record else None,
                    enterprise_code=code,
                    kind=kind,
                    natural_key=key,
                    body=body,
                    batch_id=batch_id,
                )
                if also:
                    also(conn, holder["index"])

        after = f"{kind}:after-{(record or {}).get('batch_id') or 0}"
        result = self._load(
            code, entity, [(1, row)], [], source_name, extra=after, raw=[canonical(body).decode()], before_commit=keep
        )
        problems = self._problems(result)
        if problems or (result.rows_loaded == 0 and result.status == "loaded"):
            what = "registration" if kind == "registration" else "meter"
            reason = problems[0]["reason"] if problems else "not loaded"
            raise ProtocolError(RC["bad_request"], f"{what} rejected: {reason}", {"results": problems})
        if "index" not in holder:  # the same transition was loaded before (a re-send): the record holds it
            with self.store.connect() as conn:
                holder["index"] = (self.store.record(conn, code, kind, key) or {}).get("data_index")
        return holder["index"]

    def request_token(self, body: dict, base_url: str) -> dict:
        code = self._code(body)
        account = self.store.account(code)
        if account is None or account.status != "registered":
            raise ProtocolError(RC["unauthorized"], "enterprise not registered (enterpriseInfo/apply first)")
        password = self._password(body, code, account)
        if not verify_password(password, account.password_hash):
            raise ProtocolError(RC["unauthorized"], "wrong password")
        token, valid_at, expires_at = self.store.issue_token(code, self.settings.token_ttl_seconds)
        return {
            "token": token,
            "akValidAt": _beijing(valid_at),
            "akExpiresIn": _beijing(expires_at),
            "expiresInSeconds": self.settings.token_ttl_seconds,
            "enterpriseUploadTime": self.settings.enterprise_upload_time,
            "platformURL": base_url,
        }

    # ------------------------------------------------------------ versions and dictionaries

    def check_version(self, body: dict, code: str, base_url: str) -> dict:
        return {
            "dicVersion": codes.dictionary_version(),
            "regVersion": self.settings.reg_version,
            "loadPlatformDataURL": base_url + codes.protocol()["endpoints"]["dictionary"],
        }

    def access_urls(self, body: dict, code: str, base_url: str) -> dict:
        ep = codes.protocol()["endpoints"]
        return {
            "enterpriseDataURL": base_url + ep["data_upload"],
            "enterpriseInfoURL": base_url,
            "loadBaseDataURL": base_url + ep["dictionary"],
            "enterpriseDataDownloadURL": base_url + ep["dictionary"],
            "enterpriseInfoDownloadURL": base_url + ep["dictionary"],
            "organizationDataURL": base_url,
        }

    def _dictionary(self, body: dict, public_only: bool) -> dict:
        try:
            index = int(str(body.get("itemIndex")))
        except (TypeError, ValueError):
            raise ProtocolError(RC["bad_request"], "itemIndex is a dictionary number (1-17)") from None
        if public_only and not codes.is_public_dictionary(index):
            raise ProtocolError(RC["unauthorized"], f"dictionary {index} needs a token (dataDownload)")
        try:
            return codes.dictionary(index)
        except KeyError:
            raise ProtocolError(RC["not_found"], f"no dictionary {index}") from None

    def public_dictionary(self, body: dict, base_url: str) -> dict:
        return self._dictionary(body, public_only=True)

    def dictionary(self, body: dict, code: str, base_url: str) -> dict:
        return self._dictionary(body, public_only=False)

    # ------------------------------------------------------------ configuration

    def configure(self, kind: str, action: str, body: dict, code: str) -> tuple[dict, list[str]]:
        """<kind>/add|update|delete. Processes, units, devices and the energy-management office are kept
        as records; a data-collection item of a meter, and its metering instrument, become the meter's
        row in the contract (loaded like a meters file); other items (totals, products, indicators) are
        kept as records and map the values uploaded for them."""
        warnings = self._versions(body)
        body = {k: v for k, v in body.items() if k not in ("regVersion", "dicVersion", "enterpriseCode")}
        with self.store.connect() as conn:
            if action == "delete":
                gone = self._own_record(conn, body, code, kind)
                self.store.delete_record(conn, gone["data_index"])
                conn.commit()
                if kind == "metering":
                    self._meter_without_metering(code, gone)
                return {"dataIndex": gone["data_index"]}, warnings
            quoted = {"dataIndex": body.get("dataIndex")}
            body = {k: v for k, v in body.items() if k != "dataIndex"}
            key = self._natural_key(kind, body, code)
            rec: dict | None = None
            if action == "update":
                rec = self._own_record(conn, quoted, code, kind)
                taken = self.store.record(conn, code, kind, key)
                if taken and taken["data_index"] != rec["data_index"]:
                    raise ProtocolError(
                        RC["conflict"], f"{key} is already configured as dataIndex {taken['data_index']}"
                    )
            else:
                rec = self.store.record(conn, code, kind, key)
                if rec and rec["body"] != body:
                    raise ProtocolError(
                        RC["conflict"],
                        f"already configured as dataIndex {rec['data_index']}: send an update quoting it",
                    )
            if rec and rec["body"] == body:
                return {"dataIndex": rec["data_index"]}, warnings  # a re-sent message: nothing changes
            processes = {r["natural_key"] for r in self.store.records(conn, code, ("process",))}
            item_body, meter_body = None, None
            if kind == "collect_item":
                item_body = body
                current = self.store.record(conn, code, "metering", key)
                meter_body = current["body"] if current else None
            elif kind == "metering":
                target = self.store.record(conn, code, "collect_item", key)
                if target is None:
                    raise ProtocolError(
                        RC["bad_request"],
                        "dataCode: no data-collection item with this code is configured",
                        {"field": "dataCode"},
                    )
                item_body, meter_body = target["body"], body
            item = self._item(item_body, processes) if item_body is not None else None
            if item is None or item.kind != "meter":
                if kind == "metering":
                    raise ProtocolError(
                        RC["bad_request"],
                        "dataCode: a metering instrument belongs to a meter item (device part other than 0000)",
                        {"field": "dataCode"},
                    )
                index, _ = self.store.put_record(
                    conn,
                    data_index=rec["data_index"] if rec else None,
                    enterprise_code=code,
                    kind=kind,
                    natural_key=key,
                    body=body,
                )
                conn.commit()
                return {"dataIndex": index}, warnings
        row = self._meter_row(code, item, meter_body)
        index = self._keep_loaded(
            code,
            "meters",
            row,
            kind=kind,
            key=key,
            body=body,
            record=rec,
            source_name=f"{codes.protocol()['endpoints']['configuration'][kind]}/{key}",
        )
        return {"dataIndex": index}, warnings

    def _item(self, body: dict, processes: set[str]) -> mapping.Item:
        try:
            return mapping.configure_item(body, processes)
        except mapping.ConfigError as exc:
            raise ProtocolError(
                RC["bad_request"], f"{exc.field}: {exc.reason}", {"field": exc.field, "reason": exc.reason}
            ) from None

    def _meter_row(self, code: str, item: mapping.Item, metering: dict | None) -> dict:
        try:
            return mapping.meter_row(code, item, metering)
        except mapping.ConfigError as exc:
            raise ProtocolError(
                RC["bad_request"], f"{exc.field}: {exc.reason}", {"field": exc.field, "reason": exc.reason}
            ) from None

    def _natural_key(self, kind: str, body: dict, code: str) -> str:
        fields = {
            "process": ("processCode",),
            "process_unit": ("processCode", "unitCode"),
            "device": ("deviceNo",),
            "collect_item": ("dataCode",),
            "metering": ("dataCode",),
            "energy_management": (),
        }[kind]
        missing = [f for f in fields if body.get(f) in (None, "")]
        if missing:
            raise ProtocolError(RC["bad_request"], f"{missing[0]}: missing required field", {"field": missing[0]})
        return "/".join(str(body[f]) for f in fields) or code

    def _own_record(self, conn, body: dict, code: str, kind: str) -> dict:
        index = body.get("dataIndex")
        if not index:
            raise ProtocolError(RC["bad_request"], "dataIndex: missing required field (updates and deletes quote it)")
        rec = self.store.record_by_index(conn, str(index))
        if rec is None or rec["status"] == "deleted" or rec["kind"] != kind:
            raise ProtocolError(RC["not_found"], f"no {kind.replace('_', ' ')} with dataIndex {index}")
        if rec["enterprise_code"] != code:
            raise ProtocolError(RC["forbidden"], "this dataIndex belongs to another enterprise")
        return rec

    def _meter_without_metering(self, code: str, rec: dict) -> None:
        """A metering instrument deleted: the meter goes back to its item alone (a new meter version; the
        contract never removes a meter, and a deleted item's values are refused from then on)."""
        with self.store.connect() as conn:
            target = self.store.record(conn, code, "collect_item", rec["natural_key"])
            processes = {r["natural_key"] for r in self.store.records(conn, code, ("process",))}
        if target is None:
            return
        item = self._item(target["body"], processes)
        if item.kind == "meter":
            row = self._meter_row(code, item, None)
            self._load(
                code,
                "meters",
                [(1, row)],
                [],
                f"metering/{rec['natural_key']}/deleted",
                extra=f"metering-deleted:{rec['data_index']}",
                raw=[canonical(rec["body"]).decode()],
            )

    # ------------------------------------------------------------ data upload

    def _versions(self, body: dict) -> list[str]:
        reg = body.get("regVersion")
        if reg not in (None, "") and str(reg) not in self.settings.accepted_reg_versions:
            raise ProtocolError(
                RC["bad_request"], f"regVersion {reg} is not supported (this platform: {self.settings.reg_version})"
            )
        dic = body.get("dicVersion")
        current = codes.dictionary_version()
        if dic not in (None, "") and str(dic) != current:
            return [f"dicVersion {dic} is not the current {current}: download the dictionaries again"]
        return []

    def items(self, code: str) -> dict[str, mapping.Item]:
        with self.store.connect() as conn:
            recs = self.store.records(conn, code, ("collect_item", "metering", "process"))
        processes = {r["natural_key"] for r in recs if r["kind"] == "process"}
        metering = {r["natural_key"]: r["body"] for r in recs if r["kind"] == "metering"}
        out = {}
        for r in recs:
            if r["kind"] != "collect_item" or r["status"] != "active":
                continue
            try:
                item = mapping.configure_item(r["body"], processes)
            except mapping.ConfigError:
                continue  # refused when it was configured; its values are refused as unknown
            if item.kind == "meter" and r["natural_key"] in metering:
                calc = str(metering[r["natural_key"]].get("meteringCalculateType", "1"))
                spec = codes.protocol()["metering_calculate_types"].get(calc, {})
                item = replace(item, reading_type=spec.get("reading_type", "interval"))
            out[item.data_code] = item
        return out

    def _previous_economics(self, code: str):
        def lookup(month: str):
            with self.store.connect() as conn:
                row = conn.execute(
                    "SELECT gross_output_10k_yuan, value_added_10k_yuan FROM raw.economics WHERE enterprise_id = %s "
                    "AND month = %s ORDER BY sent_at DESC, batch_id DESC, row_number DESC LIMIT 1",
                    (code, month),
                ).fetchone()
            return None if row is None else {"gross_output_10k_yuan": row[0], "value_added_10k_yuan": row[1]}

        return lookup

    def data_upload(self, body: dict, code: str, base_url: str) -> dict:
        warnings = self._versions(body)
        records = body.get("data")
        if not isinstance(records, list):
            raise ProtocolError(RC["bad_request"], "data: a list of records is required")
        if len(records) > self.settings.max_records_per_message:
            raise ProtocolError(RC["too_large"], f"at most {self.settings.max_records_per_message} records per message")
        raws = [canonical(r).decode() for r in records]
        mapped = mapping.map_upload(
            code,
            body,
            records,
            self.items(code),
            raw_of=lambda r: canonical(r).decode(),
            previous_economics=self._previous_economics(code),
        )
        digest = hashlib.sha256(code.encode() + b"|" + canonical(records)).hexdigest()
        message_id = digest[:20]
        entities = sorted(
            set(mapped.rows) | set(mapped.rejects),
            key=("readings", "totals", "production", "economics").index,
        )
        status_of: dict[int, dict] = {}
        batches, already = [], True
        for entity in entities:
            result = self._load(
                code,
                entity,
                mapped.rows.get(entity, []),
                mapped.rejects.get(entity, []),
                f"dataUpload/{message_id}/{entity}",
                extra=digest,
                raw=raws,
                rows_in_identity=False,
            )
            already &= result.status == "skipped"
            batches.append({"entity": entity, "batchId": result.batch_id, "status": result.status})
            for p in self._problems(result):
                status_of[p["index"]] = p
        results, counts = [], {"loaded": 0, "rejected": 0, "duplicate": 0}
        for index, rec in enumerate(records, start=1):
            verdict = status_of.get(mapped.merged.get(index, index), {"status": "loaded"})
            counts[verdict["status"]] += 1
            entry = {"index": index, "dataCode": rec.get("dataCode") if isinstance(rec, dict) else None, **verdict}
            entry["index"] = index
            results.append(entry)
        if mapped.unknown_fields:
            warnings.append(f"fields not in the protocol were ignored: {', '.join(sorted(mapped.unknown_fields))}")
        return {
            "messageId": message_id,
            "received": len(records),
            **counts,
            "alreadyLoaded": bool(entities) and already,
            "batches": batches,
            "results": results,
            "warnings": warnings,
        }

    # ------------------------------------------------------------ loading (the file feeds' loader)

    def _load(
        self,
        code: str,
        entity: str,
        rows: list[tuple[int, dict]],
        rejects: list[dict],
        source_name: str,
        *,
        extra: str,
        raw: list[str],
        before_commit=None,
        rows_in_identity: bool = True,
    ):
        fields = contract_entity(entity).field_names
        parsed = parse_records([r for _, r in rows], fields)
        indices = [i for i, _ in rows]
        frame = parsed.frame.with_columns(
            pl.Series(ROW, indices, dtype=pl.Int32),
            pl.Series("raw_row", [raw[i - 1] if i - 1 < len(raw) else None for i in indices], dtype=pl.String),
        )
        for rej in parsed.rejects:  # cannot happen for mapped rows; kept so that counts always add up
            rej["row_number"] = indices[rej["row_number"] - 1]
        batch = Parsed(frame, len(rows) + len(rejects), [*rejects, *parsed.rejects], list(fields))
        content = {"rows": rows, "rejects": rejects} if rows_in_identity else {}
        identity = canonical({"entity": entity, "enterprise": code, "extra": extra, **content})
        with self.loads:
            result = load_parsed(
                self.url,
                batch,
                entity_name=entity,
                source="push",
                source_name=source_name,
                sha256=hashlib.sha256(identity).hexdigest(),
                size_bytes=len(identity),
                owner=code,
                reference=self.reference,
                before_commit=before_commit,
            )
        if result.status == "skipped":
            with self.store.connect() as conn:
                row = conn.execute(
                    "SELECT batch_id FROM audit.ingest_batches WHERE source = 'push' AND content_sha256 = %s",
                    (result.sha256,),
                ).fetchone()
            result.batch_id = row[0] if row else None
        return result

    def _problems(self, result) -> list[dict]:
        """Per-record verdicts of a batch that did not load: from quarantine, as `iem errors` shows them."""
        if result.batch_id is None:
            return []
        if result.status == "loaded" and not result.rows_quarantined and not result.rows_duplicate:
            return []
        with self.store.connect() as conn:
            rejected = conn.execute(
                "SELECT row_number, field, value, reason FROM quarantine.rejected_rows WHERE batch_id = %s",
                (result.batch_id,),
            ).fetchall()
            duplicates = conn.execute(
                "SELECT row_number, first_row_number FROM quarantine.duplicate_rows WHERE batch_id = %s",
                (result.batch_id,),
            ).fetchall()
        out = [{"index": r, "status": "rejected", "field": f, "value": v, "reason": why} for r, f, v, why in rejected]
        out += [
            {"index": r, "status": "duplicate", "reason": f"exact duplicate of record {first}"}
            for r, first in duplicates
        ]
        return out


# ---------------------------------------------------------------- ASGI application


def create_app(
    url: str,
    *,
    sealing_key: bytes,
    settings: codes.ServiceSettings | None = None,
    max_concurrent_loads: int = 4,
) -> Starlette:
    """The service over the warehouse at `url` (schemas bootstrapped by the caller)."""
    settings = settings or codes.ServiceSettings.from_env()
    with psycopg.connect(url) as conn:  # created by the warehouse bootstrap (the service has no DDL rights)
        if conn.execute("SELECT to_regclass('audit.access_end_accounts')").fetchone() == (None,):
            raise RuntimeError("audit.access_end_* are missing: bootstrap the warehouse first (any iem command does)")
    service = Service(
        url, settings, Store(url, Sealer(sealing_key), pool_size=max_concurrent_loads + 4), max_concurrent_loads
    )
    per_enterprise = RateLimiter(settings.rate_per_second, settings.rate_burst)
    per_address = RateLimiter(settings.anonymous_rate_per_second, settings.anonymous_burst)
    configuration = codes.protocol()["endpoints"]["configuration"]

    async def read_body(request: Request) -> dict:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise ProtocolError(RC["too_large"], f"request larger than {settings.max_body_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise ProtocolError(RC["too_large"], f"request larger than {settings.max_body_bytes} bytes")
            chunks.append(chunk)
        try:  # decimals kept as written (no binary floating point between the meter and the warehouse)
            body = json.loads((b"".join(chunks) or b"null").decode("utf-8"), parse_float=str)
        except (UnicodeDecodeError, ValueError):
            raise ProtocolError(RC["bad_request"], "the body is not valid JSON (UTF-8)") from None
        if not isinstance(body, dict):
            raise ProtocolError(RC["bad_request"], "the body is a JSON object")
        return body

    async def handle(request: Request) -> Response:
        t0 = time.perf_counter()
        path = request.path_params["path"].strip("/")
        base_url = str(request.base_url)
        who, status = None, 500
        try:
            if path in service.anonymous:
                ok, wait = per_address.allow(request.client.host if request.client else "?")
                if not ok:
                    raise ProtocolError(RC["rate_limited"], f"too many requests: retry in {wait:.1f} s")
                body = await read_body(request)
                data = await run_in_threadpool(service.anonymous[path], body, base_url)
                who = body.get("enterpriseCode")
                status, message, warnings = RC["ok"], "success", list[str]()
            else:
                kind_action = path.rsplit("/", 1)
                handler = service.authenticated.get(path)
                is_config = (
                    len(kind_action) == 2
                    and kind_action[0] in configuration.values()
                    and kind_action[1] in ("add", "update", "delete")
                )
                if handler is None and not is_config:
                    raise ProtocolError(RC["not_found"], f"no such interface: {path}")
                auth = request.headers.get("authorization", "")
                if not auth.lower().startswith("bearer ") or not auth[7:].strip():
                    raise ProtocolError(RC["unauthorized"], "Authorization: Bearer <token> is required (requestAK)")
                who, why = await run_in_threadpool(service.store.token_owner, auth[7:].strip())
                if who is None:
                    raise ProtocolError(RC["unauthorized"], why or "token refused")
                ok, wait = per_enterprise.allow(who)
                if not ok:
                    raise ProtocolError(
                        RC["rate_limited"], f"too many requests for this enterprise: retry in {wait:.1f} s"
                    )
                body = await read_body(request)
                if body.get("enterpriseCode") not in (None, who):
                    raise ProtocolError(
                        RC["forbidden"], "enterpriseCode is not the enterprise this token was issued to"
                    )
                if is_config:
                    kind = CONFIG_KINDS[kind_action[0]]
                    data, warnings = await run_in_threadpool(service.configure, kind, kind_action[1], body, who)
                else:
                    data = await run_in_threadpool(handler, body, who, base_url)  # type: ignore[arg-type]
                    warnings = data.pop("warnings", []) if isinstance(data, dict) else []
                status, message = RC["ok"], "success"
            if warnings:
                data = {**data, "warnings": warnings}
            return _answer(status, message, data)
        except ProtocolError as exc:
            status = exc.status
            response = _answer(exc.status, exc.message, exc.data)
            if exc.status == RC["rate_limited"]:
                response.headers["Retry-After"] = "1"
            return response
        except Exception:
            log.exception("access-end %s failed", path)
            return _answer(500, "internal error (logged on the platform)")
        finally:
            log.info(
                "POST /%s enterprise=%s status=%s %.1f ms", path, who or "-", status, (time.perf_counter() - t0) * 1000
            )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.store.close()

    return Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])], lifespan=lifespan)


def serve(
    url: str,
    *,
    host: str,
    port: int,
    sealing_key: bytes,
    settings=None,
    ssl_keyfile=None,
    ssl_certfile=None,
    log_level: str = "info",
) -> None:
    """Blocking: run the service under uvicorn (TLS when a key and certificate are given)."""
    import uvicorn

    app = create_app(url, sealing_key=sealing_key, settings=settings)
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_keyfile=ssl_keyfile,
        ssl_certfile=ssl_certfile,
        log_level=log_level,
        access_log=True,
        server_header=False,
    )
