"""The hostile and careless inputs the platform must survive, as files of one enterprise (the "victim" V, the one
sending them) and as HTTP answers of V's energy centre. Each case names what the platform must do
with it: a failed batch with a reason, or rows rejected with a reason (file, row, field, reason).

Every case is written for V only: whatever it does, no other enterprise's marts or export may move.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HEADER = "enterprise_id,meter_id,period_start,period_end,value,unit,quality,sent_at"


@dataclass
class Case:
    name: str
    file: str  # path under the landing root (may hold bytes that are not UTF-8: see os.fsdecode)
    expect: str  # failed | rejected | loaded
    reason: str  # words the failure or every rejection reason contains
    rows: int = 0  # data rows in the file (for "rejected": how many are rejected)
    content: bytes = b""
    extra: dict = field(default_factory=dict)


def _line(v: str, meter: str, start: str, end: str, value: str, unit: str = "kWh", sent: str | None = None) -> str:
    return f"{v},{meter},{start},{end},{value},{unit},measured,{sent or end}"


def file_cases(v: str, other: str, other_name: str) -> list[Case]:
    """The file-drop cases. `other` is an enterprise of another region whose data V tries to reach."""
    a, b = "2026-01-10T00:00:00+08:00", "2026-01-10T00:15:00+08:00"  # a quarter hour V really reports
    cases = [
        Case(
            "future_after_the_clock",
            f"{v}/readings_future.csv",
            "rejected",
            "in the future",
            2,
            (
                HEADER
                + "\n"
                + _line(v, "EL-02", "2030-01-10T00:00:00+08:00", "2030-01-10T00:15:00+08:00", "5")
                + "\n"
                # a year typo: 2062 for 2026 (would have grown every meter's grid by ~36 years)
                + _line(v, "EL-02", "2062-01-10T00:00:00+08:00", "2062-01-10T00:15:00+08:00", "5")
                + "\n"
            ).encode(),
        ),
        Case(
            "ends_after_it_was_sent",
            f"{v}/readings_early.csv",
            "rejected",
            "later than sent_at",
            1,
            (
                HEADER
                + "\n"
                + _line(v, "EL-02", "2026-01-31T00:00:00+08:00", "2026-01-31T00:15:00+08:00", "5", sent=a)
                + "\n"
            ).encode(),
        ),
        Case(
            "nul_bytes_in_rows",
            f"{v}/readings_nul.csv",
            "rejected",
            "NUL byte",
            2,
            (
                HEADER + "\n" + _line(v, "EL-02", a, b, "1\x002") + "\n" + _line(v, "EL\x00-02", a, b, "3") + "\n"
            ).encode(),
        ),
        Case(
            "binary_file",
            f"{v}/readings_binary.csv",
            "failed",
            "binary data",
            content=bytes(range(256)) * 64,
        ),
        Case(
            "utf16_unicode_text_export",
            f"{v}/readings_unicode.csv",
            "failed",
            "UTF-16",
            content=b"\xff\xfe" + (HEADER + "\r\n" + _line(v, "EL-02", a, b, "1") + "\r\n").encode("utf-16-le"),
        ),
        Case(
            "xlsx_renamed_csv",
            f"{v}/readings_workbook.csv",
            "failed",
            "ZIP archive",
            content=b"PK\x03\x04\x14\x00\x06\x00" + os.urandom(2000),
        ),
        Case(
            "gzip_bomb_renamed_csv",
            f"{v}/readings_packed.csv",
            "failed",
            "gzip",
            content=gzip.compress(b"0" * 1_000_000),
        ),
        Case(
            "value_1e25_and_beyond_plausible",
            f"{v}/readings_huge.csv",
            "rejected",
            "plausib",
            2,
            (
                HEADER
                + "\n"
                + _line(v, "EL-02", a, b, "1e25")  # would crash the export's decimal formatting
                + "\n"
                # 6e12 kWh × multiplier 80 in 15 minutes: beyond the electricity bound (1e12 kWh)
                + _line(v, "EL-02", a, b, "6e12")
                + "\n"
            ).encode(),
        ),
        Case(
            "duplicate_malformed_rows",
            f"{v}/readings_dupmalformed.csv",
            "rejected",
            "date-time",
            2,
            (HEADER + "\n" + (_line(v, "EL-02", a, "2026-13-45T99:00:00+08:00", "1") + "\n") * 2).encode(),
        ),
        Case(
            "header_over_131072_characters",
            f"{v}/readings_longheader.csv",
            "rejected",
            "header line has",
            1,
            (HEADER + "," + "x" * 140_000 + "\n" + _line(v, "EL-02", a, b, "1") + "\n").encode(),
        ),
        Case(
            "header_of_a_million_columns",
            f"{v}/readings_wide.csv",
            "rejected",
            "header line has",
            1,
            (",".join(["a"] * 1_000_000) + "\n" + _line(v, "EL-02", a, b, "1") + "\n").encode(),
        ),
        Case(
            "bare_carriage_return_in_header",
            f"{v}/readings_cr.csv",
            "rejected",
            "not valid CSV",
            1,
            (
                "enterprise_id,meter_id\r,period_start,period_end,value,unit,quality,sent_at\n"
                + _line(v, "EL-02", a, b, "1")
                + "\n"
            ).encode(),
        ),
        Case(
            "offsets_and_year_zero",
            f"{v}/readings_offsets.csv",
            "rejected",
            "",  # two reasons: the offset and the year
            2,
            (
                HEADER
                + "\n"
                + _line(v, "EL-02", "2026-01-10T00:00:00+20:00", "2026-01-10T00:15:00+20:00", "1", sent=b)
                + "\n"
                + _line(v, "EL-02", "0000-01-10T00:00:00+08:00", "0000-01-10T00:15:00+08:00", "1", sent=b)
                + "\n"
            ).encode(),
            extra={"reasons": ["UTC offset beyond", "year outside"]},
        ),
        Case(
            "value_of_a_megabyte",
            f"{v}/readings_bigvalue.csv",
            "rejected",
            "not a number",
            1,
            (HEADER + "\n" + _line(v, "EL-02", a, b, "9" * 1_000_000 + "x") + "\n").encode(),
        ),
        Case(
            "rows_claiming_another_enterprise",
            f"{v}/readings_other.csv",
            "rejected",
            "belongs to another enterprise",
            1,
            (HEADER + "\n" + _line(other, "EL-01", a, b, "999") + "\n").encode(),
        ),
        Case(
            "another_enterprises_folder_inside_mine",
            f"{v}/{other}/readings_bypass.csv",
            "failed",
            "first folder under the landing root",
            content=(HEADER + "\n" + _line(other, "EL-01", a, b, "999999") + "\n").encode(),
        ),
        Case(
            "file_name_not_utf8",
            os.fsdecode(f"{v}/readings_".encode() + "报表".encode("gb18030") + b".csv"),
            "rejected",
            "not a number",
            1,
            (HEADER + "\n" + _line(v, "EL-02", a, b, "n/a") + "\n").encode(),
            extra={"stored_name": f"{v}/readings_报表.csv"},
        ),
        Case(
            "readings_before_their_meter",
            f"{v}/readings_newmeter.csv",
            "rejected",
            "unknown meter",
            3,
            (
                HEADER
                + "\n"
                + "\n".join(
                    _line(v, "NEW-01", f"2026-01-20T01:{m:02d}:00+08:00", f"2026-01-20T01:{m + 15:02d}:00+08:00", "100")
                    for m in (0, 15, 30)  # three consecutive quarter hours
                )
                + "\n"
            ).encode(),
        ),
    ]
    return cases


def gb18030_registry(v_row: str) -> Case:
    """V's own enterprise row, saved by Chinese Excel (GB18030): the name must load as written."""
    text = (
        "enterprise_id,name,region_code,industry_code,has_energy_centre,declared_tce,annual_target_tce,connected_since\n"
        + v_row
        + "\n"
    )
    return Case(
        "gb18030_registry", f"{v_row.split(',')[0]}/enterprises_gbk.csv", "loaded", "", 1, text.encode("gb18030")
    )


