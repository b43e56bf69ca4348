"""Jinja context for sqlfluff's jinja templater (`make lint`): `var()` answers with the value the dbt
project defines in dbt_project.yml, so models that compute with their vars (`var('n') + 1`) render
the way dbt renders them. Lint only: dbt never reads this package."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml


@cache
def _project_vars() -> dict[str, Any]:
    project = yaml.safe_load((Path(__file__).resolve().parents[1] / "dbt_project.yml").read_text(encoding="utf-8"))
    return project.get("vars") or {}


def var(name: str, default: Any = None) -> Any:
    return _project_vars().get(name, default)
