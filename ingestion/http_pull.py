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
        timeout_seconds: 10                  # per page, whole answer included (a trickle is cut off)
        max_attempts: 5
        max_page_bytes: 67108864             # a bigger answer is refused (64 MiB)
        max_pages: 10000                     # per entity and run

Limits: an answer is read in chunks and cut off at max_page_bytes or after timeout_seconds
in total; a cursor seen before in the same run (a cycle) stops the endpoint; redirects are followed
only to the same origin (scheme, host, port); the token never appears in anything recorded or printed.
Every page that fails is a failed batch in audit.ingest_batches and the error in audit.pull_cursors.
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


class PageRefused(RuntimeError):
    """An answer the client will not take (too big, too slow, redirected elsewhere, bad cursor)."""


MAX_REDIRECTS = 5
MAX_CURSOR_CHARS = 1000


def redact(text: str, token: str | None) -> str:
    """`text` with the bearer token (and any `Bearer …` credential) blotted out."""
    import re

    if token:
        text = text.replace(token, "***")
    return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+", r"\1***", text)


def _origin(url: str) -> tuple[str, str, int | None]:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return (u.scheme.lower(), (u.hostname or "").lower(), u.port or {"http": 80, "https": 443}.get(u.scheme.lower()))


def _read_limited(resp: requests.Response, ep: Endpoint, started: float) -> bytes:
    import time

    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > ep.max_page_bytes:
        raise PageRefused(f"answer of {declared} bytes is larger than max_page_bytes ({ep.max_page_bytes})")
    buf = bytearray()
    raw = resp.raw
    raw.decode_content = True
    # read1: whatever has arrived (at least a byte), so a trickle meets the deadline between bytes, and
    # the socket timeout (timeout_seconds) bounds each wait
    while chunk := raw.read1(65536):
        buf += chunk
        if len(buf) > ep.max_page_bytes:
            raise PageRefused(f"answer is larger than max_page_bytes ({ep.max_page_bytes}): cut off")
        if time.monotonic() - started > ep.timeout_seconds:
            raise TransientError(f"answer took longer than timeout_seconds ({ep.timeout_seconds:g} s): cut off")
    return bytes(buf)


def valid_cursor(cursor) -> str | None:
    """Why a next_cursor cannot be stored and sent back, or None."""
    if cursor is None:
        return None
    if not isinstance(cursor, str):
        return f"next_cursor is not a string ({type(cursor).__name__})"
    if len(cursor) > MAX_CURSOR_CHARS:
        return f"next_cursor has {len(cursor)} characters (at most {MAX_CURSOR_CHARS})"
    if any(ord(ch) < 32 for ch in cursor):
        return "next_cursor holds control characters (NUL or others)"
    return None


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
    max_page_bytes: int = 64 * 1024 * 1024
    max_pages: int = 10_000


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
    import time

    import orjson

    params: dict[str, str | int] = {"limit": ep.page_size}
    if cursor:
        params["after"] = cursor
    url = f"{ep.base_url.rstrip('/')}/{entity}"
    origin = _origin(url)
    started = time.monotonic()
    for _ in range(MAX_REDIRECTS + 1):
        try:
            resp = session.get(
                url,
                params=params,
                timeout=ep.timeout_seconds,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                allow_redirects=False,
                stream=True,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        with resp:
            if resp.is_redirect:
                location = requests.compat.urljoin(resp.url, resp.headers.get("Location", ""))
                if _origin(location) != origin:
                    raise PageRefused(
                        f"HTTP {resp.status_code} redirect to another origin refused "
                        f"({_origin(location)[0]}://{_origin(location)[1]}): the token is only sent to {ep.base_url}"
                    )
                url, params = location, {}  # the Location carries its own query
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                raise TransientError(f"HTTP {resp.status_code}")
            content = _read_limited(resp, ep, started)
            if resp.status_code != 200:
                raise RuntimeError(f"HTTP {resp.status_code}: {content[:200].decode('utf-8', 'replace')}")
            break
    else:
        raise PageRefused(f"more than {MAX_REDIRECTS} redirects")
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:  # truncated or invalid JSON
        raise TransientError(f"invalid JSON ({len(content)} bytes): {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise TransientError("answer is not an object with an 'items' list")
    return body


def _page_failed(url: str, ep: Endpoint, entity: str, cursor: str | None, message: str, summary: IngestSummary):
    """Record a page that could not be loaded: the cursor's last_error and a failed batch."""
    from .loader import record_failure, sha256_of

    source_name = f"{ep.name}/{entity}?after={cursor or ''}"
    _record_error(url, ep, entity, message)
    summary.add(
        record_failure(
            url,
            source="http",
            source_name=source_name,
            entity_name=entity,
            sha256=sha256_of(f"{source_name} {message}".encode()),
            size_bytes=0,
            owner=ep.enterprise_id,
            reason=message,
        )
    )


def pull_endpoint(
    url: str,
    ep: Endpoint,
    summary: IngestSummary,
    *,
    session: requests.Session | None = None,
    max_pages: int | None = None,
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
        seen = {cursor}
        for _ in range(max_pages or ep.max_pages):
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
                _page_failed(url, ep, entity, cursor, redact(f"{type(exc).__name__}: {exc}", token), summary)
                break
            items, next_cursor = body["items"], body.get("next_cursor")
            if not items:
                break
            bad_cursor = valid_cursor(next_cursor)
            if bad_cursor is None and next_cursor is not None and next_cursor != cursor and next_cursor in seen:
                bad_cursor = f"next_cursor {next_cursor!r} was already seen in this run: the cursors cycle"
            if bad_cursor:
                _page_failed(url, ep, entity, cursor, redact(f"{bad_cursor}; the page was not loaded", token), summary)
                break
            seen.add(next_cursor)

            def advance(conn: psycopg.Connection, batch_id: int, _next=next_cursor, _entity=entity) -> None:
                conn.execute(
                    "INSERT INTO audit.pull_cursors (endpoint_name, entity, enterprise_id, cursor, last_batch_id, "
                    "last_success_at, last_error) VALUES (%s, %s, %s, %s, %s, now(), NULL) "
                    "ON CONFLICT (endpoint_name, entity) DO UPDATE SET "
                    "cursor = COALESCE(EXCLUDED.cursor, audit.pull_cursors.cursor), "
                    "last_batch_id = EXCLUDED.last_batch_id, last_success_at = now(), last_error = NULL",
                    (ep.name, _entity, ep.enterprise_id, _next, batch_id),
                )

            try:
                result = ingest_records(
                    url,
                    items,
                    entity_name=entity,
                    source_name=f"{ep.name}/{entity}?after={cursor or ''}",
                    owner=ep.enterprise_id,
                    before_commit=advance,
                )
            except psycopg.OperationalError:
                raise
            except Exception as exc:  # noqa: BLE001 - a page the loader cannot take: recorded, endpoint stops
                _page_failed(url, ep, entity, cursor, redact(f"{type(exc).__name__}: {exc}", token), summary)
                break
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
    from .loader import revalidate_waiting

    summary = IngestSummary()
    with requests.Session() as session:
        for ep in load_endpoints(endpoints_file):
            pull_endpoint(url, ep, summary, session=session)
    if any(b.status == "loaded" and b.entity in contract.REGISTRIES and b.rows_loaded for b in summary.batches):
        for result in revalidate_waiting(url):  # rows that waited for the registry just pulled
            summary.add(result)
    return summary
