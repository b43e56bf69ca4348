"""Small hand-written feed files for ingestion tests (contract v1)."""

from __future__ import annotations

from pathlib import Path

from stdnum.cn import uscc


def credit_code(body17: str) -> str:
    return body17 + uscc.calc_check_digit(body17)


STEEL = credit_code("91130100MA0A1B2C3")  # Hebei (130100 → pilot 130000)
CEMENT = credit_code("91330100MA2B3C4D5")  # Zhejiang

ENTERPRISES = (
    "enterprise_id,name,region_code,industry_code,has_energy_centre,declared_tce,annual_target_tce,connected_since\n"
    f'{STEEL},"河北某钢铁有限公司, 一厂",130100,C3120,true,250000,240000,2025-06-01\n'
    f"{CEMENT},浙江某水泥有限公司,330100,C30,false,40000,,2025-09-01\n"
)
METERS = (
    "enterprise_id,meter_id,energy_code,unit,reading_type,multiplier,register_max,direction,scope,rated_max\n"
    f"{STEEL},EL-01,electricity,kWh,interval,1,,in,boundary,50000\n"
    f"{STEEL},EL-REG,electricity,MWh,register,1,99999,in,boundary,100\n"
    f"{STEEL},COAL-01,raw_coal,t,interval,1,,in,boundary,5000\n"
    f"{CEMENT},EL-01,electricity,kWh,interval,80,,in,boundary,200\n"
)


def reading(
    ent: str,
    meter: str,
    start: str | None,
    end: str,
    value: str,
    unit: str = "kWh",
    sent: str | None = None,
    quality: str = "measured",
) -> str:
    """One readings CSV line; sent at its period end unless `sent` says otherwise (the door rejects a
    reading sent before its period ends)."""
    return f"{ent},{meter},{start or ''},{end},{value},{unit},{quality},{sent or end}\n"


READINGS_HEADER = "enterprise_id,meter_id,period_start,period_end,value,unit,quality,sent_at\n"


def write_basic_feed(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "enterprises.csv").write_text(ENTERPRISES, encoding="utf-8")
    (root / "meters.csv").write_text(METERS, encoding="utf-8")
    return root
