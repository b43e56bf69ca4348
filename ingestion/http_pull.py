"""HTTP pull from enterprises' energy-centre APIs (DESIGN §4).

Each endpoint in `$IEM_HOME/endpoints.yaml` belongs to one enterprise and answers
`GET <base>/<entity>?after=<cursor>&limit=N` with a bearer token, as
`{"items": [...], "next_cursor": "..."}`: next_cursor is the position after the page's last item,
and an empty page means the client is caught up (it asks again from the same cursor next time). A page
is loaded like a file (same validation, ledger and quarantine; rows of another enterprise are rejected)
and the endpoint's cursor advances in the same transaction, so a page is loaded exactly once even if the
process dies between fetch and commit.
Timeouts, 5xx answers, broken connections and truncated JSON are retried with exponential backoff
(tenacity); a page that still fails stops that endpoint for this run with the error recorded.

endpoints.yaml:
    endpoints:
      - name: hebei-steel-1                  # unique; used in the ledger and the cursor table
        enterprise_id: 91130100MA0A1B2C3X
        base_url: http://127.0.0.1:8765
        token_env: IEM_TOKEN_HEBEI_STEEL_1   # name of the environment variable holding the token
        entities: [enterprises, meters, readings]   # default: [readings]
        page_size: 5000
        timeout_seconds: 10
        max_attempts: 5
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests
import yaml
from stdnum.cn import uscc
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from . import contract
from .loader import BatchResult, IngestSummary, ingest_records


class ConfigError(ValueError):
    pass


class TransientError(Exception):
    """A failure worth retrying: timeout, connection error, 5xx, truncated or invalid JSON."""


@dataclass
class Endpoint:
    name: str
    enterprise_id: str
    base_url: str
    token_env: str
    entities: list[str] = field(default_factory=lambda: ["readings"])
    page_size: int = 5000
    timeout_seconds: float = 10.0
    max_attempts: int = 5


def load_endpoints(path: Path) -> list[Endpoint]:
    if not path.exists():
        raise ConfigError(f"{path}: no endpoints file")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = doc.get("endpoints")
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a list under 'endpoints'")
    out, names = [], set()
    for i, raw in enumerate(items, start=1):
        where = f"{path}: endpoint #{i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: not a mapping")
        missing = [k for k in ("name", "enterprise_id", "base_url", "token_env") if not raw.get(k)]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}")
        unknown = set(raw) - set(Endpoint.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        ep = Endpoint(**raw)
        if not uscc.is_valid(ep.enterprise_id):
            raise ConfigError(
                f"{where} ({ep.name}): enterprise_id {ep.enterprise_id!r} is not a valid 统一社会信用代码"
            )
        bad = [e for e in ep.entities if e not in contract.ENTITIES]
        if bad:
            raise ConfigError(f"{where} ({ep.name}): unknown entities {bad}")
        if ep.name in names:
            raise ConfigError(f"{where}: duplicate name {ep.name!r}")
        names.add(ep.name)
        ep.entities = sorted(ep.entities, key=contract.LOAD_ORDER.__getitem__)  # registries first (names checked above)
        out.append(ep)
    return out


def _cursor(url: str, ep: Endpoint, entity: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT cursor FROM audit.pull_cursors WHERE endpoint_name = %s AND entity = %s", (ep.name, entity)
        ).fetchone()
    return row[0] if row else None


def _record_error(url: str, ep: Endpoint, entity: str, message: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO audit.pull_cursors (endpoint_name, entity, enterprise_id, last_error, last_error_at) "
            "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (endpoint_name, entity) "
            "DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at",
            (ep.name, entity, ep.enterprise_id, message[:2000]),
        )


def fetch_page(session: requests.Session, ep: Endpoint, entity: str, cursor: str | None, token: str) -> dict:
    params: dict[str, str | int] = {"limit": ep.page_size}
    if cursor:
        params["after"] = cursor
    try:
        resp = session.get(
            f"{ep.base_url.rstrip('/')}/{entity}",
            params=params,
            timeout=ep.timeout_seconds,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    if resp.status_code >= 500 or resp.status_code == 429:
        raise TransientError(f"HTTP {resp.status_code}")
    if resp.status_code != 200:
        raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:200]}")
    try:
        body = resp.json()
    except ValueError as exc:  # truncated or invalid JSON
        raise TransientError(f"invalid JSON ({len(resp.content)} bytes): {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise TransientError("answer is not an object with an 'items' list")
    return body


def pull_endpoint(
    url: str, ep: Endpoint, summary: IngestSummary, *, session: requests.Session | None = None, max_pages: int = 100_000
) -> None:
    token = os.environ.get(ep.token_env)
    if not token:
        for entity in ep.entities:
            _record_error(url, ep, entity, f"environment variable {ep.token_env} is not set")
        summary.add(BatchResult(ep.name, None, "failed", message=f"environment variable {ep.token_env} is not set"))
        return
    session = session or requests.Session()
    for entity in ep.entities:
        cursor = _cursor(url, ep, entity)
        for _ in range(max_pages):
            try:
                for attempt in Retrying(
                    stop=stop_after_attempt(ep.max_attempts),
                    wait=wait_exponential(multiplier=0.05, max=2),
                    retry=retry_if_exception_type(TransientError),
                    reraise=True,
                ):
                    with attempt:
                        body = fetch_page(session, ep, entity, cursor, token)
            except Exception as exc:  # noqa: BLE001 - recorded and reported; the next run resumes here
                _record_error(url, ep, entity, f"{type(exc).__name__}: {exc}")
                summary.add(BatchResult(f"{ep.name}/{entity}", entity, "failed", message=str(exc)))
                break
            items, next_cursor = body["items"], body.get("next_cursor")
            if not items:
                break

            def advance(conn: psycopg.Connection, batch_id: int, _next=next_cursor, _entity=entity) -> None:
                conn.execute(
                    "INSERT INTO audit.pull_cursors (endpoint_name, entity, enterprise_id, cursor, last_batch_id, "
                    "last_success_at, last_error) VALUES (%s, %s, %s, %s, %s, now(), NULL) "
                    "ON CONFLICT (endpoint_name, entity) DO UPDATE SET "
                    "cursor = COALESCE(EXCLUDED.cursor, audit.pull_cursors.cursor), "
                    "last_batch_id = EXCLUDED.last_batch_id, last_success_at = now(), last_error = NULL",
                    (ep.name, _entity, ep.enterprise_id, _next, batch_id),
                )

            result = ingest_records(
                url,
                items,
                entity_name=entity,
                source_name=f"{ep.name}/{entity}?after={cursor or ''}",
                owner=ep.enterprise_id,
                before_commit=advance,
            )
            summary.add(result)
            if not next_cursor:
                _record_error(
                    url,
                    ep,
                    entity,
                    "answer had items but no next_cursor: the cursor was kept, "
                    "so this page will be asked for again (contract violation)",
                )
                break
            if next_cursor == cursor:
                break
            cursor = next_cursor


def pull_all(url: str, endpoints_file: Path) -> IngestSummary:
    summary = IngestSummary()
    with requests.Session() as session:
        for ep in load_endpoints(endpoints_file):
            pull_endpoint(url, ep, summary, session=session)
    return summary
