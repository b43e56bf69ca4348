"""Dashboard charts (dashboards/charts.py) and the checks the browser test applies to them
(tests/e2e/browser_checks.py): one scale per chart, ticks at round values of it, labels that neither
overlap nor leave the chart, no warehouse codes in text. The label check is shown failing on a
deliberately broken chart in headless Chromium (skips without a browser, fails under CI)."""

from __future__ import annotations

import re

import pytest

from dashboards.charts import bar_chart, donut, line_chart, nice_ticks, scale_for
from dashboards.labels import LIMIT_GRADE, name
from tests.e2e.browser_checks import (
    CHART_LABELS,
    CHROMIUM,
    LAUNCH_ARGS,
    Box,
    browser_or_skip,
    clipped,
    label_problems,
    overlapping,
    untranslated,
    warehouse_codes,
)


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


# --- one scale per chart, round ticks -------------------------------------------------------------------


def test_ticks_are_round_steps_of_the_scale_shown():
    # rule: step = the smallest 1, 2 or 5 × 10ⁿ ≥ (max − 0) / 4 = 12,500 / 4 = 3,125 → 5,000
    assert nice_ticks(0, 12_500) == [0, 5_000, 10_000, 15_000]
    # 8,997 / 4 = 2,249 → step 5,000 (2,000 < 2,249): 0, 5,000, 10,000
    assert nice_ticks(0, 8_997) == [0, 5_000, 10_000]
    # negative values (a converter's net process energy) get ticks below zero on the same step:
    # (70 − (−30)) / 4 = 25 → step 50, from floor(−30 / 50) × 50 = −50 to ceil(70 / 50) × 50 = 100
    assert nice_ticks(-30, 70) == [-50, 0, 50, 100]


def test_a_chart_shows_every_number_in_one_scale():
    # 8,997 and 11,000 tce in one chart: the largest is ≥ 10,000, so all in 万tce to three significant
    # digits: 8,997 / 10,000 = 0.8997 → "0.90"; 11,000 → "1.10" (never "8,997" beside "1.1万")
    svg = bar_chart([("甲", 11_000.0), ("乙", 8_997.0)], title="t", unit="tce", notes=["口径：当量值"])
    texts = _texts(svg)
    assert "单位：万tce" in texts
    assert "1.10" in texts and "0.90" in texts
    assert not any("万" in t and re.search(r"\d", t) for t in texts), texts
    assert "8,997" not in svg
    # below 10,000 the chart stays in tce, thousands separated
    small = _texts(bar_chart([("乙", 8_997.0)], title="t", unit="tce"))
    assert "8,997" in small and "单位：tce" in small
    assert scale_for(8_996.9, "tce").value(8_996.9) == "8,997"


def test_no_tick_label_reads_a_value_it_is_not_at():
    # a line up to 12,500 tce: ticks 0, 5,000, 10,000, 15,000 shown in 万tce as 0.0, 0.5, 1.0, 1.5 (all with
    # the step's one decimal; no "1.2" standing at 12,500)
    svg = line_chart({"a": [("01日", 0.0), ("02日", 12_500.0)]}, title="t", unit="tce")
    ticks = re.findall(
        r'<text x="[\d.]+" y="[\d.]+" text-anchor="end" font-size="10" fill="#475569">([^<]*)</text>', svg
    )
    assert [t for t in ticks if not t.endswith("日")] == ["0.0", "0.5", "1.0", "1.5"]
    assert "单位：万tce" in _texts(svg)


def test_basis_notes_are_drawn_in_the_chart():
    svg = donut([("原煤", 3.0), ("电力", 1.0)], title="能源结构", notes=["口径：当量值（电力按 0.1229 kgce/kWh 折标）"])
    assert "口径：当量值（电力按 0.1229 kgce/kWh 折标）" in _texts(svg)


# --- names instead of codes ------------------------------------------------------------------------------


