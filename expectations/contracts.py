"""The columns of the marts with an enforced dbt model contract, read from the dbt project's YAML (the
stable interface of DESIGN §5: dbt fails any build whose columns or types depart from it). The columns
the quality gate's schema checks verify on the warehouse as it is must be among them (a unit test)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

MARTS_DIR = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "marts"


@cache
def contracted_columns() -> dict[str, list[str]]:
    """model name → its columns, for every mart whose YAML enforces a contract."""
    out: dict[str, list[str]] = {}
    for path in sorted(MARTS_DIR.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            if ((model.get("config") or {}).get("contract") or {}).get("enforced"):
                out[model["name"]] = [c["name"] for c in model.get("columns", [])]
    return out
