"""Delivery of an export revision to the national system: a folder or an HTTP endpoint, with an
idempotency key and retries (tenacity); each attempt is recorded in audit.export_deliveries. A
revision already acknowledged is not sent again."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import cast

import psycopg
import requests
from psycopg import sql
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential


class DeliveryError(Exception):
    pass


def idempotency_key(region: str, month: date, revision: int, files: dict[str, bytes], contract: str = "v1") -> str:
    manifest = json.loads(files["manifest.json"])
    version = "" if contract == "v1" else f"{contract}-"
    return f"{region}-{month:%Y-%m}-{version}r{revision}-{manifest['content_sha256'][:16]}"


def deliver(
    conn: psycopg.Connection,
    destination: str,
    region: str,
    month: date,
    revision: int,
    files: dict[str, bytes],
    *,
    max_attempts: int = 5,
    contract: str = "v1",
) -> dict:
    """Contract v1: ledger audit.export_deliveries, folder <destination>/<YYYY-MM>/<region>/r<revision>/;
    contract v2: audit.export_v2_deliveries, <destination>/v2/<YYYY-MM>/<region>/r<revision>/, and the body
    names its schema version."""
    key = idempotency_key(region, month, revision, files, contract)
    table = sql.Identifier("audit", "export_deliveries" if contract == "v1" else f"export_{contract}_deliveries")
    done = conn.execute(
        sql.SQL(
            "select attempt, acknowledgement from {} where region_code = %s and "
            "month = %s and revision = %s and status = 'delivered'"
        ).format(table),
        (region, month, revision),
    ).fetchone()
    if done:
        return {"status": "already_delivered", "idempotency_key": key, "acknowledgement": done[1]}
    attempt_no = cast(
        "tuple",
        conn.execute(
            sql.SQL(
                "select coalesce(max(attempt), 0) from {} where region_code = %s and month = %s and revision = %s"
            ).format(table),
            (region, month, revision),
        ).fetchone(),
    )[0]

    def record(status, http_status=None, error=None, ack=None):
        nonlocal attempt_no
        attempt_no += 1
        conn.execute(
            sql.SQL(
                "insert into {} (region_code, month, revision, attempt, destination, "
                "idempotency_key, status, http_status, error, acknowledgement) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(table),
            (region, month, revision, attempt_no, destination, key, status, http_status, error, ack),
        )
        conn.commit()

    def once():
        if destination.startswith(("http://", "https://")):
            body = {
                "idempotency_key": key,
                "region_code": region,
                "month": f"{month:%Y-%m}",
                "revision": revision,
                **(
                    {} if contract == "v1" else {"schema_version": json.loads(files["manifest.json"])["schema_version"]}
                ),
                "files": {n: base64.b64encode(d).decode() for n, d in sorted(files.items())},
            }
            try:
                resp = requests.post(destination, json=body, headers={"Idempotency-Key": key}, timeout=30)
            except requests.RequestException as exc:
                record("failed", error=f"{type(exc).__name__}: {exc}")
                raise DeliveryError(str(exc)) from exc
            if resp.status_code >= 300:
                record("failed", http_status=resp.status_code, error=resp.text[:500])
                raise DeliveryError(f"HTTP {resp.status_code}")
            record("delivered", http_status=resp.status_code, ack=resp.text[:2000])
            return resp.text[:2000]
        root = Path(destination.removeprefix("file://")) / ("" if contract == "v1" else contract)
        folder = root / f"{month:%Y-%m}" / region / f"r{revision}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                (folder / name).write_bytes(data)
        except OSError as exc:
            record("failed", error=str(exc))
            raise DeliveryError(str(exc)) from exc
        record("delivered", ack=str(folder))
        return str(folder)

    try:
        for attempt in Retrying(
            stop=stop_after_attempt(max_attempts),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(DeliveryError),
            reraise=True,
        ):
            with attempt:
                ack = once()
    except DeliveryError as exc:
        return {"status": "failed", "idempotency_key": key, "attempts": attempt_no, "error": str(exc)}
    return {"status": "delivered", "idempotency_key": key, "attempts": attempt_no, "acknowledgement": ack}
