"""What a person reads instead of a code: every code a dashboard shows goes through this module.

Names the warehouse already carries come from its reference seeds, read once per rendering
(energy types: seed energy_types.name_zh; products: seed products.name_zh; processes: seed
access_end_process_codes.name_zh by scope). Codes no seed names (alert families, kinds, severities and
statuses; limit grades and statuses; limit corrections; forecast models; coverage tiers) are named here,
once. A code nobody named is shown as `未命名(<code>)`, so a new code is visible as missing a name
instead of passing for one (the browser test fails on it)."""

from __future__ import annotations

from dataclasses import dataclass, field

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

# fct_unit_product_energy_monthly.limit_grade_reached: grade 3 is the 限定值 (existing plants)
LIMIT_GRADE = {"1": "1级", "2": "2级", "3": "3级", "above_limit": "超过限定值"}
# fct_unit_product_energy_monthly.limit_status (why a row has no grade)
LIMIT_STATUS = {
    "graded": "已评级",
    "no_standard_in_force": "本月无现行限额标准",
    "edition_values_unknown": "现行标准的限额值未收录，无法评级",
    "no_output": "本月无产量",
    "energy_not_attributable": "能耗无法归属到该产品（无该产品工序计量，不分摊全厂能耗）",
    "output_unit_unknown": "产量单位无法识别，未汇总",
}
# seed limit_corrections.correction
LIMIT_CORRECTION = {
    "clinker_share": "熟料占比修正",
    "altitude": "海拔修正",
    "ore_mix": "矿种配比修正",
    "feed_grade": "入炉品位修正",
    "scrap_and_grade": "废钢比与钢种修正",
    "hot_metal_ratio_and_grade": "铁水比与钢种修正",
    "fuel_coal_age_quenching": "炉龄与熄焦方式修正",
    "influence_factors": "机组影响因素修正",
}
# marts.fct_forecast_monthly.model (orchestration/lib/forecasting.py)
FORECAST_MODEL = {
    "seasonal_naive": "季节朴素法",
    "holt_winters": "Holt-Winters 季节模型",
    "holt_damped": "阻尼趋势模型",
    "naive_fallback": "沿用末月值（历史不足15个月）",
}
# marts.rpt_coverage.tier (tiers by measured 综合能耗, 当量值, trailing 12 months)
COVERAGE_TIER = {">=100000": "≥10万tce", ">=10000": "≥1万tce"}
CALIBRATION = {True: "合格", False: "过期"}
# marts.fct_enterprise_energy_co2_monthly.emission_scope
EMISSION_SCOPE = {
    "direct_combustion": "化石燃料燃烧（直接）",
    "indirect_electricity": "净购入电力（间接）",
    "indirect_heat": "净购入热力（间接）",
}
# seed emission_factors.series of the grid factor
GRID_FACTOR_SERIES = {
    "mee_nbs_national": "生态环境部、国家统计局全国电力平均二氧化碳排放因子",
    "ets_reporting_grid": "碳市场全国电网平均排放因子",
}

# The energy bases, as the charts state them (GB/T 2589-2020). The 当量值 coefficient of electricity is
# read from the warehouse (dim_energy_type) and filled in; the 等价值 parameter is dated (the previous
# year's generation coal rate, seed equal_value_parameters) and stated with its value where one applies.
EQUIVALENT = "当量值"
EQUAL_VALUE = "等价值"


def basis_equivalent(electricity_kgce_per_kwh: float | None) -> str:
    coefficient = f"{electricity_kgce_per_kwh:.4f}" if electricity_kgce_per_kwh else "–"
    return f"口径：当量值（电力按 {coefficient} kgce/kWh 折标，GB/T 2589-2020）"


def basis_equal_value(parameter_kgce_per_kwh: float | None, basis_year: int | None = None) -> str:
    """The 等价值 statement: electricity at the generation coal rate of the parameter's basis year; every
    other energy at its 当量值 (int_enterprise_energy_daily: heat's 等价值 by the heat-supply coal rate is
    not modelled)."""
    year = f" {basis_year} 年" if basis_year else ""
    parameter = f" {parameter_kgce_per_kwh:.4f} kgce/kWh" if parameter_kgce_per_kwh else ""
    return f"口径：等价值（电力按{year}发电标准煤耗{parameter} 折标，其他能源按当量值，GB/T 2589-2020）"


def basis_co2(grid_factor: float | None, data_year: int | None, series: str | None) -> str:
    """The CO2 statement: what is counted and the grid factor the month took (seed emission_factors)."""
    if grid_factor is None:
        grid = "电力排放因子缺失"
    else:
        year = f"{data_year} 年" if data_year else ""
        grid = f"电力按{name(GRID_FACTOR_SERIES, series)}（{year}）{grid_factor:.4f} tCO₂/MWh"
    return f"口径：能源活动CO₂（化石燃料燃烧，不含用作原料；净购入电力、热力），{grid}"


def unnamed(code: object) -> str:
    return f"未命名({code})"


def name(mapping: dict, code) -> str:
    """The name of `code` in `mapping`; '' for no code; a visible 未命名 for a code without a name."""
    if code is None or code == "":
        return ""
    return mapping.get(code) or unnamed(code)


@dataclass
class Names:
    """The names the warehouse's reference seeds carry, read once per rendering."""

    energy: dict[str, str] = field(default_factory=dict)
    product: dict[str, str] = field(default_factory=dict)
    process: dict[str, str] = field(default_factory=dict)
    electricity_equivalent: float | None = None

    @classmethod
    def load(cls, conn) -> Names:
        def pairs(sql: str) -> dict[str, str]:
            if not conn.execute("select to_regclass(%s) is not null", (sql.split()[-1],)).fetchone()[0]:
                return {}
            return {code: zh for code, zh in conn.execute(sql).fetchall() if zh}

        energy = pairs("select energy_code, name_zh from marts.dim_energy_type")
        product = pairs("select product_code, name_zh from reference.products")
        process = pairs("select scope, name_zh from reference.access_end_process_codes")
        electricity = None
        if conn.execute("select to_regclass('marts.dim_energy_type') is not null").fetchone()[0]:
            row = conn.execute(
                "select coefficient_kgce_per_unit from marts.dim_energy_type where energy_code = 'electricity'"
            ).fetchone()
            electricity = float(row[0]) if row and row[0] is not None else None
        return cls(energy=energy, product=product, process=process, electricity_equivalent=electricity)

    def energy_name(self, code) -> str:
        return name(self.energy, code)

    def product_name(self, code) -> str:
        return name(self.product, code)

    def process_name(self, code) -> str:
        return name(self.process, code)

    @property
    def equivalent(self) -> str:
        """The 当量值 statement of a chart whose figures are at 当量值."""
        return basis_equivalent(self.electricity_equivalent)
