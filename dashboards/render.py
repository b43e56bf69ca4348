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
.note{color:#64748b;font-size:12px}nav a{margin-right:12px}
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
    return "–" if v is None else f"{float(v) * 100:.1f}%"


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
ALERT_FAMILY = {"data_fault": "数据故障", "consumption": "用能异常"}
ALERT_SEVERITY = {"critical": "严重", "warning": "警告", "info": "提示"}
ALERT_STATUS = {"open": "未关闭", "resolved": "已关闭"}
ALERT_KIND = {
    "gap": "数据缺失",
    "silent_feed": "数据中断",
    "register_reset": "表码复位",
    "rollover": "表码翻转",
    "meter_replacement": "换表",
    "negative": "负值",
    "overlapping_period": "时段重叠",
    "spike": "尖峰",
    "unit_error": "单位错误",
    "duplicate": "重复上报",
    "invalid_enterprise_id": "信用代码无效",
    "unknown_meter": "未登记计量器具",
    "malformed_row": "格式错误",
    "calibration_expired": "检定过期",
    "totals_inconsistent": "上报与监测不一致",
    "limit_breach": "超限额",
    "abnormal_rise": "能耗异常上升",
    "annual_target_at_risk": "年度目标预警",
}


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
            escape(ALERT_FAMILY.get(a["family"], a["family"])),
            escape(ALERT_KIND.get(a["fault_kind"], a["fault_kind"])),
            escape(ALERT_SEVERITY.get(a["severity"], a["severity"])),
            escape(ALERT_STATUS.get(a["status"], a["status"])),
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
        have_alerts = _exists(conn, "marts.fct_alerts")
        have_forecast = _exists(conn, "marts.fct_forecast_monthly")
        for r in regions:
            pages[f"region_{r['region_code']}.html"] = _region_page(
                conn, r, month, nav, have_alerts, have_forecast, thresholds
            )
        industries = _q(
            conn,
            "select distinct f.industry_code, i.name_zh from marts.fct_enterprise_monthly f "
            "left join marts.dim_industry i using (industry_code) where f.month = %s order by 1",
            (month,),
        )
        for ind in industries:
            pages[f"industry_{ind['industry_code']}.html"] = _industry_page(conn, ind, month, nav)
        ents = _q(conn, "select enterprise_id from marts.fct_enterprise_monthly where month = %s order by 1", (month,))
        for e in ents:
            pages[f"enterprise_{e['enterprise_id']}.html"] = _enterprise_page(conn, e["enterprise_id"], month, nav)
        pages["acceptance.html"] = _acceptance_page(conn, month, nav)
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
                title="各地区综合能耗 Comprehensive energy by region",
                unit="tce",
            )
            + f"</section><section><h2>行业 Industries</h2><p>{ind_links or '暂无数据 no data yet'}</p></section>"
        )
    pages["index.html"] = _page(f"工业能耗在线监测 · {ym}", "Industrial Energy Monitor — monthly dashboards", body, nav)
    written = []
    for name, html in sorted(pages.items()):
        path = out_dir / name
        path.write_text(_stamped(html, as_of), encoding="utf-8")
        written.append(path)
    return written


def _trend_vs_last_year(conn, column: str, code: str, month: date):
    """Monthly 综合能耗 of this year and last year up to `month` for one region or industry: from the
    long history mart (metered + calibrated reported months) when built, else the metered marts."""
    source = (
        "marts.fct_enterprise_monthly_history"
        if _exists(conn, "marts.fct_enterprise_monthly_history")
        else "marts.fct_enterprise_monthly"
    )
    trend = _q(
        conn,
        f"select month, sum(comprehensive_tce_equivalent) v from {source} where {column} = %s "  # noqa: S608 - names from code
        "and month <= %s and month >= make_date(extract(year from %s::date)::int - 1, 1, 1) "
        "group by 1 order by 1",
        (code, month, month),
    )
    this_year = [(f"{t['month']:%m}月", float(t["v"])) for t in trend if t["month"].year == month.year]
    last_year = [(f"{t['month']:%m}月", float(t["v"])) for t in trend if t["month"].year == month.year - 1]
    return this_year, last_year


def _trend_chart(this_year, last_year, month: date, title: str) -> str:
    return line_chart(
        {f"{month.year}年": this_year, **({f"{month.year - 1}年": last_year} if last_year else {})},
        title=title,
        unit="tce",
    )


