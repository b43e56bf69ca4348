"""Dashboards in a real browser: headless Chromium (Debian's package, driven by Playwright) opens the
index, a region overview, an industry view, an enterprise drill-down and the acceptance report that
`iem run` rendered for the demo month (the shared demo warehouse of tests/e2e/conftest.py): no console
errors, no failed network requests (pages are self-contained), charts drawn as non-empty SVG, Chinese
labels present; a full-page screenshot of each is kept under test-artifacts/screenshots/.

`make test` installs Chromium where it can (root + apt); elsewhere these tests skip with the reason.
Under CI (CI=true) a missing browser is a failure, not a skip: CI must run them."""

from __future__ import annotations

import os
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.xdist_group("demo")]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("IEM_CHROMIUM", "/usr/bin/chromium")
MONTH = date(2026, 2, 1)  # the demo's last complete month


def _browser_or_skip():
    reason = None
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (make test installs it)"
    if reason is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"no Chromium at {CHROMIUM} (make test installs Debian's chromium when run as root)"
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        print(f"SKIP browser tests: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def dashboards(demo_run):
    _browser_or_skip()
    home, _env, proc = demo_run
    assert proc.returncode == 0, "iem run failed: no dashboards to open"
    out = home / "dashboards" / f"{MONTH:%Y-%m}"
    return out, {p.name for p in out.glob("*.html")}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-quic",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def _pick(names: set[str], prefix: str) -> str:
    matches = sorted(n for n in names if n.startswith(prefix))
    assert matches, f"no {prefix}* page among {sorted(names)}"
    return matches[0]


@pytest.mark.parametrize("kind", ["index", "region", "industry", "enterprise", "acceptance"])
def test_dashboard_page_renders_in_chromium(dashboards, browser, kind):
    out, names = dashboards
    name = {"index": "index.html", "acceptance": "acceptance.html"}.get(kind) or _pick(names, kind + "_")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    console_errors, failed_requests, page_errors = [], [], []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: failed_requests.append(r.url))
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto((out / name).as_uri(), wait_until="load")

    assert console_errors == [] and page_errors == [], (console_errors, page_errors)
    assert failed_requests == [] and external == [], f"page must be self-contained: {failed_requests + external}"
    charts = page.eval_on_selector_all(
        "svg",
        "els => els.map(e => ({w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height,"
        " shapes: e.querySelectorAll('path,rect,polyline,line,circle').length}))",
    )
    drawn = [c for c in charts if c["w"] > 50 and c["h"] > 50 and c["shapes"] > 0]
    if kind != "index":
        assert drawn, f"{name}: no chart drawn among {len(charts)} svg elements"
    if kind in ("region", "industry", "enterprise"):
        assert len(drawn) >= 2, f"{name}: expected several charts, drew {len(drawn)}"
    text = page.inner_text("body")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), f"{name}: no Chinese label"
    assert "Traceback" not in text and "None" not in text.split(), f"{name}: leaked error or None"
    assert re.search(r"数据截至 data as of: \d{4}-\d{2}-\d{2}", text), f"{name}: no data-as-of line"
    if kind in ("region", "enterprise"):
        # the month's alerts as a person reads them: kinds and severities in Chinese, enterprises by name,
        # Beijing times to the minute (no codes like silent_feed, no credit codes, no UTC offsets)
        rows = page.eval_on_selector_all(
            "xpath=//section[h2[starts-with(., '本月预警')]]//tbody/tr",
            "trs => trs.map(tr => Array.from(tr.cells).map(td => td.innerText))",
        )
        if kind == "region":
            assert rows, f"{name}: the demo month has alerts in every region, none shown"
        else:
            assert rows or "本月无预警" in text, f"{name}: neither alerts nor 'no alerts this month'"
        for family, fault_kind, severity, status, enterprise, _meter, start in rows:
            for cell in (family, fault_kind, severity, status, enterprise):
                assert any("\u4e00" <= ch <= "\u9fff" for ch in cell), (name, cell)
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}|", start), (name, start)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{kind}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert shot.stat().st_size > 10_000
