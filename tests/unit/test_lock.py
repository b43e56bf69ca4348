"""requirements.lock is what `make` installs (the versions CI tested): it must pin every dependency
pyproject.toml declares, within the declared range, and the environment running the tests must be the
locked one. After changing a dependency: `make lock` (CONTRIBUTING.md, "Dependencies")."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    """name → pinned version, for the lines whose environment marker holds here."""
    pins = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        spec, _, marker = line.partition(";")
        name, _, version = spec.strip().partition("==")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        pins[canonicalize_name(name)] = version
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [r for group in project.get("optional-dependencies", {}).values() for r in group]
    return [Requirement(r) for r in (*project["dependencies"], *extras)]


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = _pins()
    problems = []
    for req in _declared():
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name}: not in requirements.lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req.name}: locked {pins[name]} is outside {req.specifier}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_the_environment_under_test_is_the_locked_one():
    drift = []
    for name, version in _pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            drift.append(f"{name} {version} not installed")
            continue
        if Version(installed) != Version(version):
            drift.append(f"{name} {installed} installed, {version} locked")
    assert not drift, "the environment is not requirements.lock's: run `make install` (" + "; ".join(drift[:10]) + ")"


def test_the_lock_pins_exact_versions():
    loose = [
        line
        for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith((" ", "#")) and not re.match(r"^[A-Za-z0-9._-]+==[^=\s;]+", line)
    ]
    assert not loose, loose
