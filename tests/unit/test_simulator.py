"""The feed simulator: contract-valid clean rows, determinism, every fault kind with truth,
sizes in their declared tier."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from ingestion import contract
from ingestion.reference import read_seed
from ingestion.simulator import simulate
from ingestion.simulator.core import DEFAULT_RATES

VOCABULARY = set(DEFAULT_RATES)


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _typed(entity: str, row: dict) -> dict:
    """A CSV row as the JSON object the schema describes (numbers, booleans; empty = absent)."""
    props = contract.schema_document(entity)["properties"]
    out = {}
    for k, v in row.items():
        if v in ("", None):
            continue
        t = props[k].get("type")
        out[k] = float(v) if t == "number" else (v == "true") if t == "boolean" else v
    return out


def _rows(folder: Path, strict: bool = True):
    """Every record of a feed folder; with strict=False, records that cannot be read (injected
    malformed rows) are skipped instead of failing."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        entity = contract.entity_of_file(path)
        errors = "strict" if strict else "replace"
        if path.suffix == ".jsonl":
            lines = path.read_text(encoding="utf-8", errors=errors).splitlines()
            records = (line for line in lines)
            for line in records:
                try:
                    yield entity, path, json.loads(line)
                except ValueError:
                    if strict:
                        raise
        else:
            with open(path, encoding="utf-8", errors=errors, newline="") as fh:
                for row in csv.DictReader(fh):
                    try:
                        yield entity, path, _typed(entity, row)
                    except (ValueError, KeyError, AttributeError):
                        if strict:
                            raise


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    truth = out.parent / "clean_truth.jsonl"
    summary = simulate(out, enterprises=12, start=date(2026, 3, 1), days=7, seed=11, faults="none", truth_path=truth)
    return out, truth, summary


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    out = tmp_path_factory.mktemp("faulty")
    truth = out.parent / "faulty_truth.jsonl"
    summary = simulate(out, enterprises=30, start=date(2026, 3, 1), days=7, seed=11, faults="default", truth_path=truth)
    return out, truth, summary


def test_every_clean_row_validates_against_the_json_schemas(clean):
    out, _, _ = clean
    validators = {e: contract.validator(e) for e in contract.ENTITIES}
    counts: dict[str, int] = {}
    for entity, path, obj in _rows(out):
        errors = list(validators[entity].iter_errors(obj))
        assert not errors, f"{path.name}: {obj}: {errors[0].message}"
        counts[entity] = counts.get(entity, 0) + 1
    assert counts["readings"] > 10_000 and counts["enterprises"] == 12 and counts["meters"] >= 36
    assert counts["totals"] > 0 and counts["economics"] > 0


def test_faults_none_gives_an_empty_truth(clean):
    _, truth, summary = clean
    assert truth.read_text() == "" and summary["faults"] == {}


