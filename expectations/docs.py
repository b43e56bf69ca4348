"""The quality gate's Data Docs: a small HTML site under `docs_dir` written from the gate's own results,
self-contained (styles inline, no script, font, image or link to any other host: it opens offline).

GX's own Data Docs renderer is not used: its pages load Bootstrap, jQuery, Font Awesome and
Vega from CDNs, and its index was rebuilt by every call from that call's ephemeral context only, so the
per-layer Dagster checks left an index of the last layer's checks (2 of 27 after `iem run`).

Each call records its layers' results in `results/<layer>.json` (replacing that layer's previous
results) and renders the site from every layer recorded: `index.html` lists every check result — one
per check, one per failing region of a region-scoped check — and links to its section on the check's
page, `checks/<check>.html#<result>`. Writers take a lock on the folder (Dagster runs the per-layer
checks in parallel processes)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from dataclasses import asdict
from datetime import date, datetime
from html import escape
from pathlib import Path

LAYERS = ("raw", "staging", "marts")
ROWS_SHOWN = 200  # failing rows listed per result; the count says how many there are
GX_SITE_LEFTOVERS = ("static", "expectations", "validations")  # the GX renderer's folders (CDN assets)

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","Microsoft YaHei",sans-serif;
 margin:0 auto;max-width:1200px;padding:1.2em;color:#1d2329;background:#fff}
h1{font-size:1.5em;margin:.2em 0 .4em}h2{font-size:1.2em;margin:1.4em 0 .4em}h3{font-size:1.05em;margin:0 0 .4em}
table{border-collapse:collapse;width:100%;margin:.4em 0 1em}th,td{border:1px solid #d5dbe1;padding:.3em .5em;
 text-align:left;vertical-align:top}th{background:#f1f4f7}code,pre{font:12.5px/1.4 ui-monospace,Menlo,Consolas,
 monospace}pre{white-space:pre-wrap;background:#f6f8fa;border:1px solid #e1e6eb;padding:.6em;overflow-x:auto}
.ok{color:#176b2c;font-weight:600}.fail{color:#b3261e;font-weight:700}.warn{color:#8a5a00;font-weight:700}
.muted{color:#5b6670}.result{border:1px solid #d5dbe1;border-radius:4px;padding:.6em .8em;margin:.8em 0}
.summary span{display:inline-block;margin-right:1.5em}a{color:#0b57a4}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def result_anchor(result: dict) -> str:
    """The id of a result's section on its check's page: its region, or `all` for a result of every region."""
    return f"region-{result['region_code']}" if result.get("region_code") else "all"


def _status(result: dict) -> tuple[str, str]:
    if result["success"]:
        return "ok", "passed"
    return ("fail", "FAILED") if result["severity"] == "blocking" else ("warn", "warning")


def _scope(result: dict) -> str:
    if result.get("region_code"):
        return escape(result["region_code"])
    return "every region" if not result["success"] else "all regions"


def _value(v) -> str:
    if v is None:
        return '<span class="muted">–</span>'
    if isinstance(v, (dict, list)):
        return f"<code>{escape(json.dumps(v, ensure_ascii=False, sort_keys=True))}</code>"
    return escape(str(v))


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader (or a browser) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def definition(check) -> dict:
    """What a check runs, for its page: its table or query and its expectations with their arguments."""
    return {
        "description": check.description,
        "table": check.table,
        "query": check.query,
        "region_column": check.region_column,
        "expectations": [
            {"expectation": e.expectation_type, "kwargs": dict(e.configuration.kwargs)} for e in check.expectations
        ],
    }


def _result_section(result: dict) -> str:
    css, label = _status(result)
    d = result.get("details") or {}
    out = [
        f'<section class="result" id="{result_anchor(result)}">',
        f'<h3><span class="{css}">{label}</span> · {_scope(result)}</h3>',
    ]
    if d.get("error"):
        out.append(f'<p class="fail">could not run: {escape(str(d["error"]))}</p>')
    if d.get("expectations"):
        out.append("<table><tr><th>expectation</th><th>arguments</th><th>observed</th><th>unexpected rows</th></tr>")
        for e in d["expectations"]:
            out.append(
                f"<tr><td><code>{escape(e['expectation'])}</code></td><td>{_value(e.get('kwargs'))}</td>"
                f"<td>{_value(e.get('observed_value'))}</td><td>{_value(e.get('unexpected_count'))}</td></tr>"
            )
            if e.get("error"):
                out.append(f'<tr><td colspan="4" class="fail">{escape(str(e["error"]))}</td></tr>')
        out.append("</table>")
    failures = d.get("failures") or []
    if failures:
        out.append("<table><tr><th>expectation</th><th>unexpected rows</th><th>observed</th><th>row</th></tr>")
        shown = 0
        for f in failures:
            rows = [f["row"]] if "row" in f else (f.get("rows") or [None])
            for row in rows:
                if shown == ROWS_SHOWN:
                    break
                shown += 1
                out.append(
                    f"<tr><td><code>{escape(f['expectation'])}</code></td><td>{_value(f.get('unexpected_count'))}</td>"
                    f"<td>{_value(f.get('observed_value'))}</td><td>{_value(row)}</td></tr>"
                )
                if f.get("error"):
                    out.append(f'<tr><td colspan="4" class="fail">{escape(str(f["error"]))}</td></tr>')
        out.append("</table>")
        total = sum(1 if "row" in f else max(1, len(f.get("rows") or [])) for f in failures)
        if total > shown:
            out.append(f'<p class="muted">{shown} of {total} rows shown.</p>')
    out.append("</section>")
    return "\n".join(out)


def _check_page(name: str, layer: str, run: dict, results: list[dict]) -> str:
    spec = run["checks"].get(name, {})
    first = results[0]
    body = [
        '<p><a href="../index.html">← all checks</a></p>',
        f"<h1><code>{escape(name)}</code></h1>",
        f"<p>{escape(spec.get('description') or first['details'].get('description', ''))}</p>",
        f'<p class="muted">layer {escape(layer)} · {escape(first["severity"])} · '
        f"run {escape(run['run_at'])} · {escape(_month_scope(run))}</p>",
    ]
    if spec.get("table"):
        body.append(f"<p>runs on the table <code>{escape(spec['table'])}</code></p>")
    if spec.get("query"):
        body.append(f"<p>runs on the query</p><pre>{escape(spec['query'])}</pre>")
    if spec.get("expectations"):
        body.append("<h2>Expectations</h2><table><tr><th>expectation</th><th>arguments</th></tr>")
        body += [
            f"<tr><td><code>{escape(e['expectation'])}</code></td><td>{_value(e['kwargs'])}</td></tr>"
            for e in spec["expectations"]
        ]
        body.append("</table>")
    body.append(f"<h2>Results ({len(results)})</h2>")
    body += [_result_section(r) for r in results]
    return _page(f"{name} — IEM quality gate", "\n".join(body))


def _month_scope(run: dict) -> str:
    return f"month {run['month'][:7]}" if run.get("month") else "all months"


def _index(runs: dict[str, dict]) -> str:
    results = [r for layer in runs for r in runs[layer]["results"]]
    blocking = sum(r["severity"] == "blocking" and not r["success"] for r in results)
    warned = sum(r["severity"] == "warning" and not r["success"] for r in results)
    checks = {r["name"] for r in results}
    body = [
        "<h1>IEM quality gate</h1>",
        '<p class="summary">'
        f"<span><b>{len(checks)}</b> checks</span><span><b>{len(results)}</b> results</span>"
        f'<span class="{"fail" if blocking else "ok"}"><b>{blocking}</b> blocking failures</span>'
        f'<span class="{"warn" if warned else "ok"}"><b>{warned}</b> warnings</span></p>',
        '<p class="muted">One result per check, one per failing pilot region for a region-scoped check. '
        "A blocking failure without a region blocks every region's export; warnings never block.</p>",
    ]
    for layer, run in runs.items():
        body.append(
            f"<h2>{escape(layer)} <span class='muted'>· run {escape(run['run_at'])} · "
            f"{escape(_month_scope(run))}</span></h2>"
        )
        body.append(
            "<table><tr><th>status</th><th>check</th><th>region</th><th>severity</th><th>what it asserts</th></tr>"
        )
        for r in run["results"]:
            css, label = _status(r)
            description = run["checks"].get(r["name"], {}).get("description") or r["details"].get("description", "")
            body.append(
                f'<tr><td class="{css}">{label}</td>'
                f'<td><a class="result-link" href="checks/{escape(r["name"])}.html#{result_anchor(r)}">'
                f"{escape(r['name'])}</a></td><td>{_scope(r)}</td><td>{escape(r['severity'])}</td>"
                f"<td>{escape(description)}</td></tr>"
            )
        body.append("</table>")
    return _page("IEM quality gate", "\n".join(body))


@contextlib.contextmanager
def _locked(docs_dir: Path):
    (docs_dir / "results").mkdir(parents=True, exist_ok=True)
    with (docs_dir / "results" / "docs.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_quality_docs(
    docs_dir: Path, results: list, checks: list, *, layers, month: date | None, run_at: datetime
) -> Path:
    """Record these layers' results (CheckResult objects) and the checks that gave them, and render the
    site from every layer recorded. Returns the index's path."""
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    order = {c.name: i for i, c in enumerate(checks)}  # the suites' order; sorted() keeps regions' order
    with _locked(docs_dir):
        for layer in layers:
            run = {
                "run_at": run_at.isoformat(timespec="seconds"),
                "month": month.isoformat() if month else None,
                "checks": {c.name: definition(c) for c in checks if c.layer == layer},
                "results": [asdict(r) for r in sorted(results, key=lambda r: order.get(r.name, 0)) if r.layer == layer],
            }
            _write(docs_dir / "results" / f"{layer}.json", json.dumps(run, ensure_ascii=False, indent=1))
        runs = {
            layer: json.loads(p.read_text(encoding="utf-8"))
            for layer in LAYERS
            if (p := docs_dir / "results" / f"{layer}.json").is_file()
        }
        pages = set()
        for layer, run in runs.items():
            by_check: dict[str, list[dict]] = {}
            for r in run["results"]:
                by_check.setdefault(r["name"], []).append(r)
            for name, rs in by_check.items():
                _write(docs_dir / "checks" / f"{name}.html", _check_page(name, layer, run, rs))
                pages.add(f"{name}.html")
        for stale in (docs_dir / "checks").glob("*.html"):
            if stale.name not in pages:
                stale.unlink()
        for leftover in GX_SITE_LEFTOVERS:  # an older version's GX site, which loaded its assets from CDNs
            shutil.rmtree(docs_dir / leftover, ignore_errors=True)
        index = docs_dir / "index.html"
        _write(index, _index(runs))
    return index
