"""Monthly dashboards as self-contained HTML (charts inline as SVG; no scripts, fonts or styles from
the network): index, one overview per pilot region, one page per industry, one drill-down per
enterprise, and the acceptance report (验收). Output is a pure function of the warehouse."""

from __future__ import annotations

from datetime import date
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from expectations.thresholds import Thresholds, load_thresholds

from .charts import bar_chart, donut, empty, line_chart
from .labels import (
    ALERT_FAMILY,
    ALERT_KIND,
    ALERT_SEVERITY,
    ALERT_STATUS,
    CALIBRATION,
    COVERAGE_TIER,
    EMISSION_SCOPE,
    FORECAST_MODEL,
    LIMIT_CORRECTION,
    LIMIT_GRADE,
    LIMIT_STATUS,
    Names,
    basis_co2,
    basis_equal_value,
    name,
)

CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei",
sans-serif;margin:0;background:#f1f5f9;color:#0f172a}
header{background:#0f3d6e;color:#fff;padding:14px 24px}header a{color:#cfe3ff}
h1{font-size:20px;margin:0}h2{font-size:16px;margin:18px 0 8px}.sub{color:#cbd5e1;font-size:12px}
main{padding:16px 24px;display:grid;grid-template-columns:repeat(auto-fill,minmax(660px,1fr));gap:16px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px 14px}
.kpis{display:flex;gap:12px;flex-wrap:wrap}.kpi{background:#f8fafc;border:1px solid #e2e8f0;border-radius:6px;
padding:8px 12px;min-width:130px}.kpi b{display:block;font-size:18px}.kpi span{font-size:11px;color:#475569}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{border-bottom:1px solid #e2e8f0;padding:4px 6px;
text-align:right}th:first-child,td:first-child{text-align:left}.bad{color:#b91c1c;font-weight:600}.ok{color:#15803d}
.note{color:#64748b;font-size:12px}nav a{margin-right:12px}.nowrap{white-space:nowrap}
"""


def _q(conn, sql: str, params=()) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def _exists(conn, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _f(v, digits=1) -> str:
    if v is None:
        return "–"
    return f"{float(v):,.{digits}f}"


def _pct(v) -> str:
    if v is None:
        return "–"
    text = f"{float(v) * 100:.1f}%"
    return "0.0%" if text == "-0.0%" else text


def _judged(text: str, *, ok: bool) -> str:
    """A cell marked ok (green) or bad (red)."""
    return f'<span class="{"ok" if ok else "bad"}">{text}</span>'


def _page(title: str, subtitle: str, body: str, nav: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'
        f'<header><h1>{escape(title)}</h1><div class="sub">{escape(subtitle)}</div><nav>{nav}</nav></header>'
        f"<main>{body}</main></body></html>\n"
    )


def _stamped(html: str, as_of: str) -> str:
    """Every page's header says how current the data is (the line above its navigation)."""
    return html.replace("<nav>", f'<div class="sub as-of">{escape(as_of)}</div><nav>', 1)


def _kpis(pairs) -> str:
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in pairs)
        + "</div>"
    )


def _table(headers, rows) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


BEIJING = ZoneInfo("Asia/Shanghai")


def _beijing(t) -> str:
    """A time as a person in the region reads it: Beijing time, to the minute."""
    return "" if t is None else f"{t.astimezone(BEIJING):%Y-%m-%d %H:%M}"


def _alerts_section(conn, month: date, scope_sql: str, params: tuple, title: str) -> str:
    """The alerts of the month for a region or an enterprise: those whose period overlaps it (an open one
    runs until now), an alert without a period (a rejected row) in the month it was first seen. Kinds,
    severities and enterprises by name, times in Beijing time."""
    alerts = _q(
        conn,
        "select a.family, a.fault_kind, a.severity, a.status, e.name, a.meter_id, a.period_start, a.period_end "  # noqa: S608 - the scope is code, its values parameters
        "from marts.fct_alerts a join marts.dim_enterprise e using (enterprise_id) "
        f"where {scope_sql} "
        "and coalesce(a.period_start, a.first_seen) "
        "    < (%s::date + interval '1 month')::timestamp at time zone 'Asia/Shanghai' "
        "and case when a.period_start is null then a.first_seen else coalesce(a.period_end, 'infinity') end "
        "    >= %s::date::timestamp at time zone 'Asia/Shanghai' "
        "order by case a.severity when 'critical' then 0 when 'warning' then 1 else 2 end, a.period_start "
        "limit 20",
        (*params, month, month),
    )
    rows = [
        [
            escape(name(ALERT_FAMILY, a["family"])),
            escape(name(ALERT_KIND, a["fault_kind"])),
            escape(name(ALERT_SEVERITY, a["severity"])),
            escape(name(ALERT_STATUS, a["status"])),
            escape(a["name"] or ""),
            escape(a["meter_id"] or ""),
            _beijing(a["period_start"]),
        ]
        for a in alerts
    ]
    headers = [
        "类别 family",
        "类型 kind",
        "级别 severity",
        "状态 status",
        "企业 enterprise",
        "计量点 meter",
        "开始(北京时间) start",
    ]
    table = _table(headers, rows) if rows else '<p class="note">本月无预警 no alerts this month</p>'
    return f"<section><h2>{escape(title)}</h2>{table}</section>"


def _data_as_of(conn) -> str:
    """The latest day the warehouse holds energy for: every page says how current it is."""
    if not _exists(conn, "marts.fct_enterprise_energy_daily"):
        return "数据截至 data as of: –"
    latest = conn.execute("select max(date) from marts.fct_enterprise_energy_daily").fetchone()[0]
    return f"数据截至 data as of: {latest or '–'}"


def render_month(url: str, month: date, out_dir: Path) -> list[Path]:
    month = month.replace(day=1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pages: dict[str, str] = {}
    ym = f"{month:%Y-%m}"
    nav = '<a href="index.html">首页 Index</a><a href="acceptance.html">验收报告 Acceptance</a>'
    thresholds = load_thresholds(url)  # the completeness rule as the warehouse applied it
    with psycopg.connect(url) as conn:
        regions = _q(
            conn,
            "select r.region_code, r.name_zh, r.name_en, m.comprehensive_tce_equivalent, "
            "m.comprehensive_tce_equal_value, m.enterprises_expected, m.enterprises_reporting, "
            "m.tce_per_10k_yuan_value_added, m.mom_change, m.yoy_change "
            "from marts.dim_region r left join marts.fct_region_monthly m "
            "on m.region_code = r.region_code and m.month = %s order by r.region_code",
            (month,),
        )
        as_of = _data_as_of(conn)
        names = Names.load(conn)
        have_alerts = _exists(conn, "marts.fct_alerts")
        have_forecast = _exists(conn, "marts.fct_forecast_monthly")
        for r in regions:
            pages[f"region_{r['region_code']}.html"] = _region_page(
                conn, r, month, nav, have_alerts, have_forecast, thresholds, names
            )
        industries = _q(
            conn,
            "select distinct f.industry_code, i.name_zh from marts.fct_enterprise_monthly f "
            "left join marts.dim_industry i using (industry_code) where f.month = %s order by 1",
            (month,),
        )
        for ind in industries:
            pages[f"industry_{ind['industry_code']}.html"] = _industry_page(conn, ind, month, nav, names)
        ents = _q(conn, "select enterprise_id from marts.fct_enterprise_monthly where month = %s order by 1", (month,))
        for e in ents:
            pages[f"enterprise_{e['enterprise_id']}.html"] = _enterprise_page(
                conn, e["enterprise_id"], month, nav, names, have_forecast
            )
        pages["acceptance.html"] = _acceptance_page(conn, month, nav, names)
        rows = [
            [
                f'<a href="region_{r["region_code"]}.html">{escape(r["name_zh"])} {r["region_code"]}</a>',
                _f(r["comprehensive_tce_equivalent"]),
                _f(r["comprehensive_tce_equal_value"]),
                f"{r['enterprises_reporting'] or 0}/{r['enterprises_expected'] or 0}",
                _pct(r["mom_change"]),
            ]
            for r in regions
        ]
        ind_links = " ".join(
            f'<a href="industry_{i["industry_code"]}.html">{escape(i["name_zh"] or "")} {i["industry_code"]}</a>'
            for i in industries
        )
        body = (
            f"<section><h2>试点地区 Pilot regions · {ym}</h2>"
            + _table(
                ["地区 Region", "综合能耗(当量值) tce", "综合能耗(等价值) tce", "上报/应报 reporting", "环比 MoM"], rows
            )
            + bar_chart(
                [(f"{r['name_zh']}", float(r["comprehensive_tce_equivalent"] or 0)) for r in regions],
                title="各地区综合能耗(当量值) Comprehensive energy by region",
                unit="tce",
                notes=[names.equivalent],
            )
            + f"</section><section><h2>行业 Industries</h2><p>{ind_links or '暂无数据 no data yet'}</p></section>"
        )
    pages["index.html"] = _page(f"工业能耗在线监测 · {ym}", "Industrial Energy Monitor — monthly dashboards", body, nav)
    written = []
    for page_name, html in sorted(pages.items()):
        path = out_dir / page_name
        path.write_text(_stamped(html, as_of), encoding="utf-8")
        written.append(path)
    return written


def _trend_vs_last_year(conn, column: str, code: str, month: date):
    """Monthly 综合能耗 (当量值) of this year and last year up to `month` for one region or industry: from
    the long history mart (metered + calibrated reported months) when built, else the metered marts; and
    whether any month of it rests on the enterprises' own reported totals."""
    history = _exists(conn, "marts.fct_enterprise_monthly_history")
    source = "marts.fct_enterprise_monthly_history" if history else "marts.fct_enterprise_monthly"
    reported = "bool_or(source = 'reported')" if history else "false"
    trend = _q(
        conn,
        f"select month, sum(comprehensive_tce_equivalent) v, {reported} reported from {source} "  # noqa: S608 - names from code
        f"where {column} = %s "
        "and month <= %s and month >= make_date(extract(year from %s::date)::int - 1, 1, 1) "
        "group by 1 order by 1",
        (code, month, month),
    )
    this_year = [(f"{t['month']:%m}月", float(t["v"])) for t in trend if t["month"].year == month.year]
    last_year = [(f"{t['month']:%m}月", float(t["v"])) for t in trend if t["month"].year == month.year - 1]
    return this_year, last_year, any(t["reported"] for t in trend)


def _trend_chart(trend, month: date, title: str, names: Names) -> str:
    this_year, last_year, reported = trend
    notes = [names.equivalent]
    if reported:
        notes.append("无计量或计量不完整的月份为企业上报数据，已按计量口径校准")
    return line_chart(
        {f"{month.year}年": this_year, **({f"{month.year - 1}年": last_year} if last_year else {})},
        title=title,
        unit="tce",
        notes=notes,
    )


def _months_back(month: date, n: int) -> date:
    k = month.year * 12 + month.month - 1 - n
    return date(k // 12, k % 12 + 1, 1)


def _fallback_note(series: list[dict]) -> str | None:
    """What a reader must know of the series that had too little history for a model (forecasting.py:
    < 15 complete months: the last value carried forward; the interval from the month-to-month variation,
    or ±10 % (1 σ) per √horizon with fewer than 3 months)."""
    fallbacks = [s for s in series if s["is_fallback"]]
    if not fallbacks:
        return None
    months = sorted({s["history_months"] for s in fallbacks if s["history_months"] is not None})
    span = f"{months[0]}" if len(months) == 1 else f"{months[0]}–{months[-1]}"
    assumed = any((s["history_months"] or 0) < 3 for s in fallbacks)
    interval = "区间按每月±10%（1倍标准差，随预测月数的平方根放大）假定" if assumed else "区间按逐月波动估算"
    which = "" if len(fallbacks) == len(series) else f"{len(fallbacks)}/{len(series)}个序列"
    return f"注意：{which}历史数据仅{span}个完整月（不足15个月），未建模，沿用末月值作为预测；{interval}"


def _forecast_section(conn, kind: str, column: str, code: str, month: date, names: Names, title: str) -> str:
    """Forecast vs actual for a region (Σ its region × industry series) or an enterprise (its own series,
    enterprises ≥ 100,000 tce): the last twelve months' actual 综合能耗 (history mart), the forecasts with
    their 80 % and 95 % prediction intervals, how each series was forecast and, when a series fell back to
    the last value, a note that says so."""
    fc = _q(
        conn,
        "select month, forecast_kind, sum(forecast_tce) f, sum(lower_80_tce) lo80, sum(upper_80_tce) hi80, "  # noqa: S608 - column from code
        "sum(lower_95_tce) lo95, sum(upper_95_tce) hi95, sum(actual_tce) a "
        f"from marts.fct_forecast_monthly where series_kind = %s and {column} = %s group by 1, 2 order by 1",
        (kind, code),
    )
    series = _q(
        conn,
        "select b.series_id, b.industry_code, coalesce(i.name_zh, b.industry_code) industry, b.model, "  # noqa: S608 - column from code
        "b.history_months, b.model = 'naive_fallback' is_fallback, b.mape "
        "from marts.rpt_forecast_backtest b left join marts.dim_industry i using (industry_code) "
        f"where b.series_kind = %s and b.{column} = %s and b.is_chosen order by b.series_id",
        (kind, code),
    )
    if not fc:
        return f"<section><h2>{escape(title)}</h2>" + empty("无预测序列 no forecast series") + "</section>"
    actual = []
    if _exists(conn, "marts.fct_enterprise_monthly_history"):
        actual = _q(
            conn,
            "select month, sum(comprehensive_tce_equivalent) v from marts.fct_enterprise_monthly_history "  # noqa: S608 - column from code
            f"where {column} = %s and month between %s and %s group by 1 order by 1",
            (code, _months_back(month, 11), month),
        )
    future = [x for x in fc if x["forecast_kind"] == "forecast"]
    lines = {
        "实际 actual": [(f"{x['month']:%Y-%m}", float(x["v"])) for x in actual],
        "预测 forecast": [(f"{x['month']:%Y-%m}", float(x["f"])) for x in fc if x["f"] is not None],
    }
    if actual and future:  # the forecast line starts at the last actual month
        lines["预测 forecast"].insert(0, lines["实际 actual"][-1])
    bands = {
        "95%预测区间": ("#93c5fd", [(f"{x['month']:%Y-%m}", _num(x["lo95"]), _num(x["hi95"])) for x in future]),
        "80%预测区间": ("#2563eb", [(f"{x['month']:%Y-%m}", _num(x["lo80"]), _num(x["hi80"])) for x in future]),
    }
    notes = [names.equivalent]
    if kind == "region_industry":
        notes.append("地区预测为各行业预测之和；区间为各行业区间上下限之和（按各行业同向偏离计，偏宽）")
    fallback = _fallback_note(series)
    if fallback:
        notes.append(fallback)
    chart = line_chart(
        {**({"实际 actual": lines["实际 actual"]} if actual else {}), "预测 forecast": lines["预测 forecast"]},
        title=title,
        unit="tce",
        notes=notes,
        bands=bands,
    )
    by_series = _q(
        conn,
        "select series_id, month, forecast_tce f, lower_80_tce lo80, upper_80_tce hi80, lower_95_tce lo95, "  # noqa: S608 - column from code
        "upper_95_tce hi95 from marts.fct_forecast_monthly "
        f"where series_kind = %s and {column} = %s and forecast_kind = 'forecast' order by series_id, month",
        (kind, code),
    )
    methods = {x["series_id"]: x for x in series}
    rows: list[tuple[str, list[str]]] = []
    for x in by_series:
        method = methods.get(x["series_id"], {})
        first = not rows or rows[-1][0] != x["series_id"]
        label = method.get("industry") if kind == "region_industry" else "本企业"
        rows.append(
            (
                x["series_id"],
                [
                    escape(label or x["series_id"]) if first else "",
                    escape(name(FORECAST_MODEL, method.get("model"))) if first else "",
                    f"{x['month']:%Y-%m}",
                    _f(x["f"], 0),
                    f'<span class="nowrap">{_f(x["lo80"], 0)}–{_f(x["hi80"], 0)}</span>',
                    f'<span class="nowrap">{_f(x["lo95"], 0)}–{_f(x["hi95"], 0)}</span>',
                ],
            )
        )
    table = _table(
        [
            "行业 industry" if kind == "region_industry" else "序列 series",
            "预测方法 method",
            "月份 month",
            "预测(当量值) tce",
            "80%区间",
            "95%区间",
        ],
        [r for _, r in rows],
    )
    return f"<section>{chart}{table}</section>"


def _num(v) -> float | None:
    return None if v is None else float(v)


def _region_page(conn, r, month, nav, have_alerts, have_forecast, thresholds: Thresholds, names: Names) -> str:
    code = r["region_code"]
    trend = _trend_vs_last_year(conn, "region_code", code, month)
    daily = _q(
        conn,
        "select d.date, sum(d.tce_equivalent) v from marts.fct_enterprise_energy_daily d "
        "join marts.dim_enterprise e using (enterprise_id) join marts.dim_energy_type t using (energy_code) "
        "where e.region_code = %s and date_trunc('month', d.date) = %s and t.counts_toward_comprehensive "
        "group by 1 order by 1",
        (code, month),
    )
    by_ind = _q(
        conn,
        "select i.industry_code, coalesce(d.name_zh, i.industry_code) name, i.comprehensive_tce_equivalent v "
        "from marts.fct_region_industry_monthly i left join marts.dim_industry d using (industry_code) "
        "where i.region_code = %s and i.month = %s order by v desc",
        (code, month),
    )
    top = _q(
        conn,
        "select f.enterprise_id, e.name, f.comprehensive_tce_equivalent v, f.completeness, f.mom_change "
        "from marts.fct_enterprise_monthly f join marts.dim_enterprise e using (enterprise_id) "
        "where f.region_code = %s and f.month = %s order by v desc limit 10",
        (code, month),
    )
    cov = _q(
        conn, "select * from marts.rpt_coverage where region_code = %s and month = %s order by tier desc", (code, month)
    )
    parts = [
        "<section><h2>概览 Overview</h2>"
        + _kpis(
            [
                ("综合能耗(当量值) tce", _f(r["comprehensive_tce_equivalent"])),
                ("综合能耗(等价值) tce", _f(r["comprehensive_tce_equal_value"])),
                (
                    "上报/应报企业 reporting/expected",
                    f"{r['enterprises_reporting'] or 0}/{r['enterprises_expected'] or 0}",
                ),
                ("万元增加值能耗(当量值) tce/10⁴ yuan", _f(r["tce_per_10k_yuan_value_added"], 3)),
                ("环比(当量值) MoM", _pct(r["mom_change"])),
                ("同比(当量值) YoY", _pct(r["yoy_change"])),
            ]
        )
        + f'<p class="note">{escape(names.equivalent)}；{escape(_equal_value_statement(conn, month, names))}</p>'
        + "</section>",
        "<section>"
        + _trend_chart(trend, month, "月度综合能耗(当量值) Monthly trend vs last year", names)
        + "</section>",
        "<section>"
        + line_chart(
            {"综合能耗 tce": [(f"{d['date']:%d}日", float(d["v"])) for d in daily]},
            title="本月每日综合能耗(当量值) Daily comprehensive energy",
            unit="tce",
            notes=[names.equivalent],
        )
        + "</section>",
        "<section>"
        + bar_chart(
            [(f"{b['name']} {b['industry_code']}", float(b["v"])) for b in by_ind],
            title="分行业综合能耗(当量值) By industry",
            unit="tce",
            notes=[names.equivalent],
        )
        + "</section>",
        "<section><h2>重点企业 Top enterprises</h2>"
        + _table(
            ["企业 Enterprise", "综合能耗(当量值) tce", "完整率 completeness", "环比 MoM"],
            [
                [
                    f'<a href="enterprise_{t["enterprise_id"]}.html">{escape(t["name"])}</a>',
                    _f(t["v"]),
                    _judged(_pct(t["completeness"]), ok=(t["completeness"] or 0) >= thresholds.completeness),
                    _pct(t["mom_change"]),
                ]
                for t in top
            ],
        )
        + "</section>",
        _carbon_region_section(conn, code, month),
        "<section><h2>覆盖率与目标 Coverage vs targets</h2>"
        + (
            _table(
                [
                    "档次 Tier",
                    "应接入 expected",
                    "已接入 connected",
                    "上报 reporting",
                    "能源管控中心 centre",
                    f"完整率≥{thresholds.completeness:.0%}",
                    "接入率 share",
                ],
                [
                    [
                        escape(name(COVERAGE_TIER, c["tier"])),
                        c["enterprises_expected"],
                        c["enterprises_connected"],
                        c["enterprises_reporting"],
                        c["with_energy_centre"],
                        c["meeting_completeness_90"],
                        _pct(c["target_share_connected"]),
                    ]
                    for c in cov
                ],
            )
            + f'<p class="note">{TIER_NOTE}</p>'
            if cov
            else empty("暂无覆盖数据 no coverage data yet")
        )
        + "</section>",
    ]
    if have_alerts:
        parts.append(_alerts_section(conn, month, "e.region_code = %s", (code,), f"本月预警 Alerts of {month:%Y-%m}"))
    else:
        parts.append("<section><h2>本月预警 Alerts</h2>" + empty("预警尚未生成 alerts not built yet") + "</section>")
    if have_forecast:
        parts.append(
            _forecast_section(
                conn, "region_industry", "region_code", code, month, names, "预测与实际(当量值) Forecast vs actual"
            )
        )
    else:
        parts.append(
            "<section><h2>预测与实际 Forecast vs actual</h2>"
            + empty("预测尚未生成 forecasts not built yet")
            + "</section>"
        )
    return _page(
        f"{r['name_zh']} {code} · {month:%Y-%m}", f"{r['name_en']} — 地区概览 region overview", "".join(parts), nav
    )


TIER_NOTE = "档次按近12个月计量综合能耗（当量值）划分"


GRID_BASIS_SQL = {
    "region": "select max(grid_factor_t_per_mwh) f, max(grid_factor_data_year) y, max(grid_factor_series) s "
    "from marts.fct_enterprise_carbon_monthly where region_code = %s and month = %s",
    "enterprise": "select max(grid_factor_t_per_mwh) f, max(grid_factor_data_year) y, max(grid_factor_series) s "
    "from marts.fct_enterprise_carbon_monthly where enterprise_id = %s and month = %s",
}


def _grid_basis(conn, kind: str, code: str, month: date) -> str:
    """The CO2 statement of the month's figures, with the grid factor the enterprises took."""
    found = _q(conn, GRID_BASIS_SQL[kind], (code, month))
    g = found[0] if found else {}
    return basis_co2(_num(g.get("f")), g.get("y"), g.get("s"))


def _carbon_region_section(conn, code: str, month: date) -> str:
    """CO2 and the dual-control indicators of the region's month (marts/carbon)."""
    if not _exists(conn, "marts.fct_region_carbon_monthly"):
        return (
            "<section><h2>碳排放与双控 CO₂ and dual control</h2>" + empty("碳排放尚未生成 not built yet") + "</section>"
        )
    found = _q(
        conn, "select * from marts.fct_region_carbon_monthly where region_code = %s and month = %s", (code, month)
    )
    if not found:
        return "<section><h2>碳排放与双控 CO₂ and dual control</h2>" + empty("本月无数据 no data") + "</section>"
    c = found[0]
    by_ind = _q(
        conn,
        "select i.industry_code, coalesce(d.name_zh, i.industry_code) name, i.total_co2_t v "
        "from marts.fct_region_industry_carbon_monthly i left join marts.dim_industry d using (industry_code) "
        "where i.region_code = %s and i.month = %s order by v desc nulls last",
        (code, month),
    )
    basis = _grid_basis(conn, "region", code, month)
    notes = [basis]
    if c["enterprises_factor_missing"]:
        notes.append(f"{c['enterprises_factor_missing']} 家企业排放因子缺失，合计不显示")
    return (
        "<section><h2>碳排放与双控 CO₂ and dual control</h2>"
        + _kpis(
            [
                ("能源活动CO₂ tCO₂", "因子缺失" if c["enterprises_factor_missing"] else _f(c["total_co2_t"])),
                ("直接(化石燃料燃烧) tCO₂", _f(c["direct_co2_t"])),
                ("间接(净购入电力) tCO₂", _f(c["indirect_electricity_co2_t"])),
                ("万元增加值CO₂ tCO₂/10⁴ yuan", _f(c["co2_t_per_10k_yuan_value_added"], 3)),
                ("扣除原料用能(当量值) tce", _f(c["tce_net_of_raw_material"])),
                ("扣除非化石能源(当量值) tce", _f(c["tce_net_of_non_fossil"])),
            ]
        )
        + bar_chart(
            [(f"{b['name']} {b['industry_code']}", float(b["v"])) for b in by_ind if b["v"] is not None],
            title="分行业能源活动CO₂ CO₂ by industry",
            unit="tCO₂",
            notes=notes,
        )
        + "</section>"
    )


def _carbon_enterprise_section(conn, ent: str, month: date, names: Names) -> str:
    """The enterprise's CO2 by energy kind: activity × factor, as the mart computed it."""
    if not _exists(conn, "marts.fct_enterprise_energy_co2_monthly"):
        return ""
    rows = _q(
        conn,
        "select * from marts.fct_enterprise_energy_co2_monthly where enterprise_id = %s and month = %s "
        "and (quantity <> 0 or quantity_raw_material <> 0) order by emission_scope, energy_code",
        (ent, month),
    )
    found = _q(
        conn, "select * from marts.fct_enterprise_carbon_monthly where enterprise_id = %s and month = %s", (ent, month)
    )
    if not rows or not found:
        return ""
    c = found[0]
    return (
        "<section><h2>碳排放 CO₂</h2>"
        + _kpis(
            [
                ("能源活动CO₂ tCO₂", "因子缺失" if c["factor_missing"] else _f(c["total_co2_t"])),
                ("万元增加值CO₂ tCO₂/10⁴ yuan", _f(c["co2_t_per_10k_yuan_value_added"], 3)),
                ("扣除原料用能(当量值) tce", _f(c["tce_net_of_raw_material"])),
            ]
        )
        + _table(
            ["能源 energy", "类别 scope", "排放量计算基数", "排放因子", "CO₂ t"],
            [
                [
                    escape(names.energy_name(r["energy_code"])),
                    escape(name(EMISSION_SCOPE, r["emission_scope"])),
                    f"{_f(r['activity'], 1)} {'GJ' if r['activity_unit'] == 'GJ' else 'MWh'}",
                    f"{_f(r['co2_factor'], 4)} tCO₂/{'GJ' if r['activity_unit'] == 'GJ' else 'MWh'}"
                    if r["co2_factor"] is not None
                    else "缺失",
                    _f(r["co2_t"]) if r["co2_t"] is not None else "缺失",
                ]
                for r in rows
            ],
        )
        + f'<p class="note">{escape(_grid_basis(conn, "enterprise", ent, month))}；'
        "燃料按燃烧部分的热量（GJ）计，用作原料部分不计</p>" + "</section>"
    )


def _equal_value_statement(conn, month: date, names: Names) -> str:
    """The 等价值 basis as the month applied it: electricity at the dated parameter (seed
    equal_value_parameters, the generation coal rate of its basis year); heat stays at 当量值 (its 等价值
    by the heat-supply coal rate is not modelled: dim_energy_type's note)."""
    row = conn.execute(
        "select max(equal_value_coefficient), max(equal_value_basis_year) from marts.fct_enterprise_energy_daily "
        "where energy_code = 'electricity' and date_trunc('month', date) = %s",
        (month,),
    ).fetchone()
    coefficient, year = (row or (None, None))[:2]
    return basis_equal_value(float(coefficient) if coefficient is not None else None, year)


def _grade(u) -> str:
    """The grade a product reached, or why it has none, in words."""
    if u["limit_grade_reached"]:
        return name(LIMIT_GRADE, u["limit_grade_reached"])
    return name(LIMIT_STATUS, u["limit_status"])


def _product_basis(u) -> str:
    """The basis of a unit-product figure as its mart row says: the standard's electricity basis,
    fuels only for 供电煤耗, working media where the standard counts them."""
    basis = "等价值" if u["electricity_basis"] == "equal_value" else "当量值"
    scope = "仅计燃料" if u["energy_scope"] == "fuel" else "综合能耗"
    media = "，含耗能工质" if u.get("working_media_tce") else ""
    return f"{basis}（{scope}{media}）"


def _industry_page(conn, ind, month, nav, names: Names) -> str:
    code = ind["industry_code"]
    by_region = _q(
        conn,
        "select i.region_code, r.name_zh, i.comprehensive_tce_equivalent v, i.enterprises_reporting, "
        "i.share_of_region, i.tce_per_10k_yuan_value_added from marts.fct_region_industry_monthly i "
        "join marts.dim_region r using (region_code) where i.industry_code = %s and i.month = %s "
        "order by v desc",
        (code, month),
    )
    upe = _q(
        conn,
        "select p.product_code, p.enterprise_id, e.name, p.unit_product_energy, p.indicator_unit, "
        "p.limit_grade_reached, p.limit_status, p.standard, p.electricity_basis, p.energy_scope, p.working_media_tce "
        "from marts.fct_unit_product_energy_monthly p join marts.dim_enterprise e using (enterprise_id) "
        "where e.industry_code = %s and p.month = %s order by p.product_code, p.unit_product_energy desc",
        (code, month),
    )
    trend = _trend_vs_last_year(conn, "industry_code", code, month)
    top = _q(
        conn,
        "select f.enterprise_id, e.name, f.comprehensive_tce_equivalent v from marts.fct_enterprise_monthly f "
        "join marts.dim_enterprise e using (enterprise_id) where f.industry_code = %s and f.month = %s "
        "order by v desc limit 10",
        (code, month),
    )
    body = (
        "<section>"
        + _trend_chart(trend, month, "行业月度综合能耗(当量值) Monthly trend vs last year", names)
        + "</section>"
        + "<section>"
        + bar_chart(
            [(t["name"] or t["enterprise_id"], float(t["v"] or 0)) for t in top],
            title="重点企业综合能耗(当量值) Top enterprises",
            unit="tce",
            notes=[names.equivalent],
        )
        + "</section>"
        + "<section>"
        + bar_chart(
            [(f"{b['name_zh']}", float(b["v"])) for b in by_region],
            title="各地区综合能耗(当量值) By region",
            unit="tce",
            notes=[names.equivalent],
        )
        + _table(
            ["地区 Region", "综合能耗(当量值) tce", "上报企业 reporting", "占地区比重 share", "万元增加值能耗(当量值)"],
            [
                [
                    f'<a href="region_{b["region_code"]}.html">{escape(b["name_zh"])}</a>',
                    _f(b["v"]),
                    b["enterprises_reporting"],
                    _pct(b["share_of_region"]),
                    _f(b["tce_per_10k_yuan_value_added"], 3),
                ]
                for b in by_region
            ],
        )
        + "</section>"
        + "<section><h2>单位产品综合能耗 Unit-product energy</h2>"
        + (
            _table(
                [
                    "产品 product",
                    "企业 enterprise",
                    "单位产品能耗",
                    "单位 unit",
                    "口径 basis",
                    "等级 grade",
                    "标准 standard",
                ],
                [
                    [
                        escape(names.product_name(u["product_code"])),
                        f'<a href="enterprise_{u["enterprise_id"]}.html">{escape(u["name"] or "")}</a>',
                        _f(u["unit_product_energy"]),
                        escape(u["indicator_unit"] or ""),
                        escape(_product_basis(u)),
                        _judged(escape(_grade(u)), ok=u["limit_grade_reached"] != "above_limit"),
                        escape(u["standard"] or NO_LIMIT),
                    ]
                    for u in upe
                ],
            )
            + f'<p class="note">{escape(UPE_NOTE)}</p>'
            if upe
            else '<p class="note">无 none</p>'
        )
        + "</section>"
    )
    return _page(f"{ind['name_zh'] or code} {code} · {month:%Y-%m}", "行业视图 industry view", body, nav)


NO_LIMIT = "无现行限额标准"
UPE_NOTE = (
    "单位产品能耗按评级所依据限额标准的口径计算（电力折标按该标准规定的当量值或等价值；"
    "耗能工质按标准自身系数，否则按 GB/T 2589-2020 附录B 折标）；3级为限定值"
)


def _enterprise_page(conn, ent, month, nav, names: Names, have_forecast: bool) -> str:
    info = _q(conn, "select * from marts.dim_enterprise where enterprise_id = %s", (ent,))[0]
    m = _q(conn, "select * from marts.fct_enterprise_monthly where enterprise_id = %s and month = %s", (ent, month))[0]
    daily = _q(
        conn,
        "select d.date, sum(d.tce_equivalent) v from marts.fct_enterprise_energy_daily d "
        "join marts.dim_energy_type t using (energy_code) where d.enterprise_id = %s "
        "and date_trunc('month', d.date) = %s and t.counts_toward_comprehensive group by 1 order by 1",
        (ent, month),
    )
    mix = _q(
        conn,
        # the parts of 综合能耗 (working media count only in unit-product energy, at their 等价值)
        "select e.energy_code, e.tce_equivalent v from marts.fct_enterprise_energy_monthly e "
        "join marts.dim_energy_type t using (energy_code) where e.enterprise_id = %s and e.month = %s "
        "and t.counts_toward_comprehensive order by v desc",
        (ent, month),
    )
    procs = _q(
        conn,
        "select p.process_code, p.energy_code, p.quantity, p.unit, p.tce_equivalent, t.is_working_medium "
        "from marts.fct_process_monthly p join marts.dim_energy_type t using (energy_code) "
        "where p.enterprise_id = %s and p.month = %s order by 1, 2",
        (ent, month),
    )
    upe = _q(
        conn,
        # the limits applied (edition in force, corrections computed from the data), as the mart judged them
        "select p.*, array_remove(array[p.limit_value_grade1, p.limit_value_grade2, p.limit_value_grade3], null) "
        "as limits from marts.fct_unit_product_energy_monthly p where enterprise_id = %s and month = %s",
        (ent, month),
    )
    sc = _q(conn, "select * from marts.rpt_quality_scorecard where enterprise_id = %s and month = %s", (ent, month))
    upe_charts = "".join(_upe_chart(u, names) for u in upe) or '<p class="note">无产品数据 no product data</p>'
    s = sc[0] if sc else {}
    left_out = [names.energy_name(x["energy_code"]) for x in mix if (x["v"] or 0) <= 0]
    mix_notes = [names.equivalent + "；不含耗能工质"]
    if left_out:
        mix_notes.append(f"净外供（≤0）未计入图中：{'、'.join(left_out)}")
    body = (
        "<section><h2>概览 Overview</h2>"
        + _kpis(
            [
                ("综合能耗(当量值) tce", _f(m["comprehensive_tce_equivalent"])),
                ("综合能耗(等价值) tce", _f(m["comprehensive_tce_equal_value"])),
                ("万元增加值能耗(当量值)", _f(m["tce_per_10k_yuan_value_added"], 3)),
                ("完整率 completeness", _pct(m["completeness"])),
                ("估算占比 estimated", _pct(m["estimated_share"])),
                ("环比(当量值) MoM", _pct(m["mom_change"])),
            ]
        )
        + f'<p class="note">{escape(info["name"])} · {info["region_code"]} · '
        f"{escape(info['industry_name_zh'] or '')} {info['industry_code']}"
        f" · 能源管控中心 {'有' if info['has_energy_centre'] else '无'}</p>"
        + f'<p class="note">{escape(names.equivalent)}；{escape(_equal_value_statement(conn, month, names))}</p>'
        + "</section>"
        + "<section>"
        + line_chart(
            {"综合能耗 tce": [(f"{d['date']:%d}日", float(d["v"])) for d in daily]},
            title="每日综合能耗(当量值) Daily profile",
            unit="tce",
            notes=[names.equivalent],
        )
        + "</section>"
        + "<section>"
        + donut(
            [(names.energy_name(x["energy_code"]), float(x["v"] or 0)) for x in mix],
            title="能源结构(当量值) Energy mix",
            notes=mix_notes,
        )
        + "</section>"
        + "<section><h2>工序 Processes</h2>"
        + (
            _table(
                ["工序 process", "能源 energy", "数量 quantity", "单位 unit", "折标量 tce", "口径 basis"],
                [
                    [
                        escape(names.process_name(p["process_code"])),
                        escape(names.energy_name(p["energy_code"])),
                        _f(p["quantity"]),
                        escape(UNIT.get(p["unit"], p["unit"] or "")),
                        _f(p["tce_equivalent"], 2),
                        "等价值（耗能工质，GB/T 2589-2020 附录B）" if p["is_working_medium"] else "当量值",
                    ]
                    for p in procs
                ],
            )
            + '<p class="note">工序净能耗 = 工序消耗 − 外供 − 工序内产出或回收</p>'
            if procs
            else '<p class="note">无工序计量 no process meters</p>'
        )
        + "</section>"
        + _carbon_enterprise_section(conn, ent, month, names)
        + f"<section><h2>单位产品能耗与限额 Unit-product energy vs limits</h2>{upe_charts}</section>"
        + "<section><h2>数据质量 Data quality</h2>"
        + _table(
            ["指标 indicator", "值 value"],
            [
                ["完整率 completeness", _pct(s.get("completeness"))],
                ["及时率 timeliness", _pct(s.get("timeliness"))],
                ["有效率 validity", _pct(s.get("validity"))],
                ["估算占比 estimated share", _pct(s.get("estimated_share"))],
                ["计量器具检定 calibration", CALIBRATION[bool(s.get("calibration_ok"))]],
                ["与企业上报差异(当量值) vs own totals", _pct(s.get("totals_consistency"))],
            ],
        )
        + "</section>"
    )
    if _exists(conn, "marts.fct_alerts"):
        body += _alerts_section(conn, month, "a.enterprise_id = %s", (ent,), f"本月预警 Alerts of {month:%Y-%m}")
    if have_forecast and _q(
        conn, "select 1 from marts.fct_forecast_monthly where series_kind = 'enterprise' and enterprise_id = %s", (ent,)
    ):
        body += _forecast_section(
            conn, "enterprise", "enterprise_id", ent, month, names, "预测与实际(当量值) Forecast vs actual"
        )
    return _page(f"{info['name']} · {month:%Y-%m}", f"{ent} — 企业钻取 enterprise drill-down", body, nav)


UNIT = {"m3": "m³", "10k_m3": "万m³"}


def _upe_chart(u, names: Names) -> str:
    """One product's unit-product energy beside the limits applied, with its basis and grade in words."""
    product = names.product_name(u["product_code"])
    if u["standard"]:
        notes = [f"口径：{_product_basis(u)}，按 {u['standard']} 规定"]
    else:
        notes = [f"口径：{_product_basis(u)}（无现行限额标准，按 GB/T 2589-2020）"]
    grade = f"等级：{_grade(u)}"
    if u["is_possible_breach"]:
        grade += "（可能超限：部分修正项未计，按基准限额判断）"
    notes.append(grade)
    missing = [name(LIMIT_CORRECTION, c.strip()) for c in (u["corrections_missing"] or "").split(",") if c.strip()]
    if missing:
        notes.append(f"未计修正：{'、'.join(missing)}")
    applied = [name(LIMIT_CORRECTION, c.strip()) for c in (u["corrections_applied"] or "").split(",") if c.strip()]
    if applied:
        notes.append(f"已计修正：{'、'.join(applied)}（限额随之调整）")
    return bar_chart(
        [(product, float(u["unit_product_energy"] or 0))],
        title=f"{product} 单位产品综合能耗",
        unit=u["indicator_unit"] or "",
        notes=notes,
        reference=[(f"{g}级", float(v)) for g, v in zip(("1", "2", "3"), u["limits"] or [], strict=False)],
    )


def _acceptance_page(conn, month, nav, names: Names) -> str:
    cov = _q(
        conn,
        "select c.*, r.name_zh from marts.rpt_coverage c join marts.dim_region r using (region_code) "
        "where c.month = %s order by c.region_code, c.tier desc",
        (month,),
    )
    exports = []
    if _exists(conn, "audit.export_revisions"):
        exports = _q(
            conn,
            "select v.region_code, r.name_zh, max(v.revision) revision, "
            "(select count(*) from audit.export_deliveries d where d.region_code = v.region_code "
            "and d.month = v.month and d.status = 'delivered') delivered "
            "from audit.export_revisions v left join marts.dim_region r using (region_code) "
            "where v.month = %s group by v.region_code, r.name_zh, v.month order by 1",
            (month,),
        )
    rows = []
    for c in cov:
        target = "2012年底 end-2012" if c["tier"] == ">=100000" else "2013年底 end-2013"
        share = c["target_share_connected"]
        met = share is not None and float(share) >= 1.0
        rows.append(
            [
                f"{escape(c['name_zh'])} {c['region_code']}",
                escape(name(COVERAGE_TIER, c["tier"])),
                target,
                c["enterprises_expected"],
                c["enterprises_connected"],
                c["with_energy_centre"],
                c["meeting_completeness_90"],
                f'<span class="{"ok" if met else "bad"}">{_pct(share)}</span>',
            ]
        )
    body = (
        "<section><h2>接入目标 Connection targets (工信部节〔2012〕340号)</h2>"
        '<p class="note">≥100,000 tce 的企业 2012 年底前全部接入；≥10,000 tce 的企业 2013 年底前全部接入。'
        "All enterprises ≥100,000 tce connected by end-2012; all ≥10,000 tce by end-2013.</p>"
        + (
            _table(
                [
                    "地区 region",
                    "档次 tier",
                    "目标期限 deadline",
                    "应接入 expected",
                    "已接入 connected",
                    "能源管控中心 centre",
                    "完整率≥90%",
                    "接入率 share",
                ],
                rows,
            )
            + f'<p class="note">{TIER_NOTE}</p>'
            if rows
            else empty("暂无数据 no data yet")
        )
        + "</section>"
        + "<section>"
        + bar_chart(
            [
                (f"{c['name_zh']} {name(COVERAGE_TIER, c['tier'])}", float(c["target_share_connected"]) * 100)
                for c in cov
                if c["target_share_connected"] is not None
            ],
            title="接入率 Connected share",
            unit="%",
            notes=[TIER_NOTE, "本档次无应接入企业的地区不列出"],
        )
        + "</section>"
        + "<section><h2>月度报送 Exports to the national system</h2>"
        + (
            _table(
                ["地区 region", "版本 revision", "已送达 deliveries"],
                [[f"{escape(e['name_zh'] or '')} {e['region_code']}", e["revision"], e["delivered"]] for e in exports],
            )
            if exports
            else '<p class="note">本月尚未导出 not exported yet</p>'
        )
        + "</section>"
    )
    return _page(
        f"验收报告 Acceptance report · {month:%Y-%m}",
        "平台、企业接入与监测指标 platform, connection and monitoring figures",
        body,
        nav,
    )
