"""Reference data the loader needs at the door (energy codes, units, products, regions).

The dbt seeds are the single source: ingestion reads the same CSV files dbt loads into `reference`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds"


def read_seed(name: str, seeds_dir: Path = SEEDS_DIR) -> list[dict[str, str]]:
    with open(seeds_dir / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class Reference:
    canonical_unit: dict[str, str]  # energy_code -> canonical unit
    conversions: dict[tuple[str, str], float]  # (from_unit, to_unit) -> factor
    products: dict[str, str]  # product_code -> unit
    pilot_prefixes: tuple[tuple[str, str], ...]  # (match_prefix, pilot_region_code), longest first
    # energy_code -> largest plausible |reading| after unit conversion and multiplier (canonical unit)
    max_reading_quantity: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)  # door_limits seed: limit_name -> value

    def limit(self, name: str) -> float:
        return self.limits[name]

    def convertible(self, unit: str, energy_code: str) -> bool:
        target = self.canonical_unit.get(energy_code)
        return target is not None and (unit, target) in self.conversions

    def pilot_region(self, region_code: str) -> str | None:
        for prefix, pilot in self.pilot_prefixes:
            if region_code.startswith(prefix):
                return pilot
        return None

    def units_convertible_to(self, target: str) -> set[str]:
        return {f for (f, t) in self.conversions if t == target}


@cache
def load_reference(seeds_dir: Path = SEEDS_DIR) -> Reference:
    energy = read_seed("energy_types", seeds_dir)
    conv = read_seed("unit_conversions", seeds_dir)
    products = read_seed("products", seeds_dir)
    regions = read_seed("regions", seeds_dir)
    bounds = read_seed("plausibility_bounds", seeds_dir)
    limits = read_seed("door_limits", seeds_dir)
    prefixes = sorted(((r["match_prefix"], r["pilot_region_code"]) for r in regions), key=lambda p: -len(p[0]))
    return Reference(
        canonical_unit={r["energy_code"]: r["canonical_unit"] for r in energy},
        conversions={(r["from_unit"], r["to_unit"]): float(r["factor"]) for r in conv},
        products={r["product_code"]: r["unit"] for r in products},
        pilot_prefixes=tuple(prefixes),
        max_reading_quantity={r["energy_code"]: float(r["max_reading_quantity"]) for r in bounds},
        limits={r["limit_name"]: float(r["value"]) for r in limits},
    )
