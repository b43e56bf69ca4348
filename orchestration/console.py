"""What a person reads while a stage-running command (`iem run`, `transform`, `export`, `evaluate`) works:
dbt's, Great Expectations' and Dagster's own logs go to a log file under $IEM_HOME/logs (on the terminal
only with --verbose), a progress line when a long step finishes or every half minute while one runs, and
at the end a summary that reads in ten seconds (`format_run_summary`)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

# dbt's progress line, e.g. "57 of 193 OK created sql table model marts.fct_alerts"
_DBT_NODE = re.compile(r"^(?:\S+\s+)?(\d+) of (\d+) (?:OK|PASS|WARN|ERROR|FAIL|SKIP|START)")

# the steps a person waits for, in the words of the run summary
STEP_NAMES = {
    "raw_feeds": "ingest: loading feed files",
    "dbt_warehouse": "transform: dbt build (staging, VEE, marts, dbt tests)",
    "forecasts": "transform: forecasts",
    "export__national_export": "export: national export",
    "dashboards__monthly_dashboards": "dashboards",
}
_QUIET_BELOW_SECONDS = 3.0  # a step shorter than this finishes without a line of its own
_RUNNING_EVERY_SECONDS = 30.0


def _step_name(step: str) -> str:
    if step in STEP_NAMES:
        return STEP_NAMES[step]
    if step.startswith("gx_") and step.endswith("_suite"):
        return f"check: Great Expectations {step[3:-6]} suite"
    return step


class Terminal:
    """Where progress lines go: the terminal's stderr, also while the command's own output is captured."""

    def __init__(self, stream: TextIO, started: float):
        self._stream = stream
        self._t0 = started
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        with self._lock:
            self._stream.write(f"[{time.perf_counter() - self._t0:5.0f} s] {message}\n")
            self._stream.flush()


@contextlib.contextmanager
def captured_output(log_path: Path | None) -> Iterator[Terminal]:
    """Send everything this process and its children write to stdout and stderr to `log_path` (file
    descriptors 1 and 2, so subprocess output and C-level writes land there too) and yield the `Terminal`
    that still reaches the person. Without a log path (--verbose) nothing is captured."""
    started = time.perf_counter()
    if log_path is None:
        yield Terminal(sys.stderr, started)
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal_stream = os.fdopen(os.dup(saved_err), "w", buffering=1, encoding="utf-8", errors="replace")
    with open(log_path, "ab") as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            yield Terminal(terminal_stream, started)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal_stream.close()


def _dbt_position(log_path: Path | None) -> tuple[int, int] | None:
    """The last "N of M" dbt wrote to the log (read from the file's last 64 KiB)."""
    if log_path is None or not log_path.exists():
        return None
    with open(log_path, "rb") as fh:
        fh.seek(max(0, fh.seek(0, os.SEEK_END) - 65536))
        tail = fh.read().decode("utf-8", errors="replace").splitlines()
    for line in reversed(tail):
        m = _DBT_NODE.match(line.strip())
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


class StepProgress(threading.Thread):
    """Follows one run in the Dagster instance and says when a long step finishes (or fails), and every
    half minute which step is running (with dbt's node count while dbt builds)."""

    def __init__(self, instance, run_id: str, terminal: Terminal, log_path: Path | None, poll_seconds: float = 1.0):
        super().__init__(name="iem-progress", daemon=True)
        self._instance, self._run_id, self._terminal, self._log_path = instance, run_id, terminal, log_path
        self._poll = poll_seconds
        self._done = threading.Event()
        self._step_started: dict[str, float] = {}
        self._step_ended: set[str] = set()
        self._last_running_note = 0.0

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)
        with contextlib.suppress(Exception):  # never fail a finished run for a progress line
            self._report()  # the steps that ended after the last poll

    def run(self) -> None:
        while not self._done.wait(self._poll):
            with contextlib.suppress(Exception):  # progress is a courtesy: never fail the command for it
                self._report()

    def _report(self) -> None:
        from dagster import DagsterEventType

        kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
        for entry in self._instance.all_logs(self._run_id, of_type=kinds):
            event = entry.dagster_event
            step = event.step_key
            if event.event_type == DagsterEventType.STEP_START:
                self._step_started.setdefault(step, entry.timestamp)
            elif step not in self._step_ended:
                self._step_ended.add(step)
                seconds = entry.timestamp - self._step_started.get(step, entry.timestamp)
                if event.event_type == DagsterEventType.STEP_FAILURE:
                    self._terminal.say(f"FAILED {_step_name(step)} after {seconds:.1f} s (details in the log)")
                elif seconds >= _QUIET_BELOW_SECONDS:
                    self._terminal.say(f"done   {_step_name(step)} in {seconds:.1f} s")
        running = [s for s in self._step_started if s not in self._step_ended]
        now = time.time()
        if running and now - self._last_running_note >= _RUNNING_EVERY_SECONDS:
            step = running[0]
            if now - self._step_started[step] >= _RUNNING_EVERY_SECONDS:
                self._last_running_note = now
                where = _dbt_position(self._log_path) if step == "dbt_warehouse" else None
                node = f", dbt node {where[0]} of {where[1]}" if where else ""
                self._terminal.say(f"...    {_step_name(step)}: {now - self._step_started[step]:.0f} s{node}")


