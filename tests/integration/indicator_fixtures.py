"""Four fixture enterprises for the indicator-system golden tests (contract v1.1 feed files).

Every meter sends one reading a day (00:00 → 24:00 Asia/Shanghai) with the same value every day of the
month, so a month's quantity is the daily value × the days of the month; the tests compute every
figure by hand from the daily values below.

- CEMENT: a cement works making clinker and cement (clinker share 80 %, not the 75 % basis); process
  meters on the kiln (clinker_kiln) and the cement stage (cement_grinding), offices unmetered.
  CEMENT_WAN: the same works reporting its output in 万吨 (and once in t, mixed in one month), plus a
  row in an unknown unit.
- STEEL: an integrated steel works (sinter, blast furnace, converter, crude steel) in March and July
  2026 with the same daily values: blast-furnace gas, TRT power, converter gas and steam recovered;
  blast air, oxygen and nitrogen as working media; purchases at the boundary only.
- POWER: a coal power plant supplying the grid, more efficient than the national 等价值 rate.
- CHEM: a coal-to-methanol plant: coal burned (with a measured heating value: a meter override) and
  coal used as raw material (用作原料); a non-industrial meter (dormitories).
- Value added (economics) for CHEM in March and STEEL in March and July; the others report none.
- AMMONIA: a coal-fired ammonia works for the 205-1 golden form (contract v1.2 inventories): boiler coal and
  coal as raw material drawn from a coal stock, electricity bought (part of it supplied to a neighbouring
  works, part used in dormitories), steam bought in t (205-1 books it under 热力 in 百万千焦), diesel for its
  trucks drawn from a stock; its statement of March closes.
- LEAKY: a small works whose coal stock does not close in March (the statement misses 450 t), while its
  electricity closes within the tolerance; it also reports a monthly coal total the meters do not bear out.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import uscc


def credit_code(body17: str) -> str:
    return body17 + uscc.calc_check_digit(body17)


CEMENT = credit_code("91330100MA2CEM001")
CEMENT_WAN = credit_code("91330100MA2CEM002")
STEEL = credit_code("91130100MA0GTL001")
POWER = credit_code("91330200MA2PWR001")
CHEM = credit_code("91330600MA2CHM001")
# two more: several products without process meters, and a process product reported alone
CHLOR = credit_code("91330600MA2CHL002")
SINTER_PLANT = credit_code("91130100MA0GTL003")
AMMONIA = credit_code("91330600MA2NH3001")
LEAKY = credit_code("91330600MA2LKY002")
HEBEI, ZHEJIANG = "130000", "330000"

MARCH, JULY = date(2026, 3, 1), date(2026, 7, 1)
DAYS = {MARCH: calendar.monthrange(2026, 3)[1], JULY: calendar.monthrange(2026, 7)[1]}  # 31, 31

ENTERPRISES = [
    # enterprise_id, name, region_code, industry_code
    (CEMENT, "浙江某水泥有限公司", "330100", "C3011"),
    (CEMENT_WAN, "浙江某水泥二厂", "330100", "C3011"),
    (STEEL, "河北某钢铁联合企业", "130100", "C3120"),
    (POWER, "浙江某燃煤电厂", "330200", "D4411"),
    (CHEM, "浙江某煤制甲醇厂", "330600", "C2614"),
    (CHLOR, "浙江某氯碱化工厂", "330600", "C2612"),
    (SINTER_PLANT, "河北某烧结厂", "130100", "C3110"),
    (AMMONIA, "浙江某煤制合成氨厂", "330600", "C2621"),
    (LEAKY, "浙江某小型机械厂", "330600", "C3311"),
]

# enterprise → [(meter_id, energy_code, unit, direction, scope, usage, coefficient_kgce, daily value)]
CEMENT_METERS = [
    ("COAL-01", "raw_coal", "t", "in", "boundary", "", "", 560),  # all coal goes to the kiln
    ("EL-01", "electricity", "kWh", "in", "boundary", "", "", 500_000),
    ("COAL-KILN", "raw_coal", "t", "in", "clinker_kiln", "", "", 560),
    ("EL-KILN", "electricity", "kWh", "in", "clinker_kiln", "", "", 220_000),
    ("EL-MILL", "electricity", "kWh", "in", "cement_grinding", "", "", 250_000),
    # the other 30,000 kWh a day (offices, lighting) are on no process meter
]
STEEL_METERS = [
    # purchases across the boundary
    ("COKE-01", "coke", "t", "in", "boundary", "", "", 3_220),
    ("COAL-01", "raw_coal", "t", "in", "boundary", "", "", 1_200),
    ("EL-01", "electricity", "kWh", "in", "boundary", "", "", 1_500_000),
    ("GAS-01", "natural_gas", "m3", "in", "boundary", "", "", 50_000),
    # sintering
    ("COKE-SIN", "coke", "t", "in", "sintering", "", "", 420),
    ("EL-SIN", "electricity", "kWh", "in", "sintering", "", "", 330_000),
    ("BFG-SIN", "blast_furnace_gas", "m3", "in", "sintering", "", "", 200_000),
    # blast furnace
    ("COKE-BF", "coke", "t", "in", "blast_furnace", "", "", 2_800),
    ("COAL-BF", "raw_coal", "t", "in", "blast_furnace", "", "", 1_200),
    ("EL-BF", "electricity", "kWh", "in", "blast_furnace", "", "", 400_000),
    ("BFG-STOVE", "blast_furnace_gas", "m3", "in", "blast_furnace", "", "", 6_000_000),
    ("AIR-BF", "blast_air", "m3", "in", "blast_furnace", "", "", 9_600_000),
    ("O2-BF", "oxygen", "m3", "in", "blast_furnace", "", "", 320_000),
    ("BFG-REC", "blast_furnace_gas", "m3", "in", "blast_furnace", "recovered", "", 13_600_000),
    ("TRT-REC", "electricity", "kWh", "in", "blast_furnace", "recovered", "", 280_000),
    # converter
    ("EL-BOF", "electricity", "kWh", "in", "converter", "", "", 200_000),
    ("O2-BOF", "oxygen", "m3", "in", "converter", "", "", 480_000),
    ("N2-BOF", "nitrogen", "m3", "in", "converter", "", "", 120_000),
    ("LDG-REC", "converter_gas", "m3", "in", "converter", "recovered", "", 1_100_000),
    ("STEAM-REC", "steam", "t", "in", "converter", "recovered", "", 680),
]
POWER_METERS = [
    ("COAL-01", "raw_coal", "t", "in", "boundary", "", "", 8_000),
    ("EL-IN", "electricity", "kWh", "in", "boundary", "", "", 50_000),  # start-up power from the grid
    ("EL-OUT", "electricity", "kWh", "out", "boundary", "", "", 20_500_000),  # supplied to the grid
    ("EL-GEN", "electricity", "kWh", "in", "boundary", "secondary_output", "", 21_000_000),  # generated
]
CHEM_METERS = [
    # boiler coal with a measured heating value: 750 kgce/t (5250 kcal/kg) instead of the default 714.3
    ("COAL-FUEL", "raw_coal", "t", "in", "boundary", "industrial_production", "750", 300),
    ("COAL-FEED", "raw_coal", "t", "in", "boundary", "raw_material", "", 1_500),
    ("EL-01", "electricity", "kWh", "in", "boundary", "", "", 800_000),
    ("EL-DORM", "electricity", "kWh", "in", "boundary", "non_industrial", "", 20_000),
]
CHLOR_METERS = [("EL-01", "electricity", "kWh", "in", "boundary", "", "", 1_000_000)]
SINTER_PLANT_METERS = [
    ("COKE-01", "coke", "t", "in", "boundary", "", "", 200),
    ("EL-01", "electricity", "kWh", "in", "boundary", "", "", 150_000),
]
AMMONIA_METERS = [
    ("COAL-BOIL", "raw_coal", "t", "in", "boundary", "industrial_production", "", 100),
    ("COAL-FEED", "raw_coal", "t", "in", "boundary", "raw_material", "", 200),
    ("EL-01", "electricity", "kWh", "in", "boundary", "", "", 300_000),
    ("EL-DORM", "electricity", "kWh", "in", "boundary", "non_industrial", "", 10_000),
    ("EL-OUT", "electricity", "kWh", "out", "boundary", "", "", 20_000),  # supplied to a neighbouring works
    ("STEAM-01", "steam", "t", "in", "boundary", "", "", 150),
    ("DSL-01", "diesel", "t", "in", "boundary", "", "", 2),  # the works' trucks
]
LEAKY_METERS = [
    ("COAL-01", "raw_coal", "t", "in", "boundary", "", "", 50),
    ("EL-01", "electricity", "kWh", "in", "boundary", "", "", 10_000),
]
METERS = {
    CEMENT: CEMENT_METERS,
    CEMENT_WAN: CEMENT_METERS,
    STEEL: STEEL_METERS,
    POWER: POWER_METERS,
    CHEM: CHEM_METERS,
    CHLOR: CHLOR_METERS,
    SINTER_PLANT: SINTER_PLANT_METERS,
    AMMONIA: AMMONIA_METERS,
    LEAKY: LEAKY_METERS,
}
MONTHS = {ent: [MARCH] for ent in METERS} | {STEEL: [MARCH, JULY]}

# output per day of the month (t, or kWh for power supplied)
CLINKER_PER_DAY, CEMENT_PER_DAY = 4_000, 5_000  # clinker share 80 %
SINTER_PER_DAY, HOT_METAL_PER_DAY, STEEL_PER_DAY = 10_000, 8_000, 8_500
METHANOL_PER_DAY = 1_000


def _ts(d: date) -> str:
    return f"{d.isoformat()}T00:00:00+08:00"


def production_rows() -> list[tuple]:
    """(enterprise, product, period_start, period_end, quantity, unit)."""
    rows = []
    m = MARCH
    end = date(2026, 4, 1)
    n = DAYS[m]
    rows += [
        (CEMENT, "clinker", m, end, CLINKER_PER_DAY * n, "t"),
        (CEMENT, "cement", m, end, CEMENT_PER_DAY * n, "t"),
        # the same works in 万吨: 12.4 万吨 of clinker; cement 10 万吨 in the first half, 55,000 t after
        (CEMENT_WAN, "clinker", m, end, CLINKER_PER_DAY * n / 10_000, "万吨"),
        (CEMENT_WAN, "cement", m, date(2026, 3, 16), 10, "万吨"),
        (CEMENT_WAN, "cement", date(2026, 3, 16), end, CEMENT_PER_DAY * n - 100_000, "t"),
        # an output in a unit that converts to nothing: rejected at the door with a reason
        (CEMENT_WAN, "cement", date(2026, 2, 1), m, 12, "万只"),
        (POWER, "coal_power_supply", m, end, 20_500_000 * n / 10_000, "万千瓦时"),
        (CHEM, "methanol", m, end, METHANOL_PER_DAY * n, "t"),
        # two products on one plant, no process meters: neither gets the plant's energy
        (CHLOR, "caustic_soda", m, end, 2_000 * n, "t"),
        (CHLOR, "methanol", m, end, 500 * n, "t"),
        # a 工序 product reported alone, no meter in its scope: never judged on the whole plant
        (SINTER_PLANT, "sinter", m, end, 4_000 * n, "t"),
    ]
    for month in (MARCH, JULY):
        n = DAYS[month]
        nxt = (month + timedelta(days=32)).replace(day=1)
        rows += [
            (STEEL, "sinter", month, nxt, SINTER_PER_DAY * n, "t"),
            (STEEL, "hot_metal", month, nxt, HOT_METAL_PER_DAY * n, "t"),
            (STEEL, "converter_steel", month, nxt, STEEL_PER_DAY * n, "t"),
            (STEEL, "crude_steel", month, nxt, STEEL_PER_DAY * n, "t"),
        ]
    return rows


# 工业增加值 per enterprise and month, 10^4 yuan (for the intensities per 10^4 yuan of value added)
VALUE_ADDED = {(CHEM, MARCH): 40_000, (STEEL, MARCH): 150_000, (STEEL, JULY): 160_000}

# contract v1.2 inventories: (enterprise, energy, month, unit, opening, purchased, value 千元, closing, transport)
INVENTORIES = [
    # coal in 万吨: 0.5 + 0.9 − 0.93 consumed (300 t/d × 31) = 0.47; bought at 800 yuan/t → 7,200 千元
    (AMMONIA, "raw_coal", "2026-03", "万吨", 0.5, 0.9, 7_200, 0.47, ""),
    # electricity in 万千瓦时, no stock: bought 961 = 899 consumed + 62 supplied; 0.6 yuan/kWh → 5,766 千元
    (AMMONIA, "electricity", "2026-03", "万千瓦时", 0, 961, 5_766, 0, ""),
    # steam in t, no stock: 4,650 t at 200 yuan/t → 930 千元
    (AMMONIA, "steam", "2026-03", "t", 0, 4_650, 930, 0, ""),
    # diesel: 10 + 60 − 62 = 8 t, all of it burned by the trucks (运输工具); 7,000 yuan/t → 420 千元
    (AMMONIA, "diesel", "2026-03", "t", 10, 60, 420, 8, 62),
    # coal: 1,000 + 2,000 − 1,550 consumed = 1,450, but the statement says 1,000 (450 t unaccounted for)
    (LEAKY, "raw_coal", "2026-03", "t", 1_000, 2_000, "", 1_000, ""),
    # electricity: 315,000 bought, 310,000 metered: residual 5,000 = 1.6 % of 315,000, within the 2 %
    (LEAKY, "electricity", "2026-03", "kWh", 0, 315_000, "", 0, ""),
    # a coal stock in kWh: rejected at the door (file, row 8, field unit, reason)
    (LEAKY, "raw_coal", "2026-02", "kWh", 1, 2, "", 1, ""),
]
# LEAKY's own monthly total of coal (totals, monthly grain): 2,000 t against 1,550 t metered
LEAKY_COAL_TOTAL = 2_000

BAD_METER = (STEEL, "LDG-OUT", "converter_gas", "m3", "out", "converter", "recovered")


def write_indicator_feed(root: Path) -> Path:
    """The feed files (contract v1.1: meters with `usage`, production in several units)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "enterprises.csv").write_text(
        "enterprise_id,name,region_code,industry_code,has_energy_centre,declared_tce,annual_target_tce,connected_since\n"
        + "".join(
            f"{e},{name},{region},{industry},true,100000,,2025-01-01\n" for e, name, region, industry in ENTERPRISES
        ),
        encoding="utf-8",
    )
    meters = "enterprise_id,meter_id,energy_code,unit,reading_type,direction,scope,usage,coefficient_kgce,rated_max\n"
    for ent, rows in METERS.items():
        for meter, energy, unit, direction, scope, usage, coef, daily in rows:
            meters += f"{ent},{meter},{energy},{unit},interval,{direction},{scope},{usage},{coef},{daily * 3}\n"
    ent, meter, energy, unit, direction, scope, usage = BAD_METER
    meters += f"{ent},{meter},{energy},{unit},interval,{direction},{scope},{usage},,\n"
    (root / "meters.csv").write_text(meters, encoding="utf-8")
    readings = ["enterprise_id,meter_id,period_start,period_end,value,unit,quality,sent_at\n"]
    for ent, rows in METERS.items():
        for month in MONTHS[ent]:
            for k in range(DAYS[month]):
                day = month + timedelta(days=k)
                for meter, _, unit, _, _, _, _, daily in rows:
                    sent = f"{(day + timedelta(days=1)).isoformat()}T00:30:00+08:00"
                    readings.append(
                        f"{ent},{meter},{_ts(day)},{_ts(day + timedelta(days=1))},{daily},{unit},measured,{sent}\n"
                    )
    (root / "readings_2026.csv").write_text("".join(readings), encoding="utf-8")
    production = "enterprise_id,product_code,period_start,period_end,quantity,unit,sent_at\n"
    for ent, product, start, end, quantity, unit in production_rows():
        production += f"{ent},{product},{_ts(start)},{_ts(end)},{quantity},{unit},{_ts(end + timedelta(days=2))}\n"
    (root / "production_2026.csv").write_text(production, encoding="utf-8")
    economics = "enterprise_id,month,value_added_10k_yuan,sent_at\n"
    for (ent, month), value in VALUE_ADDED.items():
        nxt = (month + timedelta(days=32)).replace(day=1)
        economics += f"{ent},{month:%Y-%m},{value},{_ts(nxt + timedelta(days=4))}\n"
    (root / "economics_2026.csv").write_text(economics, encoding="utf-8")
    inventories = (
        "enterprise_id,energy_code,month,unit,opening_stock,purchased_quantity,purchased_value_1k_yuan,"
        "closing_stock,transport_quantity,sent_at\n"
    )
    for ent, energy, month, unit, opening, purchased, value, closing, transport in INVENTORIES:
        sent = "2026-04-03T09:00:00+08:00"
        inventories += f"{ent},{energy},{month},{unit},{opening},{purchased},{value},{closing},{transport},{sent}\n"
    (root / "inventories_2026-03.csv").write_text(inventories, encoding="utf-8")
    (root / "totals_2026-03.csv").write_text(
        "enterprise_id,energy_code,period_start,period_end,value,unit,sent_at\n"
        f"{LEAKY},raw_coal,{_ts(MARCH)},{_ts(date(2026, 4, 1))},{LEAKY_COAL_TOTAL},t,2026-04-02T09:00:00+08:00\n",
        encoding="utf-8",
    )
    return root