def test_codes_in_text_are_found_and_names_are_not():
    codes = warehouse_codes()
    assert {"clinker", "clinker_kiln", "electricity", "above_limit", "naive_fallback"} <= codes
    assert untranslated("工序 clinker_kiln 能源 electricity 等级 above_limit", codes) == [
        "above_limit",
        "clinker_kiln",
        "electricity",
    ]
    assert untranslated("熟料烧成 电力 超过限定值 ≥10万tce 1级", codes) == []
    assert untranslated("档次 >=100000", codes) == [">=100000"]
    # a code nobody named shows as 未命名 and is caught as well
    assert name(LIMIT_GRADE, "below_limit") == "未命名(below_limit)"
    assert untranslated(name(LIMIT_GRADE, "below_limit"), codes) == ["未命名(below_limit)"]


# --- label geometry --------------------------------------------------------------------------------------


def test_overlap_and_clipping_are_found_in_boxes():
    one, two = Box("1级", 100, 50, 116, 65), Box("2级", 104, 50, 120, 65)
    assert overlapping([one, two]) == [(one, two)]
    # boxes that only touch (1 px tolerance) or sit one above the other do not overlap
    assert overlapping([Box("a", 0, 0, 10, 10), Box("b", 10.5, 0, 20, 10), Box("c", 0, 10.5, 10, 20)]) == []
    viewport = Box("chart", 0, 0, 640, 200)
    late = Box("3级", 630, 180, 660, 195)
    assert clipped([one, late], viewport) == [late]


def _problems_in_chromium(svgs: list[str]) -> list[str]:
    from playwright.sync_api import sync_playwright

    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{font-family:"Noto Sans CJK SC",sans-serif}'
        "</style></head><body>" + "".join(f"<div>{s}</div>" for s in svgs) + "</body></html>"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_content(html)
        charts = page.evaluate(CHART_LABELS)
        browser.close()
    return label_problems(charts)


@pytest.mark.browser
def test_the_label_check_fails_on_a_broken_chart_and_passes_the_charts_drawn_now():
    browser_or_skip()
    # broken as the charts were before: limit labels 1级 2级 3级 on one baseline at their values (1,670,
    # 1,680, 1,720 kgce/t on a 2,000 axis: 2–19 px apart, labels ~16 px wide), and a value label past the edge
    broken = (
        '<svg class="chart bar" width="640" height="120" viewBox="0 0 640 120" aria-label="broken">'
        '<rect x="132" y="32" width="400" height="16" fill="#2563eb"/>'
        '<text x="533" y="110" text-anchor="middle" font-size="10">1级</text>'
        '<text x="536" y="110" text-anchor="middle" font-size="10">2级</text>'
        '<text x="546" y="110" text-anchor="middle" font-size="10">3级</text>'
        '<text x="630" y="45" font-size="11">1,685.2</text></svg>'
    )
    problems = _problems_in_chromium([broken])
    assert "broken: '1级' overlaps '2级'" in problems
    assert "broken: '2级' overlaps '3级'" in problems
    assert "broken: '1,685.2' clipped outside the chart's viewport" in problems

    # the same data as bar_chart draws it now: limit labels stacked, value inside the bar; long titles,
    # notes and legends wrapped; a month of day labels and twelve month labels thinned
    days = [(f"{d:02d}日", 500.0 + d) for d in range(1, 30)]
    months = [(f"2025-{m:02d}", 10_000.0 * m) for m in range(1, 13)]
    long_note = "口径：当量值（电力按 0.1229 kgce/kWh 折标，GB/T 2589-2020）；" * 3
    drawn = [
        bar_chart(
            [("铝锭", 1_685.2)],
            title="铝锭 单位产品综合能耗",
            unit="kgce/t",
            notes=["口径：当量值（综合能耗），按 GB 21346-2022 规定"],
            reference=[("1级", 1_670.0), ("2级", 1_680.0), ("3级", 1_720.0)],
        ),
        line_chart({"综合能耗 tce": days}, title="每日综合能耗(当量值) Daily profile", unit="tce", notes=[long_note]),
        line_chart(
            {f"系列{i} 很长的图例名称": months for i in range(6)},
            title="一个很长的标题 " * 8,
            unit="tce",
            bands={"80%预测区间": ("#2563eb", [(x, v * 0.9, v * 1.1) for x, v in months])},
        ),
        donut([(f"能源{i}(很长的名称)", float(i + 1)) for i in range(14)], title="能源结构", notes=[long_note]),
    ]
    assert _problems_in_chromium(drawn) == []