@contextlib.contextmanager
def followed(instance, run_id: str, terminal: Terminal | None, log_path: Path | None) -> Iterator[None]:
    """Progress lines for the run `run_id` while the block runs (nothing when there is no terminal)."""
    if terminal is None:
        yield
        return
    progress = StepProgress(instance, run_id, terminal, log_path)
    progress.start()
    try:
        yield
    finally:
        progress.stop()


def _count(n: int | None) -> str:
    return f"{n or 0:,}"


def _total(by_family: dict[str, dict[str, int]]) -> int:
    return sum(sum(kinds.values()) for kinds in by_family.values())


def _by_kind(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def format_run_summary(summary: dict) -> str:
    """The summary of `iem run` a person reads in ten seconds: what was loaded and rejected (top reasons),
    what the checks found, which alerts the run opened and resolved, what went to the national system per
    region, and where the pages, the acceptance report, the error reports and the full log are."""
    lines = [f"iem run {summary['status'].upper()} for {summary['month']} in {summary['stage_seconds']['total']:.0f} s"]
    if summary.get("failed_steps"):
        lines.append(f"  failed steps:  {', '.join(summary['failed_steps'])} (see the log)")
    ingest = summary.get("ingest") or {}
    if ingest:
        lines.append(
            f"  loaded:        {_count(ingest.get('files'))} new files ({_count(ingest.get('files_skipped'))} already "
            f"loaded); {_count(ingest.get('rows_read'))} rows read = {_count(ingest.get('rows_loaded'))} loaded + "
            f"{_count(ingest.get('rows_quarantined'))} rejected + {_count(ingest.get('rows_duplicate'))} duplicates"
        )
    for reason in summary.get("rejected_reasons") or []:
        field = f" {reason['field']}" if reason.get("field") else ""
        lines.append(f"    {reason['rows']:,} × {reason['entity']}{field}: {reason['reason']}")
    if summary.get("rejected_reasons"):
        lines.append(
            "    (kept in quarantine.rejected_rows; an enterprise's own report: "
            "`iem errors --enterprise <统一社会信用代码>`)"
        )
    checks = summary.get("checks") or {}
    if checks:
        failed = f": {', '.join(summary['failed_checks'])}" if summary.get("failed_checks") else ""
        lines.append(
            f"  checks:        {checks.get('passed', 0)} passed, {checks.get('warned', 0)} warned, "
            f"{checks.get('failed', 0)} failed{failed}"
        )
    alerts = summary.get("alerts")
    if alerts:
        raised, resolved = alerts["raised"], alerts["resolved"]
        lines.append(
            f"  alerts:        {_total(raised)} raised by this run, {_total(resolved)} resolved; "
            f"{alerts['open']} open now" + (f" ({alerts['open_critical']} critical)" if alerts["open_critical"] else "")
        )
        for verb, by_family in (("raised", raised), ("resolved", resolved)):
            for family, kinds in by_family.items():
                lines.append(f"    {verb} {family} {sum(kinds.values())}: {_by_kind(kinds)}")
    export = summary.get("export") or {}
    if export:
        lines.append(f"  export {summary['month']}: {export.get('status')} → {summary['export_dir']}")
        if summary.get("export_v2_dir"):
            lines.append(f"    contract v2 (205-1, 205-3, CO2) → {summary['export_v2_dir']}")
        for region in export.get("regions") or []:
            failed = region.get("failed_checks") or []
            delivery = (region.get("delivery") or {}).get("status")
            v2 = region.get("v2") or {}
            lines.append(
                f"    {region['region_code']}: {region['status']}"
                + (f", revision {region['revision']}" if region.get("revision") is not None else "")
                + (f", delivery {delivery}" if delivery else "")
                + (f"; blocked by {', '.join(failed)}" if failed else "")
                + (f"; v2 {v2['status']}" if v2 else "")
                + (f", revision {v2['revision']}" if v2.get("revision") is not None else "")
                + (f" ({', '.join(v2['failed_checks'])})" if v2.get("failed_checks") and not failed else "")
            )
    lines.append(f"  dashboards:    {summary['dashboard_dir']}/index.html")
    lines.append(f"  acceptance:    {summary['dashboard_dir']}/acceptance.html")
    if summary.get("quality_docs"):
        lines.append(f"  quality docs:  {summary['quality_docs']}")
    if summary.get("log_file"):
        lines.append(f"  full log:      {summary['log_file']} (dbt, Great Expectations; `--verbose` prints it here)")
    lines.append(f"  Dagster UI:    run {summary['run_id']} (`make ui`)")
    return "\n".join(lines)


def log_file_for(logs: Path, command: str) -> Path:
    """$IEM_HOME/logs/<command>-<UTC time>.log"""
    return logs / f"{command}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