def late_meter_registry(v: str) -> Case:
    """The registry row the readings_before_their_meter case waited for (a later drop)."""
    text = (
        "enterprise_id,meter_id,energy_code,unit,reading_type,multiplier,register_max,direction,scope,rated_max\n"
        f"{v},NEW-01,electricity,kWh,interval,1,,in,boundary,1000\n"
    )
    return Case("late_meter_registry", f"{v}/meters_new.csv", "loaded", "", 1, text.encode())


def write(root: Path, cases: list[Case]) -> None:
    for case in cases:
        path = root / case.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.content)


# ---------------------------------------------------------------- V's energy centre, misbehaving

TOKEN = "s3cr3t-token-of-the-victim-0123456789"


@dataclass
class HttpCase:
    name: str
    path: str  # the endpoint's base path on the test server
    reason: str  # words of the recorded error
    settings: dict = field(default_factory=dict)


HTTP_CASES = [
    HttpCase("page_too_big", "big", "max_page_bytes", {"max_page_bytes": 100_000}),
    HttpCase("endless_body", "endless", "max_page_bytes", {"max_page_bytes": 200_000}),
    HttpCase("trickle_past_the_timeout", "trickle", "timeout_seconds", {"timeout_seconds": 1.0}),
    HttpCase("cursors_that_cycle", "cycle", "cycle", {}),
    HttpCase("redirect_to_another_host", "redirect", "another origin", {}),
    HttpCase("token_echoed_in_an_error", "echo", "HTTP 401", {}),
    HttpCase("nul_in_the_cursor", "nulcursor", "control characters", {}),
]


def serve(v: str, reading_line) -> tuple[ThreadingHTTPServer, int]:
    """A local HTTP server (127.0.0.1, a free port) answering as each misbehaving centre of HTTP_CASES.
    `reading_line(i)` gives the i-th valid reading object of V (a real quarter hour, values as sent)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _json(self, doc, status=200):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            kind = self.path.strip("/").split("/")[0]
            after = self.path.split("after=")[1].split("&")[0] if "after=" in self.path else ""
            if kind == "big":
                self._json({"items": [reading_line(0)] * 2000, "next_cursor": "1"})
            elif kind == "endless":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    self.wfile.write(b'{"items": [')
                    deadline = time.monotonic() + 20
                    while time.monotonic() < deadline:  # bounded: the client must cut it off long before
                        self.wfile.write(b" " * 65536)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif kind == "trickle":
                body = json.dumps({"items": [reading_line(0)], "next_cursor": "1"}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(min(len(body), 60)):  # bounded: 60 bytes at 0.1 s
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif kind == "cycle":
                nxt = {"": "A", "A": "B", "B": "A"}[after]
                self._json({"items": [reading_line({"": 1, "A": 2, "B": 3}[after])], "next_cursor": nxt})
            elif kind == "redirect":
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{self.server.server_port}/collect?stolen=1")
                self.end_headers()
            elif kind == "echo":
                self._json({"error": "bad token", "you_sent": self.headers.get("Authorization")}, status=401)
            elif kind == "nulcursor":
                self._json({"items": [reading_line(4)], "next_cursor": "abc\u0000def"})
            else:
                self._json({"items": []})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_port
