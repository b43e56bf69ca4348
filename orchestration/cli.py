"""The `iem` command line (DESIGN §7: keep names and options stable).

`--json` prints one JSON object as the last line of stdout; human-readable progress goes to stderr.
The commands that run stages (`run`, `transform`, `export`, `evaluate`) execute a job of the one Dagster
asset graph in-process (orchestration/pipeline.py; the same graph the UI shows, recorded in the same
instance); single-purpose commands (`ingest`, `check`, `dashboard`, ...) call the libraries directly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import date, datetime
from pathlib import Path

log = logging.getLogger("iem")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _emit(args, obj: dict, human: str | None = None) -> None:
    if human:
        print(human, flush=True)
    if getattr(args, "json", False):
        print(json.dumps(obj, ensure_ascii=False, default=str), flush=True)


def _month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()  # noqa: DTZ007 - a calendar month, no time of day
    except ValueError:
        raise argparse.ArgumentTypeError(f"month must be YYYY-MM, got {text!r}") from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date must be YYYY-MM-DD, got {text!r}") from None


def _warehouse(stage: str | None = None) -> str:
    """The warehouse URI, bootstrapped; with `stage`, its sessions run as that stage's role."""
    from .database import bootstrap, database_url, stage_url

    url = database_url()
    bootstrap(url)
    return stage_url(url, stage) if stage else url


