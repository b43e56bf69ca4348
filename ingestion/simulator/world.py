"""The clean world: enterprises, meters and their consumption, deterministic by seed.

Sizes follow the declared tier; energy mixes and load shapes follow the industry; production is
tied to energy so that clean unit-product energy sits inside the limit grades in force."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from stdnum.cn import uscc

from ..reference import read_seed

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
INTERVAL = timedelta(minutes=15)

# registered region codes inside each pilot region (GB/T 2260)
REGION_CODES = {
    "130000": ["130100", "130200", "130400", "130500", "130600"],
    "310000": ["310115", "310112", "310116"],
    "330000": ["330100", "330200", "330600"],
    "320200": ["320205", "320211", "320281"],
    "350100": ["350102", "350121", "350181"],
    "360500": ["360502", "360521"],
    "370100": ["370112", "370181", "370116"],
    "441900": ["441900"],
}

# industry → (weight, continuous process?, energy mix shares of 综合能耗 by energy code, products)
INDUSTRIES = {
    "C31": (0.22, True, {"raw_coal": 0.18, "coke": 0.52, "electricity": 0.20, "natural_gas": 0.10}, ["crude_steel"]),
    "C30": (0.18, True, {"raw_coal": 0.80, "electricity": 0.20}, ["clinker"]),
    "C26": (0.14, True, {"electricity": 0.55, "natural_gas": 0.25, "steam": 0.20}, ["caustic_soda"]),
    "C32": (0.08, True, {"electricity": 0.93, "natural_gas": 0.07}, ["aluminium_ingot"]),
    "C25": (0.08, True, {"raw_coal": 0.93, "electricity": 0.07}, ["coke"]),
    "D44": (0.08, True, {"raw_coal": 0.97, "electricity": 0.03}, []),
    "C17": (0.08, False, {"electricity": 0.60, "steam": 0.40}, []),
    "C36": (0.07, False, {"electricity": 0.75, "natural_gas": 0.25}, []),
    "C39": (0.07, False, {"electricity": 0.95, "natural_gas": 0.05}, []),
}
INDUSTRY_CODES_FINE = {
    "C31": ["C31", "C3110", "C3120"],
    "C30": ["C30", "C3011"],
    "C26": ["C26", "C2612"],
    "C32": ["C32", "C3216"],
    "C25": ["C25", "C2521"],
    "D44": ["D44", "D4411"],
    "C17": ["C17"],
    "C36": ["C36"],
    "C39": ["C39"],
}
# clean unit-product energy targets (kgce/t): inside grade 3 where a limit is in force (REFERENCE §6/§7)
PRODUCT_UPE = {"crude_steel": 550.0, "clinker": 104.0, "caustic_soda": 312.0, "aluminium_ingot": 1675.0, "coke": 118.0}
# the share of 综合能耗 attributed to the product's process (its scope)
PRODUCT_SHARE = {"crude_steel": 1.0, "clinker": 0.85, "caustic_soda": 0.9, "aluminium_ingot": 0.95, "coke": 0.9}
PROCESS_OF = {
    "crude_steel": None,
    "clinker": "clinker_kiln",
    "caustic_soda": "electrolysis",
    "aluminium_ingot": "electrolysis",
    "coke": "coking",
}


@dataclass
class Meter:
    meter_id: str
    energy_code: str
    unit: str
    reading_type: str  # interval | register
    step: timedelta  # cadence
    direction: str = "in"
    scope: str = "boundary"
    multiplier: float = 1.0
    register_max: float | None = None
    rated_max: float | None = None
    unit_factor: float = 1.0  # canonical units per reported unit (MWh → 1000 kWh)
    annual_canonical: float = 0.0  # clean consumption per year, canonical unit
    register_start: float = 0.0


@dataclass
class Enterprise:
    enterprise_id: str
    name: str
    pilot_region: str
    region_code: str
    industry: str
    industry_code: str
    continuous: bool
    declared_tce: float
    actual_tce: float
    has_energy_centre: bool
    connected_since: date
    meters: list[Meter] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    tce_per_10k_yuan_va: float = 1.0


def credit_code(rng: np.random.Generator, region_code: str) -> str:
    org = "".join(ALPHABET[i] for i in rng.integers(0, 31, size=8))
    body = "91" + region_code + org
    body += ALPHABET[int(rng.integers(0, 10))]  # organisation code check position (any allowed char)
    return body + uscc.calc_check_digit(body)


def coefficients() -> dict[str, float]:
    return {r["energy_code"]: float(r["coefficient_kgce_per_unit"]) for r in read_seed("energy_types")}


def build_world(rng: np.random.Generator, n: int, regions: list[str], start: date) -> list[Enterprise]:
    coef = coefficients()
    codes = list(INDUSTRIES)
    weights = np.array([INDUSTRIES[c][0] for c in codes])
    out: list[Enterprise] = []
    seen: set[str] = set()
    for i in range(n):
        pilot = regions[i % len(regions)]
        region_code = REGION_CODES.get(pilot, [pilot])[int(rng.integers(0, len(REGION_CODES.get(pilot, [pilot]))))]
        ind = codes[int(rng.choice(len(codes), p=weights / weights.sum()))]
        _, continuous, mix, products = INDUSTRIES[ind]
        big = rng.random() < 0.18
        declared = float(
            np.round(rng.uniform(115_000, 600_000) if big else np.exp(rng.uniform(np.log(12_000), np.log(95_000))), -2)
        )
        actual = declared * float(rng.uniform(0.93, 1.05))
        ent_id = credit_code(rng, region_code)
        while ent_id in seen:
            ent_id = credit_code(rng, region_code)
        seen.add(ent_id)
        fine = INDUSTRY_CODES_FINE[ind]
        e = Enterprise(
            enterprise_id=ent_id,
            name=f"{_NAMES[ind]}{i + 1:03d}号",
            pilot_region=pilot,
            region_code=region_code,
            industry=ind,
            industry_code=fine[int(rng.integers(0, len(fine)))],
            continuous=continuous,
            declared_tce=declared,
            actual_tce=actual,
            has_energy_centre=bool(big or rng.random() < 0.7),
            connected_since=start - timedelta(days=int(rng.integers(30, 900))),
            products=list(products),
            tce_per_10k_yuan_va=float(rng.uniform(0.6, 2.5) if continuous else rng.uniform(0.05, 0.3)),
        )
        _add_meters(rng, e, mix, coef)
        out.append(e)
    return out


_NAMES = {
    "C31": "钢铁",
    "C30": "水泥",
    "C26": "化工",
    "C32": "铝业",
    "C25": "焦化",
    "D44": "热电",
    "C17": "纺织",
    "C36": "汽车",
    "C39": "电子",
}


def _add_meters(rng, e: Enterprise, mix: dict[str, float], coef: dict[str, float]) -> None:
    m = e.meters
    for energy, share in mix.items():
        annual = share * e.actual_tce * 1000.0 / coef[energy]  # canonical units a year
        if energy == "electricity":
            n_main = 2 if annual > 5e7 else 1
            for k in range(n_main):
                part = annual / n_main
                use_mwh = rng.random() < 0.2
                multiplier = float(rng.choice([1, 1, 80, 200])) if not use_mwh else 1.0
                per_interval = part / 35040.0
                m.append(
                    Meter(
                        f"EL-{k + 1:02d}",
                        "electricity",
                        "MWh" if use_mwh else "kWh",
                        "interval",
                        INTERVAL,
                        multiplier=multiplier,
                        unit_factor=1000.0 if use_mwh else 1.0,
                        rated_max=round(per_interval * 4 / (1000.0 if use_mwh else 1.0), 3),
                        annual_canonical=part,
                    )
                )
            # a cumulative register on the main incomer (check meter), same consumption as EL-01's share
            if rng.random() < 0.6:
                base = m[-n_main]
                per_interval = base.annual_canonical / 35040.0
                m.append(
                    Meter(
                        "EL-REG",
                        "electricity",
                        "kWh",
                        "register",
                        INTERVAL,
                        scope="check",
                        register_max=10 ** int(np.ceil(np.log10(base.annual_canonical * 1.5))),
                        rated_max=round(per_interval * 4, 3),
                        annual_canonical=base.annual_canonical,
                        register_start=float(rng.uniform(0.05, 0.5))
                        * 10 ** int(np.ceil(np.log10(base.annual_canonical * 1.5))),
                    )
                )
            # process sub-meter for the product's process
            for p in e.products:
                proc = PROCESS_OF.get(p)
                if proc:
                    part = annual * 0.6
                    m.append(
                        Meter(
                            f"EL-{proc.upper()[:6]}",
                            "electricity",
                            "kWh",
                            "interval",
                            INTERVAL,
                            scope=proc,
                            rated_max=round(part / 35040.0 * 4, 3),
                            annual_canonical=part,
                        )
                    )
            # some supply a neighbour
            if rng.random() < 0.2:
                part = annual * 0.04
                m.append(
                    Meter(
                        "EL-OUT",
                        "electricity",
                        "kWh",
                        "interval",
                        INTERVAL,
                        direction="out",
                        rated_max=round(part / 35040.0 * 4, 3),
                        annual_canonical=part,
                    )
                )
        else:
            unit, factor = {"natural_gas": ("m3", 1.0), "steam": ("t", 1.0)}.get(energy, ("t", 1.0))
            if energy == "natural_gas" and rng.random() < 0.3:
                unit, factor = "10k_m3", 10_000.0
            m.append(
                Meter(
                    f"{METER_PREFIX.get(energy, energy.upper()[:5])}-01",
                    energy,
                    unit,
                    "interval",
                    timedelta(days=1),
                    rated_max=round(annual / 365.0 * 3 / factor, 4),
                    unit_factor=factor,
                    annual_canonical=annual,
                )
            )
        m.sort(key=lambda x: x.meter_id)


def add_workshop_meters(world: list[Enterprise], meters_per_enterprise: int) -> None:
    """Pad every enterprise up to `meters_per_enterprise` meters with 15-minute electricity sub-meters
    of its workshops (分项计量). They sit behind the boundary meters, so their scope is `check`: the
    platform validates and keeps them but never adds them to a total. Deterministic, no randomness."""
    for e in world:
        electricity = sum(
            m.annual_canonical
            for m in e.meters
            if m.energy_code == "electricity" and m.scope == "boundary" and m.direction == "in"
        )
        missing = meters_per_enterprise - len(e.meters)
        for k in range(max(0, missing)):
            part = (electricity or 1e6) / max(1, missing) * 0.9
            e.meters.append(
                Meter(
                    f"EL-WS{k + 1:02d}",
                    "electricity",
                    "kWh",
                    "interval",
                    INTERVAL,
                    scope="check",
                    rated_max=round(part / 35040.0 * 4, 3),
                    annual_canonical=part,
                )
            )
        e.meters.sort(key=lambda x: x.meter_id)


METER_PREFIX = {"raw_coal": "COAL", "coke": "COKE", "natural_gas": "GAS", "steam": "STEAM"}


def spring_festivals() -> list[tuple[str, str]]:
    """Spring Festival holiday periods from the holidays seed (reference data shared with the alert rules)."""
    return [(r["start_date"], r["end_date"]) for r in read_seed("holidays") if r["holiday"] == "spring_festival"]


def shape(rng: np.random.Generator, e: Enterprise, starts: np.ndarray) -> np.ndarray:
    """Relative load per 15-minute interval (mean ≈ 1 over a year) for the enterprise's industry."""
    ts = starts.astype("datetime64[m]")
    minutes = (ts - ts.astype("datetime64[D]")).astype(int)
    hour = minutes / 60.0
    days = ts.astype("datetime64[D]")
    weekday = (days.astype(int) + 3) % 7  # 0 = Monday
    doy = (days - days.astype("datetime64[Y]")).astype(int)
    season = 1.0 + 0.06 * np.cos(2 * np.pi * (doy - 15) / 365.0)  # winter heating/lighting a little higher
    if e.continuous:
        base = 1.0 + 0.05 * np.sin(2 * np.pi * (hour - 8) / 24.0)
        weekly = np.ones_like(hour)
        festival_depth = 0.15
    else:
        day_shift = (hour >= 8) & (hour < 20)
        base = np.where(day_shift, 1.45, 0.55)
        weekly = np.where(weekday >= 5, 0.45, 1.0)
        festival_depth = 0.7
    festival = np.ones_like(hour)
    for first, last in spring_festivals():
        inside = (days >= np.datetime64(first)) & (days <= np.datetime64(last))
        festival = np.where(inside, 1.0 - festival_depth, festival)
    noise = rng.normal(1.0, 0.03, size=len(hour))
    return np.clip(base * weekly * season * festival * noise, 0.05, None)
