"""Headless Chromium for the dashboard tests, and what they check in it.

`browser_or_skip` / `launch`: Debian's Chromium (IEM_CHROMIUM, default /usr/bin/chromium) driven by
Playwright; a missing browser skips, except under CI (CI=true) where it fails.

Labels: `CHART_LABELS` (JavaScript for page.evaluate) returns, per <svg> of the page, its box and the boxes
of its rendered <text> elements (getBoundingClientRect: page pixels, the real font's glyphs).
`overlapping` and `clipped` judge those boxes: two labels of one chart that overlap, or a label sticking out
of its chart's SVG viewport (where the SVG clips it). They are plain Python, so that a unit test shows them
failing on a deliberately broken chart.

Codes: `untranslated` finds, in text a person reads, the codes the warehouse uses (energy, product and
process codes of the reference seeds; alert, limit, forecast and coverage codes named in dashboards/labels)."""

from __future__ import annotations

import csv
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("IEM_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]


def browser_or_skip() -> None:
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


CHART_LABELS = """
() => Array.from(document.querySelectorAll('svg')).map((svg, i) => {
  const r = svg.getBoundingClientRect();
  const title = svg.getAttribute('aria-label') || ('svg #' + i);
  const texts = Array.from(svg.querySelectorAll('text'))
    .filter(t => t.textContent.trim() !== '')
    .map(t => { const b = t.getBoundingClientRect();
                return {text: t.textContent, x0: b.left, y0: b.top, x1: b.right, y1: b.bottom}; });
  return {title: title, box: {text: title, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}, texts: texts,
          tips: Array.from(svg.querySelectorAll('title')).map(t => t.textContent),
          polygons: svg.querySelectorAll('polygon').length};
})
"""


@dataclass(frozen=True)
class Box:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @classmethod
    def of(cls, d: dict) -> Box:
        return cls(d["text"], d["x0"], d["y0"], d["x1"], d["y1"])


def overlapping(boxes: list[Box], tolerance: float = 1.0) -> list[tuple[Box, Box]]:
    """Pairs of labels whose boxes overlap by more than `tolerance` pixels both across and down (a glyph
    box spans the font's ascent and descent, so labels that merely touch are not counted)."""
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            across = min(a.x1, b.x1) - max(a.x0, b.x0)
            down = min(a.y1, b.y1) - max(a.y0, b.y0)
            if across > tolerance and down > tolerance:
                pairs.append((a, b))
    return pairs


def clipped(boxes: list[Box], viewport: Box, tolerance: float = 1.0) -> list[Box]:
    """Labels that stick out of the chart's viewport by more than `tolerance` pixels (an SVG clips them)."""
    return [
        b
        for b in boxes
        if b.x0 < viewport.x0 - tolerance
        or b.y0 < viewport.y0 - tolerance
        or b.x1 > viewport.x1 + tolerance
        or b.y1 > viewport.y1 + tolerance
    ]


def label_problems(charts: list[dict], tolerance: float = 1.0) -> list[str]:
    """Every unreadable label of the page's charts (CHART_LABELS' result), described for a failure message."""
    problems = []
    for chart in charts:
        boxes = [Box.of(t) for t in chart["texts"]]
        for a, b in overlapping(boxes, tolerance):
            problems.append(f"{chart['title']}: {a.text!r} overlaps {b.text!r}")
        for b in clipped(boxes, Box.of(chart["box"]), tolerance):
            problems.append(f"{chart['title']}: {b.text!r} clipped outside the chart's viewport")
    return problems


def _seed_column(seed: str, column: str) -> set[str]:
    with (REPO / "dbt_project" / "seeds" / seed).open(encoding="utf-8") as f:
        return {row[column] for row in csv.DictReader(f) if row[column]}


def warehouse_codes() -> set[str]:
    """The codes a dashboard must never show to a person (numeric grades '1'…'3' left out: they read as
    numbers; GB/T 2260 region and GB/T 4754 industry codes left out: shown beside their names on purpose)."""
    from dashboards import labels

    codes = _seed_column("energy_types.csv", "energy_code") | _seed_column("products.csv", "product_code")
    codes |= _seed_column("access_end_process_codes.csv", "scope")
    codes |= _seed_column("limit_corrections.csv", "correction")
    for mapping in (
        labels.ALERT_FAMILY,
        labels.ALERT_KIND,
        labels.ALERT_SEVERITY,
        labels.ALERT_STATUS,
        labels.LIMIT_GRADE,
        labels.LIMIT_STATUS,
        labels.FORECAST_MODEL,
        labels.COVERAGE_TIER,
    ):
        codes |= {str(k) for k in mapping}
    return {c for c in codes if not c.isdigit()}


def untranslated(text: str, codes: set[str]) -> list[str]:
    """The codes that occur in `text` as words of their own (case-sensitive: codes are lower case), and
    every name labels.py could not give (未命名)."""
    found = sorted(c for c in codes if re.search(rf"(?<![A-Za-z0-9_>=]){re.escape(c)}(?![A-Za-z0-9_])", text))
    return found + re.findall(r"未命名\([^)]*\)", text)