def _month_without_data(url: str, month) -> str | None:
    """Why `month` cannot be exported or shown (None when it can): it lies in the future (Asia/Shanghai),
    or the warehouse holds no enterprise data for it (naming the months it does hold)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import psycopg

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    if month > today.replace(day=1):
        return f"{month:%Y-%m} is in the future (today is {today:%Y-%m-%d}, Asia/Shanghai)"
    with psycopg.connect(url) as conn:
        first, last, present = conn.execute(
            "select min(month), max(month), bool_or(month = %s) from marts.fct_enterprise_monthly", (month,)
        ).fetchone()
    if present:
        return None
    held = (
        f"it holds {first:%Y-%m} … {last:%Y-%m}"
        if first
        else "it holds no month yet (run `iem run` or `iem transform`)"
    )
    return f"the warehouse has no enterprise data for {month:%Y-%m}: {held}"


def _log_path(args, command: str) -> Path | None:
    """Where a stage-running command's full log goes: $IEM_HOME/logs/<command>-<time>.log; None with
    --verbose (the log is printed as it comes)."""
    from .console import log_file_for
    from .settings import Paths

    return None if getattr(args, "verbose", False) else log_file_for(Paths.from_env().ensure().logs, command)


def _log_line(log_path: Path | None) -> str:
    return f"\nfull log: {log_path}" if log_path else ""


# ------------------------------------------------------------------ commands


def cmd_db(args) -> int:
    from .database import database_url, stop_embedded

    if args.action == "url":
        print(database_url())
        return 0
    if os.environ.get("IEM_DATABASE_URL"):
        _say("IEM_DATABASE_URL is set: the server is not managed by iem; nothing to stop")
        return 0
    stopped = stop_embedded()
    _say("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return 0


def cmd_serve(args) -> int:
    from ingestion.access_end.app import serve
    from ingestion.access_end.codes import ServiceSettings
    from ingestion.access_end.store import Sealer, Store

    from .settings import Paths

    url = _warehouse("loader")  # the service writes as the loader: raw, quarantine and audit, nothing else
    key = Paths.from_env().access_end_key()
    if args.enrol:
        store = Store(url, Sealer(key))
        for code in args.enrol.split(","):
            secret = store.enrol(code.strip(), "operator")
            # the operator hands each secretKey to its enterprise out of band; it is printed once, never logged
            print(
                f"{code.strip()}\t{secret if secret else '(already enrolled: the enterprise rotates its key with rwk)'}"
            )
        return 0
    settings = ServiceSettings.from_env(open_enrolment=args.open_enrolment or None)
    _say(f"access-end protocol service on {'https' if args.ssl_certfile else 'http'}://{args.host}:{args.port}/")
    serve(
        url,
        host=args.host,
        port=args.port,
        sealing_key=key,
        settings=settings,
        ssl_keyfile=args.ssl_keyfile,
        ssl_certfile=args.ssl_certfile,
    )
    return 0


def cmd_simulate(args) -> int:
    from ingestion.simulator import serve, simulate

    regions = args.regions.split(",") if args.regions else None
    if args.push:
        from ingestion.access_end.client import push_simulation

        from .settings import Paths

        summary = push_simulation(
            args.push,
            out_dir=Path(args.out) if args.out else None,
            credentials_file=Paths.from_env().home / "push-credentials.json",
            enterprises=args.enterprises,
            start=args.start,
            days=args.days,
            seed=args.seed,
            regions=regions,
            faults=args.faults,
            truth_path=Path(args.truth) if args.truth else None,
            history_months=args.history_months,
            meters_per_enterprise=args.meters_per_enterprise,
            progress=_say,
        )
        _emit(args, summary, f"pushed {summary['messages']} messages ({summary['records']} records) to {args.push}")
        return 0
    if args.serve:
        serve(
            args.serve,
            enterprises=args.enterprises,
            start=args.start,
            days=args.days,
            seed=args.seed,
            faults=args.faults,
        )
        return 0
    summary = simulate(
        Path(args.out or "feed"),
        enterprises=args.enterprises,
        start=args.start,
        days=args.days,
        seed=args.seed,
        regions=regions,
        faults=args.faults,
        truth_path=Path(args.truth) if args.truth else None,
        history_months=args.history_months,
        meters_per_enterprise=args.meters_per_enterprise,
    )
    _emit(args, summary, f"simulated feed written to {args.out or 'feed'}")
    return 0


def _ingest_summary_line(d: dict) -> str:
    return (
        f"files loaded {d['files']}, skipped {d['files_skipped']}, ignored {d['files_ignored']}; rows read "
        f"{d['rows_read']} = loaded {d['rows_loaded']} + quarantined {d['rows_quarantined']} + duplicate "
        f"{d['rows_duplicate']}"
    )


def cmd_ingest(args) -> int:
    from ingestion.loader import ingest_path

    url = _warehouse("loader")

    def progress(b):
        _say(
            f"  {b.source_name}: {b.status}"
            + (
                f" read {b.rows_read} loaded {b.rows_loaded} quarantined "
                f"{b.rows_quarantined} duplicate {b.rows_duplicate}"
                if b.status == "loaded"
                else f" ({b.message})"
            )
        )

    summary = ingest_path(url, Path(args.path), progress=progress).to_dict()
    for b in summary["batches"]:
        if b["status"] == "ignored":
            _say(f"  {b['source_name']}: ignored ({b['message']})")
    _emit(args, summary, _ingest_summary_line(summary))
    return 0


def cmd_pull(args) -> int:
    from ingestion.http_pull import pull_all

    from .settings import Paths

    url = _warehouse("loader")
    summary = pull_all(url, Paths.from_env().endpoints_file).to_dict()
    for b in summary["batches"]:
        if b["status"] == "failed":
            _say(f"  {b['source_name']}: FAILED ({b['message']})")
    _emit(
        args,
        summary,
        _ingest_summary_line(summary) + (f"; {summary['failures']} endpoint(s) failed" if summary["failures"] else ""),
    )
    return 1 if summary["failures"] else 0


def cmd_errors(args) -> int:
    from stdnum.cn import uscc

    from ingestion.reports import enterprise_is_known, write_error_report

    from .settings import Paths

    if not uscc.is_valid(args.enterprise):  # the id names the report file: never a path
        print(f"--enterprise {args.enterprise!r} is not a valid 统一社会信用代码 (credit code)", file=sys.stderr)
        return 2
    url = _warehouse("transformer")  # reads quarantine and audit, and the warehouse's VEE results and alerts
    if not enterprise_is_known(url, args.enterprise):
        _say(
            f"iem errors: {args.enterprise} is not in the registry and no feed of its own was loaded: "
            "check the credit code (no report written)"
        )
        return 2
    out = Path(args.out) if args.out else Paths.from_env().ensure().errors / f"{args.enterprise}.csv"
    result = write_error_report(url, args.enterprise, out)
    _emit(
        args,
        result,
        f"{result['rows']} rows ({result['rejected']} rejected, {result['duplicate']} duplicates, "
        f"{result['vee_rejected']} rejected by validation, {result['data_fault']} data-fault alerts; "
        f"{result['root_causes']} root causes first, {result['cascaded']} rows caused by them last) → {out}",
    )
    return 0


def cmd_onboard(args) -> int:
    from ingestion.onboarding import onboard

    result = onboard(Path(args.path))
    for f in result["findings"]:
        where = ", ".join(
            x
            for x in (f["file"], f"row {f['row']}" if f["row"] else None, f"field {f['field']}" if f["field"] else None)
            if x
        )
        _say(f"  [{f['severity']}] {where + ': ' if where else ''}{f['message']}")
    verdict = "ready for go-live" if result["ready"] else f"not ready: {result['blocking']} blocking finding(s)"
    _emit(args, result, f"{args.path}: {verdict}")
    return 0 if result["ready"] else 1


def cmd_bench(args) -> int:
    from benchmarks.ingest_throughput import run

    from .database import database_url

    result = run(database_url(), args.rows)
    _emit(
        args,
        result,
        f"{args.rows} rows: raw COPY {result['copy_rows_per_s']:,}/s, iem {result['iem_rows_per_s']:,}/s "
        f"({result['iem_vs_copy']}x COPY), pandas.to_sql {result['pandas_rows_per_s']:,}/s "
        f"(iem {result['iem_vs_pandas']}x pandas)",
    )
    return 0


def cmd_transform(args) -> int:
    from .console import captured_output
    from .pipeline import COMMAND_JOBS, execute_job

    _warehouse()
    t0 = time.perf_counter()
    log_path = _log_path(args, "transform")
    with captured_output(log_path) as terminal:
        run = execute_job(COMMAND_JOBS["transform"], terminal=terminal, log_path=log_path)
    out = {
        "status": run.status,
        "job": run.job,
        "run_id": run.run_id,
        "failed_steps": run.failed_steps,
        "seconds": round(time.perf_counter() - t0, 1),
        "checks": run.checks,
        "failed_checks": run.failed_checks,
        "forecasts": run.forecasts,
        "log_file": str(log_path) if log_path else None,
    }
    _emit(
        args,
        out,
        f"{run.job} {run.status}: checks {run.checks}\nforecasts: {run.forecasts}" + _log_line(log_path),
    )
    return 0 if run.success else 1


def cmd_check(args) -> int:
    from expectations import run_quality_gate

    from .console import captured_output
    from .settings import Paths

    url = _warehouse("transformer")
    paths = Paths.from_env().ensure()
    log_path = _log_path(args, "check")
    with captured_output(log_path):
        report = run_quality_gate(url, docs_dir=paths.quality)
    d = report.to_dict()
    for r in report.results:
        _say(
            f"  [{'ok' if r.success else 'FAIL'}] {r.severity:8} {r.layer:8} {r.name}"
            + (f" region {r.region_code}" if r.region_code else "")
        )
    blocking = report.blocking_failures()
    _emit(
        args,
        d,
        f"{len(report.results)} checks, {len(blocking)} blocking failures; Data Docs under {paths.quality}"
        + _log_line(log_path),
    )
    return 1 if blocking else 0


def cmd_export(args) -> int:
    from .pipeline import COMMAND_JOBS, execute_job
    from .settings import Paths

    url = _warehouse()
    why_not = _month_without_data(url, args.month)
    if why_not:
        _say(f"iem export: nothing exported: {why_not}")
        return 2
    from .console import captured_output

    paths = Paths.from_env().ensure()
    log_path = _log_path(args, "export")
    with captured_output(log_path) as terminal:
        run = execute_job(
            COMMAND_JOBS["export"], partition_key=args.month.isoformat(), terminal=terminal, log_path=log_path
        )
    if run.export is None:  # the gate or the export crashed before deciding any region
        failed = ", ".join(run.failed_steps) or "its run"
        _say(f"  {run.job} failed in {failed} (run {run.run_id})" + _log_line(log_path))
        return 2
    result = run.export
    for r in result["regions"]:
        _say(
            f"  {r['region_code']}: {r['status']} revision {r.get('revision')}"
            + (f" failed: {', '.join(r['failed_checks'])}" if r.get("failed_checks") else "")
            + (
                f"; contract v2: {r['v2']['status']} revision {r['v2'].get('revision')}"
                + (f" failed: {', '.join(r['v2']['failed_checks'])}" if r["v2"].get("failed_checks") else "")
                if "v2" in r and r["status"] != "blocked"
                else ""
            )
        )
    undelivered = [r["region_code"] for r in result["regions"] if r.get("delivery", {}).get("status") == "failed"]
    undelivered += [
        f"{r['region_code']} (v2)"
        for r in result["regions"]
        if r.get("v2", {}).get("delivery", {}).get("status") == "failed"
    ]
    if undelivered:
        _say(
            f"  delivery failed after retries for: {', '.join(undelivered)} (kept in the ledger; the next run retries)"
        )
    _emit(
        args,
        result,
        f"export {args.month:%Y-%m}: {result['status']} → {paths.outbox / f'{args.month:%Y-%m}'} "
        f"(contract v2: {paths.outbox / 'v2' / f'{args.month:%Y-%m}'})" + _log_line(log_path),
    )
    return 1 if result["status"] == "blocked" or undelivered else 0


def cmd_dashboard(args) -> int:
    from dashboards import render_month

    from .settings import Paths

    url = _warehouse("exporter")
    why_not = _month_without_data(url, args.month)
    if why_not:
        _say(f"iem dashboard: no pages written: {why_not}")
        return 2
    out = Paths.from_env().ensure().dashboards / f"{args.month:%Y-%m}"
    pages = render_month(url, args.month, out)
    _emit(
        args,
        {"month": f"{args.month:%Y-%m}", "pages": [str(p) for p in pages]},
        f"{len(pages)} dashboard pages under {out}",
    )
    return 0


def cmd_evaluate(args) -> int:
    from .console import captured_output
    from .database import database_url
    from .pipeline import evaluate

    log_path = _log_path(args, "evaluate")
    with captured_output(log_path):
        result = evaluate(
            database_url(),
            enterprises=args.enterprises,
            days=args.days,
            seed=args.seed,
            faults=args.faults,
            keep_database=args.keep_database,
        )
    lines = [f"{'kind':<22}{'truth':>7}{'alerts':>8}{'precision':>11}{'recall':>8}"]
    for kind, r in result["kinds"].items():
        p = "–" if r["precision"] is None else f"{r['precision']:.3f}"
        rc = "–" if r["recall"] is None else f"{r['recall']:.3f}"
        lines.append(
            f"{kind:<22}{r['truth']:>7}{r['alerts']:>8}{p:>11}{rc:>8}" + (f"  ({r['note']})" if r["note"] else "")
        )
    if result["database_url"]:
        lines.append(f"scratch database kept: {result['database_url']}")
    _emit(args, result, "\n".join(lines) + _log_line(log_path))
    return 0


def cmd_run(args) -> int:
    from .console import captured_output, format_run_summary
    from .pipeline import run_pipeline

    log_path = _log_path(args, "run")
    with captured_output(log_path) as terminal:
        summary = run_pipeline(month=args.month, terminal=terminal, log_path=log_path)
    _emit(args, summary, format_run_summary(summary))
    return 0 if summary["status"] == "success" else 1


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="iem", description="Industrial Energy Monitor: regional platform command line")
    sub = p.add_subparsers(dest="command", required=True)

    def with_json(sp):
        sp.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
        return sp

    def with_verbose(sp):
        sp.add_argument(
            "--verbose",
            action="store_true",
            help="print dbt's, Great Expectations' and Dagster's log as it comes (default: into $IEM_HOME/logs/, "
            "with progress lines and a summary on the terminal)",
        )
        return sp

    sp = with_verbose(
        with_json(sub.add_parser("run", help="main job: (demo) → ingest → transform → check → export → dashboards"))
    )
    sp.add_argument("--month", type=_month, help="month to export (YYYY-MM); default: last complete month in the data")
    sp.set_defaults(func=cmd_run)

    sp = with_json(sub.add_parser("simulate", help="write a realistic enterprise feed (or serve it over HTTP)"))
    sp.add_argument("--out", help="folder to write the feed to (default ./feed; with --push only when given)")
    sp.add_argument("--enterprises", type=int, default=20, help="how many enterprises (default %(default)s)")
    sp.add_argument("--start", type=_day, default=date(2026, 1, 1), help="first day, YYYY-MM-DD (default %(default)s)")
    sp.add_argument("--days", type=int, default=59, help="how many days of readings (default %(default)s)")
    sp.add_argument("--seed", type=int, default=42, help="random seed: the same seed writes the same files")
    sp.add_argument("--regions", help="pilot region codes, comma-separated (default: all eight pilot regions)")
    sp.add_argument(
        "--faults",
        choices=["none", "default"],
        default="default",
        help="inject every kind of data fault at the default rates, or none (default %(default)s)",
    )
    sp.add_argument("--truth", help="write injected faults as JSON lines to this file")
    sp.add_argument(
        "--history-months",
        type=int,
        default=0,
        metavar="N",
        help="also write N months of the enterprises' own daily totals before --start (default %(default)s)",
    )
    sp.add_argument(
        "--meters-per-enterprise",
        type=int,
        metavar="N",
        help="pad every enterprise to N meters with workshop electricity sub-meters (scope check)",
    )
    sp.add_argument("--serve", type=int, metavar="PORT", help="serve the feed as an energy-centre HTTP API")
    sp.add_argument(
        "--push", metavar="URL", help="push the feed to an access-end service (iem serve) as its enterprises"
    )
    sp.set_defaults(func=cmd_simulate)

    sp = sub.add_parser("serve", help="the access-end protocol service (push uploads from enterprises)")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    sp.add_argument("--port", type=int, default=8730, help="port to listen on (default %(default)s)")
    sp.add_argument(
        "--open-enrolment",
        action="store_true",
        help="any valid credit code may request a secretKey (pilots, simulation)",
    )
    sp.add_argument(
        "--enrol", metavar="CODE,…", help="enrol enterprises and print each one's initial secretKey, then exit"
    )
    sp.add_argument("--ssl-keyfile", help="TLS private key (else terminate TLS at a proxy)")
    sp.add_argument("--ssl-certfile", help="TLS certificate chain")
    sp.set_defaults(func=cmd_serve)

    sp = with_json(sub.add_parser("ingest", help="load feed files (a folder or one file) into raw tables"))
    sp.add_argument("path", help="a feed file or a folder of them (an enterprise's folder is named by its credit code)")
    sp.set_defaults(func=cmd_ingest)

    sp = with_json(sub.add_parser("pull", help="HTTP pull from the endpoints in $IEM_HOME/endpoints.yaml"))
    sp.set_defaults(func=cmd_pull)

    sp = with_json(sub.add_parser("onboard", help="check a new enterprise's registry and sample feed before go-live"))
    sp.add_argument("path", help="the enterprise's folder: registry files and a sample of its feed")
    sp.set_defaults(func=cmd_onboard)

    sp = with_json(sub.add_parser("errors", help="an enterprise's row-level error report (CSV)"))
    sp.add_argument("--enterprise", required=True, help="the enterprise's 统一社会信用代码 (18-character credit code)")
    sp.add_argument("--out", help="CSV file to write (default $IEM_HOME/errors/<credit code>.csv)")
    sp.set_defaults(func=cmd_errors)

    sp = with_json(sub.add_parser("bench", help="ingestion throughput beside raw COPY and pandas.to_sql"))
    sp.add_argument("--rows", type=int, default=200_000, help="readings to load each way (default %(default)s)")
    sp.set_defaults(func=cmd_bench)

    sp = with_verbose(with_json(sub.add_parser("transform", help="dbt build of whatever is new, checks, forecasts")))
    sp.set_defaults(func=cmd_transform)

    sp = with_verbose(with_json(sub.add_parser("check", help="quality suites on the warehouse as it is")))
    sp.set_defaults(func=cmd_check)

    sp = with_verbose(with_json(sub.add_parser("export", help="export a month to the national system (checks first)")))
    sp.add_argument("--month", type=_month, required=True, help="the month to export, YYYY-MM")
    sp.set_defaults(func=cmd_export)

    sp = with_json(sub.add_parser("dashboard", help="HTML dashboards for a month"))
    sp.add_argument("--month", type=_month, required=True, help="the month to show, YYYY-MM")
    sp.set_defaults(func=cmd_dashboard)

    sp = with_verbose(
        with_json(sub.add_parser("evaluate", help="simulate with truth, run, score alerts per fault kind"))
    )
    sp.add_argument("--enterprises", type=int, default=50, help="enterprises to simulate (default %(default)s)")
    sp.add_argument("--days", type=int, default=60, help="days to simulate (default %(default)s)")
    sp.add_argument("--seed", type=int, default=2026, help="random seed of the simulation (default %(default)s)")
    sp.add_argument(
        "--faults",
        choices=["none", "default"],
        default="default",
        help="inject faults (default) or none, to see false alarms on clean data",
    )
    sp.add_argument(
        "--keep-database",
        action="store_true",
        help="keep the scratch database <name>_evaluate_<id> for inspection (dropped by default)",
    )
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("db", help="the warehouse database")
    sp.add_argument(
        "action", choices=["url", "stop"], help="url: print a psql-usable URI; stop: stop the embedded server"
    )
    sp.set_defaults(func=cmd_db)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("IEM_LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        _say(f"iem {args.command}: error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