def test_same_seed_gives_byte_identical_files_and_truth(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    simulate(a, enterprises=5, start=date(2026, 1, 30), days=3, seed=3, truth_path=tmp_path / "ta.jsonl")
    simulate(b, enterprises=5, start=date(2026, 1, 30), days=3, seed=3, truth_path=tmp_path / "tb.jsonl")
    assert _digests(a) == _digests(b)
    assert (tmp_path / "ta.jsonl").read_bytes() == (tmp_path / "tb.jsonl").read_bytes()
    simulate(tmp_path / "c", enterprises=5, start=date(2026, 1, 30), days=3, seed=4)
    assert _digests(a) != _digests(tmp_path / "c")


def test_default_faults_inject_every_kind_of_the_vocabulary(faulty):
    _, truth, _summary = faulty
    records = [json.loads(line) for line in truth.read_text().splitlines()]
    assert {r["kind"] for r in records} == VOCABULARY
    for r in records:
        assert r["enterprise_id"] and r["period_end"]
        if r["kind"] in ("malformed_row", "invalid_enterprise_id", "unknown_meter"):
            assert r["file"] and r["row"] >= 1


def test_clean_values_are_the_same_underlying_values_under_faults(clean, faulty, tmp_path):
    """Same seed, faults none vs default: meters no fault touched report the same readings."""
    _c_out, _, _ = clean
    clean_same = simulate(tmp_path / "c30", enterprises=30, start=date(2026, 3, 1), days=7, seed=11, faults="none")
    f_out, truth, _ = faulty
    touched = {(r["enterprise_id"], r.get("meter_id")) for r in map(json.loads, truth.read_text().splitlines())}
    touched_ents = {e for e, m in touched if m is None}

    def readings(folder):
        out = {}
        for entity, _path, obj in _rows(folder, strict=False):
            if entity == "readings" and isinstance(obj.get("value"), (int, float)):
                key = (obj["enterprise_id"], obj["meter_id"])
                if key not in touched and obj["enterprise_id"] not in touched_ents:
                    out.setdefault(key, set()).add((obj["period_end"], obj["value"]))
        return out

    a, b = readings(Path(clean_same["out"])), readings(f_out)
    # rows injected under other keys (invalid credit codes, unknown meters, bad bytes) are not meters
    assert a and set(a) <= set(b)
    assert a == {k: v for k, v in b.items() if k in a}


def test_enterprise_size_falls_in_its_declared_tier(tmp_path):
    """A year of the enterprise's own daily totals (history) converted to tce sits in the declared tier."""
    out = tmp_path / "hist"
    simulate(out, enterprises=25, start=date(2026, 1, 1), days=1, seed=5, faults="none", history_months=12)
    coef = {r["energy_code"]: float(r["coefficient_kgce_per_unit"]) for r in read_seed("energy_types")}
    declared = {}
    with open(out / "enterprises.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            declared[row["enterprise_id"]] = float(row["declared_tce"])
    annual: dict[str, float] = {}
    with open(out / "totals_history.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            annual[row["enterprise_id"]] = (
                annual.get(row["enterprise_id"], 0) + float(row["value"]) * coef[row["energy_code"]] / 1000
            )
    assert set(annual) == set(declared)
    for ent, tce in annual.items():
        tier = lambda v: 2 if v >= 100_000 else 1 if v >= 10_000 else 0  # noqa: E731
        assert tier(tce) == tier(declared[ent]), f"{ent}: measured {tce:.0f} tce vs declared {declared[ent]:.0f}"
    assert any(v >= 100_000 for v in declared.values()) and any(v < 100_000 for v in declared.values())


def test_invalid_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="faults"):
        simulate(tmp_path, faults="some")
    with pytest.raises(ValueError, match="unknown pilot region"):
        simulate(tmp_path, regions=["999999"])


def test_meters_per_enterprise_pads_with_workshop_check_meters(tmp_path):
    """--meters-per-enterprise N: every enterprise has at least N meters; the added ones are 15-minute
    workshop electricity sub-meters in scope `check` (never added to a total), with readings."""
    summary = simulate(
        tmp_path, enterprises=4, start=date(2026, 1, 1), days=1, seed=3, faults="none", meters_per_enterprise=10
    )
    with open(tmp_path / "meters.csv", newline="", encoding="utf-8") as f:
        meters = list(csv.DictReader(f))
    per_enterprise: dict[str, int] = {}
    for m in meters:
        per_enterprise[m["enterprise_id"]] = per_enterprise.get(m["enterprise_id"], 0) + 1
    assert len(per_enterprise) == 4 and min(per_enterprise.values()) >= 10
    assert summary["meters"] == len(meters)
    workshop = [m for m in meters if m["meter_id"].startswith("EL-WS")]
    assert workshop and {m["scope"] for m in workshop} == {"check"}
    read = {
        line.split(",")[1] for path in tmp_path.rglob("readings*.csv") for line in path.read_text().splitlines()[1:]
    }
    assert {m["meter_id"] for m in workshop} <= read


@pytest.mark.parametrize("days", [1, 3])
def test_a_short_simulation_with_default_faults_injects_only_the_faults_that_fit(tmp_path, days):
    # `iem simulate --days 3 --faults default` failed with "low >= high": a fault placed in a series too
    # short for it (a daily meter, a one-day run). Such a fault is now left out, of the feed and the truth.
    truth_path = tmp_path / "truth.jsonl"
    simulate(
        tmp_path / "feed",
        enterprises=8,
        start=date(2026, 1, 1),
        days=days,
        seed=42,
        faults="default",
        truth_path=truth_path,
    )
    truth = [json.loads(line) for line in truth_path.read_text(encoding="utf-8").splitlines()]
    assert truth and {t["kind"] for t in truth} <= VOCABULARY
    # every injected fault lies inside the simulated days (Asia/Shanghai): 2026-01-01 .. + days
    start, end = "2025-12-31T16:00:00+00:00", f"2026-01-{1 + days:02d}T00:00:00+08:00"
    for t in truth:
        assert date.fromisoformat(t["period_start"][:10]) >= date.fromisoformat(start[:10]), t
        assert date.fromisoformat(t["period_end"][:10]) <= date.fromisoformat(end[:10]), t
    if days == 3:  # three days hold the 15-minute faults: gaps, spikes, unit errors, a silent feed
        assert {"gap", "spike", "unit_error", "silent_feed"} <= {t["kind"] for t in truth}
