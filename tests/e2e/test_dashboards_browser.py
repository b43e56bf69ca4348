"""Dashboards in a real browser: headless Chromium (Debian's package, driven by Playwright) opens the
pages that `iem run` rendered for the demo month (the shared demo warehouse of tests/e2e/conftest.py).

- The index, a region overview, an industry view, an enterprise drill-down and the acceptance report, one
  of each: no console errors, no failed network requests (pages are self-contained), charts drawn as
  non-empty SVG, Chinese labels present, a data-as-of line; the month's alerts (region and enterprise
  pages) with kinds, severities and enterprises in Chinese and Beijing times.
- Every page rendered for the month: the checks above, and what a reader of each chart needs: no two text
  labels of a chart overlapping and none clipped outside its SVG (the browser's own text boxes, 1 px
  tolerance; tests/unit/test_dashboard_charts.py shows the check failing on a broken chart); no code of
  the warehouse (clinker, electricity, above_limit, naive_fallback, …) in text, legends or tooltips; every
  chart with an energy unit saying its basis (口径：当量值 / 等价值); forecasts with their 80 % and 95 %
  intervals drawn and, where a series fell back to its last value, the note that says so.

A full-page screenshot of every page is kept under test-artifacts/screenshots/ (<page>.png), and one per
kind (<kind>.png). `make test` installs Chromium where it can (root + apt); elsewhere these tests skip
with the reason. Under CI (CI=true) a missing browser is a failure, not a skip: CI must run them."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.e2e.browser_checks import (
    CHART_LABELS,
    CHROMIUM,
    LAUNCH_ARGS,
    REPO,
    browser_or_skip,
    label_problems,
    untranslated,
    warehouse_codes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.xdist_group("demo")]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
MONTH = date(2026, 2, 1)  # the demo's last complete month
KINDS = ["index", "region", "industry", "enterprise", "acceptance"]


@pytest.fixture(scope="module")
def dashboards(demo_run):
    browser_or_skip()
    home, _env, proc = demo_run
    assert proc.returncode == 0, "iem run failed: no dashboards to open"
    out = home / "dashboards" / f"{MONTH:%Y-%m}"
    return out, {p.name for p in out.glob("*.html")}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


def _pick(names: set[str], prefix: str) -> str:
    matches = sorted(n for n in names if n.startswith(prefix))
    assert matches, f"no {prefix}* page among {sorted(names)}"
    return matches[0]


def _kind(name: str) -> str:
    return name.removesuffix(".html").split("_")[0]


def _open(browser, path):
    """The page loaded, with what went wrong while loading it."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    seen = {"console": [], "failed": [], "errors": [], "external": []}
    page.on("console", lambda m: seen["console"].append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: seen["failed"].append(r.url))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["external"].append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.as_uri(), wait_until="load")
    return page, seen


def _check_page(page, seen, name: str, kind: str, *, alerts_required: bool = True) -> str:
    """The checks every page of its kind must pass (assertions); returns the page's text.
    `alerts_required`: a region page must list alerts (the first region's does in the demo month; some
    other regions have none that month and say so)."""
    assert seen["console"] == [] and seen["errors"] == [], (name, seen["console"], seen["errors"])
    assert seen["failed"] == [] and seen["external"] == [], f"{name} must be self-contained: {seen}"
    charts = page.eval_on_selector_all(
        "svg",
        "els => els.map(e => ({w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height,"
        " shapes: e.querySelectorAll('path,rect,polyline,polygon,line,circle').length}))",
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
        if kind == "region" and alerts_required:
            assert rows, f"{name}: the demo month has alerts in this region, none shown"
        else:
            assert rows or "本月无预警" in text, f"{name}: neither alerts nor 'no alerts this month'"
        for family, fault_kind, severity, status, enterprise, _meter, start in rows:
            for cell in (family, fault_kind, severity, status, enterprise):
                assert any("\u4e00" <= ch <= "\u9fff" for ch in cell), (name, cell)
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}|", start), (name, start)
    return text


@pytest.mark.parametrize("kind", KINDS)
def test_dashboard_page_renders_in_chromium(dashboards, browser, kind):
    out, names = dashboards
    name = {"index": "index.html", "acceptance": "acceptance.html"}.get(kind) or _pick(names, kind + "_")
    page, seen = _open(browser, out / name)
    _check_page(page, seen, name, kind)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{kind}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert shot.stat().st_size > 10_000


def _chart_problems(name: str, text: str, charts: list[dict], codes: set[str]) -> list[str]:
    """What a reader of the page's charts would stumble on."""
    problems = [f"{name}: {p}" for p in label_problems(charts)]
    tips = " ".join(t for c in charts for t in [c["title"], *c["tips"]])
    problems += [f"{name}: untranslated {c!r}" for c in untranslated(text + " " + tips, codes)]
    for chart in charts:
        labels = [t["text"] for t in chart["texts"]]
        units = [t.removeprefix("单位：") for t in labels if t.startswith("单位：")]
        if units and units[0] != "%" and not any(t.startswith("口径：") for t in labels):
            problems.append(f"{name}: {chart['title']!r} (unit {units[0]}) does not state its basis (口径)")
        if any(re.search(r"\d(万|亿)$", t) for t in labels):
            problems.append(f"{name}: {chart['title']!r} mixes scales in its labels: the scale goes in its unit")
        if chart["title"].startswith("预测与实际"):
            if chart["polygons"] < 2 or not {"80%预测区间", "95%预测区间"} <= set(labels):
                problems.append(f"{name}: forecast chart without its 80 % and 95 % intervals")
            if "沿用末月值" in text and not any("沿用末月值" in t for t in labels):
                problems.append(f"{name}: a series fell back to its last value; the chart does not say so")
    return problems


def test_every_dashboard_page_is_readable_in_chromium(dashboards, browser):
    """Every page of the month passes its kind's checks; its charts' labels are all readable (no overlap,
    none clipped), no warehouse code shows, every energy chart states its basis, forecasts show their
    intervals and fallback note; a screenshot of each page is kept."""
    out, names = dashboards
    codes = warehouse_codes()
    assert {_kind(n) for n in names} == set(KINDS), sorted(names)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    forecast_charts = regions_with_alerts = 0
    for name in sorted(names):
        page, seen = _open(browser, out / name)
        text = _check_page(page, seen, name, _kind(name), alerts_required=False)
        if _kind(name) == "region" and "本月无预警" not in text:
            regions_with_alerts += 1
        charts = page.evaluate(CHART_LABELS)
        forecast_charts += sum(c["title"].startswith("预测与实际") for c in charts)
        problems += _chart_problems(name, text, charts, codes)
        shot = SCREENSHOTS / f"{name.removesuffix('.html')}.png"
        page.screenshot(path=str(shot), full_page=True)
        page.close()
        assert shot.stat().st_size > 10_000, shot
    assert not problems, "\n".join(problems)
    assert regions_with_alerts, "the demo month has alerts; no region page lists any"
    assert forecast_charts >= sum(n.startswith("region_") for n in names), "a region page without its forecast"
    kept = {p.name for p in SCREENSHOTS.glob("*.png")}
    assert {n.removesuffix(".html") + ".png" for n in names} <= kept
