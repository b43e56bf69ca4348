"""Every third-party module the project imports comes from a distribution pyproject.toml declares
(directly, not by luck through another package's dependencies)."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"orchestration", "ingestion", "expectations", "dashboards", "benchmarks", "tests", "conftest"}
SOURCES = ["orchestration", "ingestion", "expectations", "dashboards", "benchmarks", "tests", "dbt_project"]


def _imported_top_level_modules() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in SOURCES:
        for path in (REPO / folder).rglob("*.py"):
            if "target" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def test_every_third_party_import_is_a_declared_distribution():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *(r for g in project["optional-dependencies"].values() for r in g)]
    declared = {canonicalize_name(Requirement(r).name) for r in requirements}
    providers = importlib.metadata.packages_distributions()
    # the project's own modules imported by bare name (dbt_project helpers, test fixture modules on sys.path)
    local = {p.stem for folder in ("dbt_project", "tests") for p in (REPO / folder).rglob("*.py")} | {
        "sqlfluff_library"
    }
    undeclared = {}
    for module, where in sorted(_imported_top_level_modules().items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY or module in local:
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & declared:
            undeclared[module] = (sorted(dists), where)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
