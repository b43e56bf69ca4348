"""Onboarding (简化接入): check a new enterprise's registry and sample feed before go-live.

Nothing is loaded. The files are parsed and validated exactly as ingestion would (same contract,
same rules), with the registries taken from the sample itself, and then judged against go-live rules:
every row valid; the enterprise registered once with a pilot region; at least one boundary `in`
meter; every meter has readings; interval cadence 15 min, 30 min or 1 h for electricity (national
rule) and regular; register meters with a register_max; values within rated_max; calibration valid.
Each finding says file, row (when one), field and what to fix; `ready` is true when no finding blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from . import contract
from .loader import discover, read_feed_file
from .parse import parse_csv, parse_jsonl
from .reference import load_reference
from .validate import Context, validate

SHANGHAI = ZoneInfo("Asia/Shanghai")  # calibration is judged on the local calendar day, not the host's

ALLOWED_ELECTRICITY_CADENCE_MIN = (15, 30, 60)


@dataclass
class Finding:
    severity: str  # blocking | advice
    file: str | None
    row: int | None
    field: str | None
    message: str


def onboard(path: Path, *, today: date | None = None) -> dict:
    path = Path(path)
    ref = load_reference()
    findings: list[Finding] = []
    files, ignored = discover(path)
    for ig in ignored:
        findings.append(Finding("advice", ig.source_name, None, None, f"ignored: {ig.message}"))
    parsed_by_entity: dict[str, list[tuple[str, pl.DataFrame]]] = {e: [] for e in contract.ENTITIES}
    known_ent: set[str] = set()
    meters = pl.DataFrame(
        schema={"enterprise_id": pl.String, "meter_id": pl.String, "energy_code": pl.String, "reading_type": pl.String}
    )
    for p, rel, entity_name in files:
        ent = contract.entity(entity_name)
        data = read_feed_file(p)
        parsed = (
            parse_jsonl(data, ent.field_names)
            if contract.feed_suffix(p) == ".jsonl"
            else parse_csv(data, ent.field_names)
        )
        checked = validate(parsed.frame, ent, Context(ref, known_ent, meters, None, rel))
        for r in parsed.rejects:
            findings.append(Finding("blocking", rel, r["row_number"], r["field"], r["reason"]))
        for r in checked.rejects.iter_rows(named=True):
            findings.append(
                Finding(
                    "blocking",
                    rel,
                    r["row_number"],
                    r["field"],
                    f"{r['reason']} (value {r['value']!r})" if r["value"] is not None else r["reason"],
                )
            )
        for r in checked.duplicates.iter_rows(named=True):
            findings.append(
                Finding(
                    "advice",
                    rel,
                    r["row_number"],
                    None,
                    f"exact duplicate of row {r['first_row_number']}: would be skipped",
                )
            )
        if entity_name == "enterprises":
            known_ent |= set(checked.valid["enterprise_id"].to_list())
        if entity_name == "meters":
            meters = pl.concat([meters, checked.valid.select(meters.columns)]).unique(
                ["enterprise_id", "meter_id"], keep="last"
            )
        parsed_by_entity[entity_name].append((rel, checked.valid))

    def frames(e):
        return [f for _, f in parsed_by_entity[e]]

    ents = pl.concat(frames("enterprises")) if frames("enterprises") else None
    if ents is None or ents.is_empty():
        findings.append(
            Finding("blocking", None, None, "enterprise_id", "no valid enterprise registry (enterprises file)")
        )
    all_meters = pl.concat(frames("meters")) if frames("meters") else None
    if all_meters is None or all_meters.is_empty():
        findings.append(Finding("blocking", None, None, "meter_id", "no valid meter registry (meters file)"))
    else:
        for e in sorted(known_ent):
            m = all_meters.filter(pl.col("enterprise_id") == e)
            if m.filter((pl.col("scope") == "boundary") & (pl.col("direction") == "in")).is_empty():
                findings.append(
                    Finding(
                        "blocking", None, None, "scope", f"{e}: no boundary 'in' meter: 综合能耗 cannot be computed"
                    )
                )
        regs = all_meters.filter((pl.col("reading_type") == "register") & pl.col("register_max").is_null())
        for r in regs.iter_rows(named=True):
            findings.append(
                Finding(
                    "advice",
                    None,
                    None,
                    "register_max",
                    f"{r['enterprise_id']} meter {r['meter_id']}: register without register_max: "
                    "rollovers cannot be told from resets",
                )
            )
        if "calibration_valid_until" in all_meters.columns:
            expired = all_meters.filter(
                pl.col("calibration_valid_until").str.to_date(strict=False) < (today or datetime.now(SHANGHAI).date())
            )
            for r in expired.iter_rows(named=True):
                findings.append(
                    Finding(
                        "blocking",
                        None,
                        None,
                        "calibration_valid_until",
                        f"{r['enterprise_id']} meter {r['meter_id']}: calibration expired on "
                        f"{r['calibration_valid_until']}",
                    )
                )
    readings = pl.concat(frames("readings")) if frames("readings") else None
    if readings is None or readings.is_empty():
        findings.append(Finding("blocking", None, None, None, "no valid readings in the sample feed"))
    elif all_meters is not None:
        have = set(readings.select(pl.concat_str("enterprise_id", "meter_id", separator="/")).to_series().to_list())
        for r in all_meters.iter_rows(named=True):
            if f"{r['enterprise_id']}/{r['meter_id']}" not in have:
                findings.append(
                    Finding(
                        "blocking",
                        None,
                        None,
                        "meter_id",
                        f"{r['enterprise_id']} meter {r['meter_id']}: no readings in the sample",
                    )
                )
        steps = (
            readings.sort("enterprise_id", "meter_id", "_dt_period_end")
            .with_columns(
                pl.col("_dt_period_end").diff().over("enterprise_id", "meter_id").dt.total_minutes().alias("_step")
            )
            .drop_nulls("_step")
        )
        counts = steps.group_by("enterprise_id", "meter_id", "_step").len()
        # the cadence is the most frequent step (ties go to the shorter step); every other step is irregular
        cadence = (
            counts.sort(["enterprise_id", "meter_id", "len", "_step"], descending=[False, False, True, False])
            .group_by("enterprise_id", "meter_id", maintain_order=True)
            .agg(
                pl.col("_step").first().alias("cadence_min"),
                (pl.col("len").sum() - pl.col("len").first()).alias("irregular"),
            )
        )
        sizes = readings.group_by("enterprise_id", "meter_id").len("n")
        cad = sizes.join(cadence, on=["enterprise_id", "meter_id"], how="left").with_columns(
            pl.col("irregular").fill_null(0)
        )
        cad = cad.join(
            all_meters.select("enterprise_id", "meter_id", "energy_code", "reading_type", "rated_max", "multiplier"),
            on=["enterprise_id", "meter_id"],
            how="left",
        )
        for r in cad.iter_rows(named=True):
            if (
                r["energy_code"] == "electricity"
                and r["cadence_min"] not in ALLOWED_ELECTRICITY_CADENCE_MIN
                and r["n"] > 1
            ):
                findings.append(
                    Finding(
                        "blocking",
                        None,
                        None,
                        "period_end",
                        f"{r['enterprise_id']} meter {r['meter_id']}: electricity every {r['cadence_min']} min; "
                        "the national rule "
                        "asks for 15 min (30 min or 1 h where 15 min is impossible)",
                    )
                )
            if r["irregular"]:
                findings.append(
                    Finding(
                        "advice",
                        None,
                        None,
                        "period_end",
                        f"{r['enterprise_id']} meter {r['meter_id']}: {r['irregular']} irregular steps "
                        "(gaps or duplicates) in the sample",
                    )
                )
        over = readings.join(
            all_meters.select("enterprise_id", "meter_id", "reading_type", "rated_max", "multiplier"),
            on=["enterprise_id", "meter_id"],
        ).filter(
            (pl.col("reading_type") == "interval")
            & pl.col("rated_max").is_not_null()
            & (
                pl.col("value").cast(pl.Float64) * pl.col("multiplier").cast(pl.Float64)
                > pl.col("rated_max").cast(pl.Float64)
            )
        )
        for r in over.head(20).iter_rows(named=True):
            findings.append(
                Finding(
                    "blocking",
                    None,
                    r["row_number"],
                    "value",
                    f"{r['enterprise_id']} meter {r['meter_id']}: {r['value']} × multiplier exceeds "
                    f"rated_max {r['rated_max']}",
                )
            )
    blocking = [f for f in findings if f.severity == "blocking"]
    return {
        "path": str(path),
        "ready": not blocking,
        "enterprises": sorted(known_ent),
        "files": [rel for _, rel, _ in files],
        "blocking": len(blocking),
        "advice": len(findings) - len(blocking),
        "findings": [asdict(f) for f in findings],
    }
