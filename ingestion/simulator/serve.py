"""`iem simulate --serve PORT`: the simulated feed as an enterprise energy-centre HTTP API (DESIGN §4).

GET /<entity>?after=<cursor>&limit=N with `Authorization: Bearer <token>` (token from the environment
variable named by token_env) answers {"items": [...], "next_cursor": "<position after the last item>"}.
Optional misbehaviour for tests: slowness, 500s and truncated JSON at given rates (deterministic)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from ..contract import ENTITIES, entity
from ..parse import parse_csv, parse_jsonl


def load_feed_records(folder: Path, enterprise_id: str | None = None) -> dict[str, list[dict]]:
    """Every valid-looking record of a simulated feed folder, per entity, as JSON objects (file order)."""
    out: dict[str, list[dict]] = {e: [] for e in ENTITIES}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        kind = path.name.split("_")[0].split(".")[0]
        if kind not in out:
            continue
        fields = entity(kind).field_names
        data = path.read_bytes()
        parsed = parse_jsonl(data, fields) if path.suffix == ".jsonl" else parse_csv(data, fields)
        for row in parsed.frame.drop("row_number", "raw_row").iter_rows(named=True):
            rec = {k: v for k, v in row.items() if v is not None}
            if enterprise_id and rec.get("enterprise_id") != enterprise_id:
                continue
            out[kind].append(rec)
    return out


def make_server(
    records: dict[str, list[dict]],
    port: int,
    *,
    token: str,
    slow_ms: int = 0,
    fail_rate: float = 0.0,
    truncate_rate: float = 0.0,
    slow_rate: float = 1.0,
    seed: int = 0,
) -> ThreadingHTTPServer:
    """An HTTP server over the records (port 0 picks a free port). Misbehaviour per request, drawn
    deterministically from the seed: 500 (fail_rate), truncated JSON (truncate_rate), and a delay of
    slow_ms (on a slow_rate share of requests)."""
    rng = np.random.default_rng(seed)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urlparse(self.path)
            name = url.path.strip("/")
            if self.headers.get("Authorization") != f"Bearer {token}":
                return self._send(401, {"error": "missing or wrong bearer token"})
            if name not in records:
                return self._send(404, {"error": f"unknown entity {name!r}"})
            q = parse_qs(url.query)
            try:
                after = int(q.get("after", ["0"])[0] or 0)
                limit = max(1, min(int(q.get("limit", ["1000"])[0]), 50_000))
            except ValueError:
                return self._send(400, {"error": "after and limit must be integers"})
            roll, slow_roll = rng.random(), rng.random()
            if slow_ms and slow_roll < slow_rate:
                time.sleep(slow_ms / 1000.0)
            if roll < fail_rate:
                return self._send(500, {"error": "simulated failure"})
            items = records[name][after : after + limit]
            body = json.dumps({"items": items, "next_cursor": str(after + len(items))}, ensure_ascii=False).encode()
            if roll < fail_rate + truncate_rate:
                body = body[: max(1, len(body) // 2)]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def serve(
    port: int,
    *,
    enterprises: int = 1,
    start: date = date(2026, 1, 1),
    days: int = 7,
    seed: int = 42,
    faults: str = "none",
    token_env: str = "IEM_SIM_TOKEN",  # noqa: S107 - the name of a variable, not a token
    slow_ms: int = 0,
    fail_rate: float = 0.0,
    truncate_rate: float = 0.0,
) -> None:
    """Blocking: simulate into a temporary folder, then serve it until interrupted."""
    from .core import simulate

    token = os.environ.get(token_env)
    if not token:
        raise ValueError(f"set the bearer token in the environment variable {token_env}")
    with tempfile.TemporaryDirectory(prefix="iem-sim-") as tmp:
        simulate(Path(tmp), enterprises=enterprises, start=start, days=days, seed=seed, faults=faults)
        server = make_server(
            load_feed_records(Path(tmp)),
            port,
            token=token,
            slow_ms=slow_ms,
            fail_rate=fail_rate,
            truncate_rate=truncate_rate,
            seed=seed,
        )
        print(f"serving the simulated feed on http://127.0.0.1:{port} (bearer token from {token_env})", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()