def _region_page(conn, r, month, nav, have_alerts, have_forecast, thresholds: Thresholds) -> str:
    code = r["region_code"]
    this_year, last_year = _trend_vs_last_year(conn, "region_code", code, month)
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
                ("万元增加值能耗 tce/10⁴ yuan", _f(r["tce_per_10k_yuan_value_added"], 3)),
                ("环比 MoM", _pct(r["mom_change"])),
                ("同比 YoY", _pct(r["yoy_change"])),
            ]
        )
        + "</section>",
        "<section>"
        + _trend_chart(this_year, last_year, month, "月度综合能耗(当量值) Monthly trend vs last year")
        + "</section>",
        "<section>"
        + line_chart(
            {"综合能耗 tce": [(f"{d['date']:%d}", float(d["v"])) for d in daily]},
            title="本月每日综合能耗 Daily comprehensive energy",
            unit="tce",
        )
        + "</section>",
        "<section>"
        + bar_chart(
            [(f"{b['name']} {b['industry_code']}", float(b["v"])) for b in by_ind],
            title="分行业 By industry",
            unit="tce",
        )
        + "</section>",
        "<section><h2>重点企业 Top enterprises</h2>"
        + _table(
            ["企业 Enterprise", "综合能耗 tce", "完整率 completeness", "环比 MoM"],
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
        "<section><h2>覆盖率与目标 Coverage vs targets</h2>"
        + (
            _table(
                [
                    "档次 Tier",
                    "应接入 expected",
                    "已接入 connected",
                    "上报 reporting",
                    "能源管控中心 centre",
                    "完整率≥90%",
                    "接入率 share",
                ],
                [
                    [
                        c["tier"],
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
        fc = _q(
            conn,
            "select month, sum(forecast_tce) f, sum(actual_tce) a from marts.fct_forecast_monthly "
            "where region_code = %s and series_kind = 'region_industry' group by 1 order by 1",
            (code,),
        )
        parts.append(
            "<section>"
            + line_chart(
                {
                    "预测 forecast": [(f"{x['month']:%Y-%m}", float(x["f"] or 0)) for x in fc],
                    "实际 actual": [(f"{x['month']:%Y-%m}", float(x["a"])) for x in fc if x["a"] is not None],
                },
                title="预测与实际 Forecast vs actual",
                unit="tce",
            )
            + "</section>"
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


def _industry_page(conn, ind, month, nav) -> str:
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
        "select p.product_code, p.enterprise_id, p.unit_product_energy, p.limit_grade_reached, p.standard "
        "from marts.fct_unit_product_energy_monthly p join marts.dim_enterprise e using (enterprise_id) "
        "where e.industry_code = %s and p.month = %s order by p.product_code, p.unit_product_energy desc",
        (code, month),
    )
    this_year, last_year = _trend_vs_last_year(conn, "industry_code", code, month)
    top = _q(
        conn,
        "select f.enterprise_id, e.name, f.comprehensive_tce_equivalent v from marts.fct_enterprise_monthly f "
        "join marts.dim_enterprise e using (enterprise_id) where f.industry_code = %s and f.month = %s "
        "order by v desc limit 10",
        (code, month),
    )
    body = (
        "<section>"
        + _trend_chart(this_year, last_year, month, "行业月度综合能耗 Monthly trend vs last year")
        + "</section>"
        + "<section>"
        + bar_chart(
            [(t["name"] or t["enterprise_id"], float(t["v"] or 0)) for t in top],
            title="重点企业 Top enterprises",
            unit="tce",
        )
        + "</section>"
        + "<section>"
        + bar_chart([(f"{b['name_zh']}", float(b["v"])) for b in by_region], title="各地区 By region", unit="tce")
        + _table(
            ["地区 Region", "综合能耗 tce", "上报企业 reporting", "占地区比重 share", "万元增加值能耗"],
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
                ["产品 product", "企业 enterprise", "kgce/t", "等级 grade", "标准 standard"],
                [
                    [
                        u["product_code"],
                        f'<a href="enterprise_{u["enterprise_id"]}.html">{u["enterprise_id"]}</a>',
                        _f(u["unit_product_energy"]),
                        _judged(u["limit_grade_reached"] or "–", ok=u["limit_grade_reached"] != "above_limit"),
                        u["standard"] or "无现行限额 no limit in force",
                    ]
                    for u in upe
                ],
            )
            if upe
            else '<p class="note">无 none</p>'
        )
        + "</section>"
    )
    return _page(f"{ind['name_zh'] or code} {code} · {month:%Y-%m}", "行业视图 industry view", body, nav)


NO_LIMIT = "无现行限额 no limit in force"


def _enterprise_page(conn, ent, month, nav) -> str:
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
        "select t.name_zh, e.tce_equivalent v from marts.fct_enterprise_energy_monthly e "
        "join marts.dim_energy_type t using (energy_code) where e.enterprise_id = %s and e.month = %s "
        "order by v desc",
        (ent, month),
    )
    procs = _q(
        conn,
        "select process_code, energy_code, quantity, unit, tce_equivalent from marts.fct_process_monthly "
        "where enterprise_id = %s and month = %s order by 1, 2",
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
    upe_charts = (
        "".join(
            bar_chart(
                [(f"{u['product_code']}", float(u["unit_product_energy"] or 0))],
                title=f"{u['product_code']} 单位产品综合能耗 {u['indicator_unit']}",
                unit=u["indicator_unit"],
                reference=[(f"{g}级", float(v)) for g, v in zip(("1", "2", "3"), u["limits"] or [], strict=False)],
            )
            + f'<p class="note">等级 grade: {u["limit_grade_reached"] or escape(u["limit_status_note"] or NO_LIMIT)}'
            f"{' — 可能超限 possible breach (基准值, 未修正)' if u['is_possible_breach'] else ''}</p>"
            for u in upe
        )
        or '<p class="note">无产品数据 no product data</p>'
    )
    s = sc[0] if sc else {}
    body = (
        "<section><h2>概览 Overview</h2>"
        + _kpis(
            [
                ("综合能耗(当量值) tce", _f(m["comprehensive_tce_equivalent"])),
                ("综合能耗(等价值) tce", _f(m["comprehensive_tce_equal_value"])),
                ("万元增加值能耗", _f(m["tce_per_10k_yuan_value_added"], 3)),
                ("完整率 completeness", _pct(m["completeness"])),
                ("估算占比 estimated", _pct(m["estimated_share"])),
                ("环比 MoM", _pct(m["mom_change"])),
            ]
        )
        + f'<p class="note">{escape(info["name"])} · {info["region_code"]} · '
        f"{escape(info['industry_name_zh'] or '')} {info['industry_code']}"
        f" · 能源管控中心 {'有' if info['has_energy_centre'] else '无'}</p></section>"
        + "<section>"
        + line_chart(
            {"综合能耗 tce": [(f"{d['date']:%d}", float(d["v"])) for d in daily]},
            title="每日综合能耗 Daily profile",
            unit="tce",
        )
        + "</section>"
        + "<section>"
        + donut([(x["name_zh"], float(x["v"] or 0)) for x in mix], title="能源结构 Energy mix (tce)")
        + "</section>"
        + "<section><h2>工序 Processes</h2>"
        + (
            _table(
                ["工序 process", "能源 energy", "数量 quantity", "单位 unit", "tce"],
                [
                    [p["process_code"], p["energy_code"], _f(p["quantity"]), p["unit"], _f(p["tce_equivalent"], 2)]
                    for p in procs
                ],
            )
            if procs
            else '<p class="note">无工序计量 no process meters</p>'
        )
        + "</section>"
        + f"<section><h2>单位产品能耗与限额 Unit-product energy vs limits</h2>{upe_charts}</section>"
        + "<section><h2>数据质量 Data quality</h2>"
        + _table(
            ["指标 indicator", "值 value"],
            [
                ["完整率 completeness", _pct(s.get("completeness"))],
                ["及时率 timeliness", _pct(s.get("timeliness"))],
                ["有效率 validity", _pct(s.get("validity"))],
                ["估算占比 estimated share", _pct(s.get("estimated_share"))],
                ["计量器具检定 calibration", "合格 ok" if s.get("calibration_ok") else "过期 expired"],
                ["与企业上报差异 vs own totals", _pct(s.get("totals_consistency"))],
            ],
        )
        + "</section>"
    )
    if _exists(conn, "marts.fct_alerts"):
        body += _alerts_section(conn, month, "a.enterprise_id = %s", (ent,), f"本月预警 Alerts of {month:%Y-%m}")
    return _page(f"{info['name']} · {month:%Y-%m}", f"{ent} — 企业钻取 enterprise drill-down", body, nav)


def _acceptance_page(conn, month, nav) -> str:
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
            "select v.region_code, max(v.revision) revision, "
            "(select count(*) from audit.export_deliveries d where d.region_code = v.region_code "
            "and d.month = v.month and d.status = 'delivered') delivered "
            "from audit.export_revisions v where v.month = %s group by v.region_code, v.month order by 1",
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
                c["tier"],
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
            if rows
            else empty("暂无数据 no data yet")
        )
        + "</section>"
        + "<section>"
        + bar_chart(
            [(f"{c['name_zh']} {c['tier']}", float(c["target_share_connected"] or 0) * 100) for c in cov],
            title="接入率 Connected share (%)",
            unit="%",
        )
        + "</section>"
        + "<section><h2>月度报送 Exports to the national system</h2>"
        + (
            _table(
                ["地区 region", "版本 revision", "已送达 deliveries"],
                [[e["region_code"], e["revision"], e["delivered"]] for e in exports],
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
