"""`simulate()`: write a region's feed in contract v1, clean series first and faults on top.

Order of work: the clean world (world.py) → consumption findings (abnormal rise, limit breach: real
consumption, so the enterprise's own totals include them) → the enterprise's own totals, production
and economics → data faults on the readings (what goes wrong between meter and platform). The same
seed with faults="none" gives the same underlying values and an empty truth file. Nothing here reads
the wall clock: files and truth are byte-identical for the same arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..reference import read_seed
from .world import PRODUCT_UPE, Enterprise, Meter, add_workshop_meters, build_world, coefficients, shape

PILOT_REGIONS = ["130000", "310000", "330000", "320200", "350100", "360500", "370100", "441900"]
TS = "%Y-%m-%dT%H:%M:%S+08:00"

# default fault rates: expected occurrences per enterprise (at least one of each kind is injected)
DEFAULT_RATES = {
    "gap": 0.15,
    "silent_feed": 0.05,
    "duplicate": 0.1,
    "correction": 0.1,
    "register_reset": 0.05,
    "rollover": 0.05,
    "meter_replacement": 0.05,
    "spike": 0.1,
    "unit_error": 0.05,
    "negative": 0.05,
    "malformed_row": 0.15,
    "invalid_enterprise_id": 0.05,
    "unknown_meter": 0.05,
    "late_arrival": 0.1,
    "limit_breach": 0.05,
    "abnormal_rise": 0.05,
}


@dataclass
class Series:
    """One meter's readings over the simulated period (local Asia/Shanghai wall time, minutes)."""

    ent: Enterprise
    meter: Meter
    start_min: np.ndarray  # int64 minutes since 1970 (local wall time)
    consumption: np.ndarray  # canonical units per interval (clean, after findings)
    # both set by _apply_faults before anything reads them
    value: np.ndarray = None  # type: ignore[assignment]  # reported values (after faults)
    late: np.ndarray = None  # type: ignore[assignment]  # bool: sent late (separate file)
    extra: list = field(default_factory=list)  # extra rows: (start_min, value, sent_delay_min, late)

    @property
    def step_min(self) -> int:
        return int(self.meter.step.total_seconds() // 60)


def _minutes(d: date) -> int:
    return int(np.datetime64(d, "m").astype(np.int64))


def _fmt(minutes: np.ndarray) -> pl.Series:
    return pl.Series(minutes.astype("datetime64[m]")).cast(pl.Datetime("us")).dt.strftime(TS)


def _clean_series(rng, world: list[Enterprise], start: date, days: int) -> list[Series]:
    t0 = _minutes(start)
    grid15 = t0 + 15 * np.arange(days * 96, dtype=np.int64)
    out = []
    for e in world:
        prof15 = shape(rng, e, grid15.astype("datetime64[m]"))
        prof_day = prof15.reshape(days, 96).mean(axis=1)
        for m in e.meters:
            if m.step == timedelta(minutes=15):
                cons = m.annual_canonical / 35040.0 * prof15
                grid = grid15
            else:
                cons = m.annual_canonical / 365.0 * prof_day
                grid = t0 + 1440 * np.arange(days, dtype=np.int64)
            out.append(Series(e, m, grid, cons))
    return out


def _pick(rng, items, k=1):
    idx = rng.choice(len(items), size=min(k, len(items)), replace=False)
    return [items[i] for i in sorted(idx)]


def simulate(
    out_dir: Path,
    *,
    enterprises: int = 20,
    start: date = date(2026, 1, 1),
    days: int = 59,
    seed: int = 42,
    regions: list[str] | None = None,
    faults: str = "default",
    truth_path: Path | None = None,
    history_months: int = 0,
    fault_rates: dict[str, float] | None = None,
    meters_per_enterprise: int | None = None,
) -> dict:
    if faults not in ("none", "default"):
        raise ValueError(f"faults must be 'none' or 'default', got {faults!r}")
    if enterprises < 1 or days < 1:
        raise ValueError("enterprises and days must be at least 1")
    regions = regions or PILOT_REGIONS
    unknown = [r for r in regions if r not in {x["region_code"] for x in read_seed("regions")}]
    if unknown:
        raise ValueError(f"unknown pilot region codes: {unknown}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world_rng = np.random.default_rng([seed, 1])
    fault_rng = np.random.default_rng([seed, 2])
    world = build_world(world_rng, enterprises, regions, start)
    if meters_per_enterprise:
        add_workshop_meters(world, meters_per_enterprise)
    series = _clean_series(world_rng, world, start, days)
    truth: list[dict] = []
    rates = {**DEFAULT_RATES, **(fault_rates or {})} if faults == "default" else {}

    def count(kind):
        return max(1, round(rates[kind] * enterprises)) if kind in rates else 0

    # consumption findings (real consumption: before totals)
    if count("abnormal_rise"):
        rise_days = max(2, min(10, days // 3))
        for e in _pick(fault_rng, world, count("abnormal_rise")):
            t_from = _minutes(start + timedelta(days=days - rise_days))
            for s in series:
                if s.ent is e and s.meter.scope == "boundary" and s.meter.direction == "in":
                    s.consumption = np.where(s.start_min >= t_from, s.consumption * 1.35, s.consumption)
            truth.append(
                {
                    "kind": "abnormal_rise",
                    "enterprise_id": e.enterprise_id,
                    "meter_id": None,
                    "period_start": _iso(t_from),
                    "period_end": _iso(_minutes(start + timedelta(days=days))),
                    "factor": 1.35,
                }
            )
    production = _production(world, series, start, days, world_rng)
    if count("limit_breach"):
        candidates = [p for p in production if p["limit_grade3"] is not None]
        for p in _pick(fault_rng, candidates, count("limit_breach")):
            p["quantity"] = round(p["energy_kgce"] / (p["limit_grade3"] * 1.15), 1)
            truth.append(
                {
                    "kind": "limit_breach",
                    "enterprise_id": p["enterprise_id"],
                    "meter_id": None,
                    "period_start": p["period_start"],
                    "period_end": p["period_end"],
                    "product_code": p["product_code"],
                    "unit_product_energy": round(p["energy_kgce"] / p["quantity"], 1),
                    "limit_grade3": p["limit_grade3"],
                    "standard": p["standard"],
                }
            )
    totals = _totals(series, start, days, world_rng)

    # reported values (clean)
    for s in series:
        m = s.meter
        if m.reading_type == "register":
            s.value = np.round(m.register_start + np.cumsum(s.consumption) / m.unit_factor, 3)
        else:
            s.value = np.round(s.consumption / m.unit_factor / m.multiplier, 4)
        s.late = np.zeros(len(s.value), dtype=bool)

    file_faults: list[dict] = []
    if rates:
        _data_faults(fault_rng, series, world, count, truth, file_faults)

    files = _write(
        out_dir, world, series, production, totals, start, days, history_months, world_rng, file_faults, truth
    )
    truth.sort(
        key=lambda t: (
            t["kind"],
            t["enterprise_id"],
            t.get("meter_id") or "",
            t["period_start"] or "",
            t.get("file") or "",
            t.get("row") or 0,
        )
    )
    if truth_path is not None:
        Path(truth_path).parent.mkdir(parents=True, exist_ok=True)
        Path(truth_path).write_text(
            "".join(json.dumps(t, ensure_ascii=False, sort_keys=True) + "\n" for t in truth), encoding="utf-8"
        )
    kinds: dict[str, int] = {}
    for t in truth:
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    return {
        "out": str(out_dir),
        "enterprises": len(world),
        "meters": sum(len(e.meters) for e in world),
        "files": files,
        "rows": sum(files.values()),
        "faults": kinds,
    }


def _iso(minutes: int) -> str:
    # minutes count from the epoch on the Asia/Shanghai wall clock (see _minutes), hence a naive epoch
    return (datetime(1970, 1, 1) + timedelta(minutes=int(minutes))).strftime(TS)  # noqa: DTZ001


def _limits() -> dict:
    out: dict = {}
    for r in read_seed("limit_standards"):
        # editions whose values are unknown (values_known=false) judge nothing: no limit to stay inside
        if r["indicator"] == "unit_product_energy" and r["grade"] == "3" and r["values_known"] == "true":
            out.setdefault(r["product_code"], []).append(r)
    return out


def _production(world, series, start, days, rng) -> list[dict]:
    """Monthly output per product, tied to the month's 综合能耗 (whole-plant basis, as scope is empty)."""
    coef = coefficients()
    limits = _limits()
    rows = []
    months = sorted({(start + timedelta(days=d)).replace(day=1) for d in range(days)})
    for e in world:
        for p in e.products:
            for m in months:
                lo = max(_minutes(m), _minutes(start))
                nxt = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
                hi = min(_minutes(nxt), _minutes(start + timedelta(days=days)))
                kgce = 0.0
                for s in series:
                    if s.ent is e and s.meter.scope == "boundary":
                        sel = (s.start_min >= lo) & (s.start_min < hi)
                        sign = 1 if s.meter.direction == "in" else -1
                        kgce += sign * float(s.consumption[sel].sum()) * coef[s.meter.energy_code]
                upe = PRODUCT_UPE[p] * float(rng.uniform(0.985, 1.015))
                in_force = [
                    r
                    for r in limits.get(p, [])
                    if r["effective_from"] <= m.isoformat()
                    and (not r["effective_to"] or m.isoformat() < r["effective_to"])
                ]
                rows.append(
                    {
                        "enterprise_id": e.enterprise_id,
                        "product_code": p,
                        "period_start": _iso(lo),
                        "period_end": _iso(hi),
                        "quantity": round(kgce / upe, 1),
                        "unit": "t",
                        "energy_kgce": kgce,
                        "limit_grade3": float(in_force[0]["limit_value"]) if in_force else None,
                        "standard": f"{in_force[0]['standard']}-{in_force[0]['edition']}" if in_force else None,
                        "sent_at": _iso(hi + 3 * 1440),
                    }
                )
    return rows


def _totals(series, start, days, rng) -> list[dict]:
    """The enterprise's own daily and monthly totals per energy type (its energy centre's view:
    complete data, boundary `in` meters, canonical units, its own rounding and a small metering offset)."""
    acc: dict = {}
    for s in series:
        if s.meter.scope != "boundary" or s.meter.direction != "in":
            continue
        day_idx = (s.start_min - _minutes(start)) // 1440
        per_day = np.bincount(day_idx, weights=s.consumption, minlength=days)
        key = (s.ent.enterprise_id, s.meter.energy_code)
        acc[key] = acc.get(key, 0) + per_day
    rows = []
    for (ent, energy), per_day in sorted(acc.items()):
        unit = {"electricity": "kWh", "natural_gas": "m3"}.get(energy, "t")
        offsets = rng.normal(1.0, 0.002, size=days)
        month_sum: dict = {}
        for d in range(days):
            day = start + timedelta(days=d)
            v = float(per_day[d] * offsets[d])
            rows.append(
                {
                    "enterprise_id": ent,
                    "energy_code": energy,
                    "period_start": _iso(_minutes(day)),
                    "period_end": _iso(_minutes(day + timedelta(days=1))),
                    "value": round(v, 3),
                    "unit": unit,
                    "sent_at": _iso(_minutes(day + timedelta(days=1)) + 60),
                    "_month": day.replace(day=1),
                }
            )
            month_sum[day.replace(day=1)] = month_sum.get(day.replace(day=1), 0.0) + v
        end = start + timedelta(days=days)
        for m, v in sorted(month_sum.items()):
            nxt = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
            if nxt > end or m < start:
                continue  # only complete months get a monthly total
            rows.append(
                {
                    "enterprise_id": ent,
                    "energy_code": energy,
                    "period_start": _iso(_minutes(m)),
                    "period_end": _iso(_minutes(nxt)),
                    "value": round(v, 3),
                    "unit": unit,
                    "sent_at": _iso(_minutes(nxt) + 120),
                    "_month": m,
                }
            )
    return rows


def _data_faults(rng, series: list[Series], world, count, truth: list, file_faults: list) -> None:
    """Faults between meter and platform, one kind per fault, each recorded in the truth."""
    used: set = set()

    def candidates(pred):
        return [s for s in series if pred(s) and id(s) not in used]

    def rec(kind, s, i0, i1, **detail):
        truth.append(
            {
                "kind": kind,
                "enterprise_id": s.ent.enterprise_id,
                "meter_id": s.meter.meter_id,
                "period_start": _iso(s.start_min[i0]),
                "period_end": _iso(s.start_min[i1] + s.step_min),
                **detail,
            }
        )

    def place(s, low, high):
        """A random start index in [low, high) for a fault on `s` (then taken: one fault per series), or None
        when the series is too short for it (a short simulation, a daily meter): the fault is then not
        injected and not in the truth."""
        if high <= low:
            return None
        used.add(id(s))
        return int(rng.integers(low, high))

    interval15 = lambda s: s.meter.reading_type == "interval" and s.step_min == 15 and len(s.value) > 200  # noqa: E731
    registers = lambda s: s.meter.reading_type == "register" and len(s.value) > 200  # noqa: E731
    n = lambda s: len(s.value)  # noqa: E731

    for s in _pick(rng, candidates(interval15), count("silent_feed")):
        used.add(id(s))
        i0 = int(n(s) * rng.uniform(0.75, 0.9))
        s.extra.append(("cut", i0))
        rec("silent_feed", s, i0, n(s) - 1)
    for s in _pick(rng, candidates(interval15), count("gap")):
        length = int(rng.choice([2, 4, 8, 24, 96, 200]))
        i0 = place(s, 10, n(s) - length - 10)
        if i0 is None:
            continue
        s.extra.append(("drop", i0, i0 + length))
        rec("gap", s, i0, i0 + length - 1, intervals=length)
    for kind in ("register_reset", "rollover", "meter_replacement"):
        for s in _pick(rng, candidates(registers), count(kind)):
            used.add(id(s))
            i0 = int(rng.integers(n(s) // 4, 3 * n(s) // 4))
            inc = np.diff(np.concatenate([[s.meter.register_start], s.value]))
            if kind == "register_reset":
                s.value[i0:] = np.round(np.cumsum(inc[i0:]), 3)  # drops toward zero and continues
            elif kind == "meter_replacement":
                start_new = float(np.round(rng.uniform(10, 500), 3))
                s.value[i0:] = np.round(start_new + np.cumsum(inc[i0:]), 3)
                s.extra.append(("replaced", i0, start_new))
            else:  # the register passes register_max
                rmax = s.meter.register_max
                shift = rmax - s.value[i0] + inc[i0] * 0.5
                s.value = np.round(np.mod(s.value + shift, rmax), 3)
                s.meter.register_start = float(np.mod(s.meter.register_start + shift, rmax))
            rec(kind, s, i0, i0, register_max=s.meter.register_max)
    for s in _pick(rng, candidates(interval15), count("spike")):
        i0 = place(s, 5, n(s) - 5)
        if i0 is None:
            continue
        s.value[i0] = np.round(s.meter.rated_max * 25 / 1.0, 3)
        rec("spike", s, i0, i0, rated_max=s.meter.rated_max)
    for s in _pick(rng, candidates(interval15), count("unit_error")):
        i0 = place(s, 5, n(s) - 100)
        if i0 is None:
            continue
        s.value[i0 : i0 + 96] = np.round(s.value[i0 : i0 + 96] * 1000, 4)
        rec("unit_error", s, i0, i0 + 95, factor=1000)
    for s in _pick(rng, candidates(interval15), count("negative")):
        i0 = place(s, 5, n(s) - 5)
        if i0 is None:
            continue
        s.value[i0] = -abs(s.value[i0])
        rec("negative", s, i0, i0)
    for s in _pick(rng, candidates(lambda s: s.meter.reading_type == "interval"), count("duplicate")):
        i0 = place(s, 1, n(s) - 1)
        if i0 is None:
            continue
        s.extra.append(("duplicate", i0))
        rec("duplicate", s, i0, i0)
    for s in _pick(rng, candidates(lambda s: s.meter.reading_type == "interval"), count("correction")):
        i0 = place(s, 1, n(s) - 1)
        if i0 is None:
            continue
        true_value = float(s.value[i0])
        s.value[i0] = np.round(true_value / 1.1, 4)  # the first send was wrong; the correction carries the true value
        s.extra.append(("correction", i0, true_value))
        rec("correction", s, i0, i0, original_value=float(s.value[i0]), corrected_value=true_value)
    for s in _pick(rng, candidates(lambda s: s.meter.reading_type == "interval"), count("late_arrival")):
        i0 = place(s, 1, n(s) - 4)
        if i0 is None:
            continue
        s.late[i0 : i0 + 4] = True
        rec("late_arrival", s, i0, i0 + 3, delay_days=3)
    # file-level faults: placed by _write, which knows the final row numbers
    per_ent: dict[str, Series] = {}
    for s in series:
        per_ent.setdefault(s.ent.enterprise_id, s)
    firsts = list(per_ent.values())
    for kind in ("malformed_row", "invalid_enterprise_id", "unknown_meter"):
        for s in _pick(rng, firsts, count(kind)):
            i0 = int(rng.integers(0, n(s)))
            variant = ["bad_date", "not_a_number", "wrong_column_count", "bad_encoding"][len(file_faults) % 4]
            file_faults.append(
                {"kind": kind, "series": s, "index": i0, "variant": variant if kind == "malformed_row" else None}
            )


READING_COLUMNS = ["enterprise_id", "meter_id", "period_start", "period_end", "value", "unit", "quality", "sent_at"]


def _series_rows(s: Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(on-time rows, late rows) of one meter, with extra rows for duplicates and corrections.
    Column `_pos` orders rows inside a file; `_i` is the interval index."""
    m = s.meter
    keep = np.ones(len(s.value), dtype=bool)
    corrections, duplicates = [], []
    for x in s.extra:
        if x[0] == "cut":
            keep[x[1] :] = False
        elif x[0] == "drop":
            keep[x[1] : x[2]] = False
        elif x[0] == "duplicate":
            duplicates.append(x[1])
        elif x[0] == "correction":
            corrections.append((x[1], x[2]))
    delay = 5 if s.step_min == 15 else 120
    idx = np.arange(len(s.value))
    base = pl.DataFrame(
        {
            "_i": idx,
            "_start": s.start_min,
            "_value": s.value,
            "_late": s.late,
            "_keep": keep,
            "_delay": np.where(s.late, 3 * 1440, delay).astype(np.int64),
        }
    )
    extra = []
    for i in duplicates:
        extra.append(
            {
                "_i": i,
                "_start": int(s.start_min[i]),
                "_value": float(s.value[i]),
                "_late": bool(s.late[i]),
                "_keep": bool(keep[i]),
                "_delay": int(base["_delay"][i]),
            }
        )
    for i, v in corrections:
        extra.append(
            {"_i": i, "_start": int(s.start_min[i]), "_value": v, "_late": True, "_keep": True, "_delay": 2 * 1440}
        )
    if extra:
        base = pl.concat([base, pl.DataFrame(extra, schema=base.schema)])
    base = base.filter(pl.col("_keep")).with_columns((pl.col("_start") + s.step_min).alias("_end"))
    frame = base.select(
        pl.lit(s.ent.enterprise_id).alias("enterprise_id"),
        pl.lit(m.meter_id).alias("meter_id"),
        (
            pl.lit(None, pl.String)
            if m.reading_type == "register"  # a register gives only the reading time
            else pl.from_epoch(pl.col("_start") * 60, time_unit="s").dt.strftime(TS)
        ).alias("period_start"),
        pl.from_epoch(pl.col("_end") * 60, time_unit="s").dt.strftime(TS).alias("period_end"),
        pl.col("_value").round(4).alias("value"),
        pl.lit(m.unit).alias("unit"),
        pl.lit("measured").alias("quality"),
        pl.from_epoch((pl.col("_end") + pl.col("_delay")) * 60, time_unit="s").dt.strftime(TS).alias("sent_at"),
        "_late",
        "_start",
        "_i",
    )
    return frame.filter(~pl.col("_late")), frame.filter(pl.col("_late"))


def _month_of(minutes: pl.Expr) -> pl.Expr:
    return pl.from_epoch(minutes * 60, time_unit="s").dt.strftime("%Y-%m")


def _csv_lines(frame: pl.DataFrame, columns: list[str]) -> list[str]:
    text = frame.select(columns).write_csv(include_header=True, null_value="")
    return text.rstrip("\n").split("\n")


def _jsonl_lines(frame: pl.DataFrame, columns: list[str]) -> list[str]:
    out = []
    for row in frame.select(columns).iter_rows(named=True):
        out.append(json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False))
    return out


def _malformed(line: str, variant: str, jsonl: bool) -> bytes:
    if jsonl:
        if variant == "bad_date":
            return line.replace('"period_end": "', '"period_end": "2026-13-45T').encode()
        if variant == "not_a_number":
            return line.replace('"value": ', '"value": "n/a", "_was": ').encode()
        if variant == "wrong_column_count":
            return line[: len(line) // 2].encode()
        return line.encode()[:10] + b"\xff\xfe" + line.encode()[10:]
    parts = line.split(",")
    if variant == "bad_date":
        parts[3] = "2026-13-45T25:61:00+08:00"
    elif variant == "not_a_number":
        parts[4] = "12..5x"
    elif variant == "wrong_column_count":
        parts = parts[:-2]
    else:
        return (",".join(parts)).encode()[:20] + b"\xff\xfe" + (",".join(parts)).encode()[20:]
    return ",".join(parts).encode()


def _bad_check_char(ent_id: str) -> str:
    from stdnum.cn import uscc

    for c in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        candidate = ent_id[:-1] + c
        if not uscc.is_valid(candidate):
            return candidate
    raise AssertionError("no invalid variant found")


def _write(
    out_dir: Path, world, series, production, totals, start, days, history_months, rng, file_faults, truth
) -> dict:
    files: dict[str, int] = {}

    def put(rel: str, lines: list, *, header_rows: int = 1) -> None:
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = b"".join((ln if isinstance(ln, bytes) else ln.encode("utf-8")) + b"\n" for ln in lines)
        path.write_bytes(data)
        files[rel] = len(lines) - header_rows

    ent_rows = [
        {
            "enterprise_id": e.enterprise_id,
            "name": e.name,
            "region_code": e.region_code,
            "industry_code": e.industry_code,
            "has_energy_centre": "true" if e.has_energy_centre else "false",
            "declared_tce": f"{e.declared_tce:.0f}",
            "annual_target_tce": f"{e.declared_tce * 0.97:.0f}",
            "connected_since": e.connected_since.isoformat(),
        }
        for e in world
    ]
    put("enterprises.csv", _csv_lines(pl.DataFrame(ent_rows), list(ent_rows[0])))
    meter_rows, replaced_rows = [], []
    for e in world:
        for m in e.meters:
            meter_rows.append(
                {
                    "enterprise_id": e.enterprise_id,
                    "meter_id": m.meter_id,
                    "energy_code": m.energy_code,
                    "unit": m.unit,
                    "reading_type": m.reading_type,
                    "multiplier": f"{m.multiplier:g}",
                    "register_max": f"{m.register_max:g}" if m.register_max else None,
                    "direction": m.direction,
                    "scope": m.scope,
                    "rated_max": f"{m.rated_max:g}" if m.rated_max else None,
                    "calibration_valid_until": (start + timedelta(days=400)).isoformat(),
                    "installed_at": _iso(_minutes(e.connected_since) - 1440),
                }
            )
    for s in series:
        for x in s.extra:
            if x[0] == "replaced":
                row = dict(
                    next(
                        r
                        for r in meter_rows
                        if r["enterprise_id"] == s.ent.enterprise_id and r["meter_id"] == s.meter.meter_id
                    )
                )
                row["installed_at"] = _iso(int(s.start_min[x[1]]))
                replaced_rows.append(row)
    mcols = list(meter_rows[0])
    put("meters.csv", _csv_lines(pl.DataFrame(meter_rows, schema=dict.fromkeys(mcols, pl.String)), mcols))
    if replaced_rows:
        put(
            "meters_replacements.csv",
            _csv_lines(pl.DataFrame(replaced_rows, schema=dict.fromkeys(mcols, pl.String)), mcols),
        )

    # readings: per enterprise and month, on-time and late files
    jsonl_ents = {e.enterprise_id for i, e in enumerate(world) if i % 5 == 4}
    # the rows of one enterprise at a time: a pilot region's rows as strings would not fit in memory
    by_ent: dict[str, list[Series]] = {}
    for s in series:
        by_ent.setdefault(s.ent.enterprise_id, []).append(s)
    faults_by_ent: dict[str, list] = {}
    for f in file_faults:
        faults_by_ent.setdefault(f["series"].ent.enterprise_id, []).append(f)
    for e in world:
        parts = [_series_rows(s) for s in by_ent.get(e.enterprise_id, [])]
        on_time = pl.concat([p[0] for p in parts]).sort("_start", "meter_id", "_i")
        late = pl.concat([p[1] for p in parts]).sort("_start", "meter_id", "_i")
        jsonl = e.enterprise_id in jsonl_ents
        for unsplit, suffix in ((on_time, ""), (late, "_late")):
            frame = unsplit.with_columns(_month_of(pl.col("_start")).alias("_month"))
            for (month,), part in frame.group_by(["_month"], maintain_order=True):
                rel = f"{e.enterprise_id}/readings_{month}{suffix}.{'jsonl' if jsonl else 'csv'}"
                # str lines; malformed rows go in as bytes (they may not even be UTF-8)
                lines: list[Any] = _jsonl_lines(part, READING_COLUMNS) if jsonl else _csv_lines(part, READING_COLUMNS)
                header = 0 if jsonl else 1
                # file-level faults: an extra line after the chosen row, numbered as the file will be
                inserts = []
                if suffix == "":
                    for f in faults_by_ent.get(e.enterprise_id, []):
                        s = f["series"]
                        if _iso(int(s.start_min[f["index"]]))[:7] != month:
                            continue
                        pos = int(rng.integers(header, len(lines)))
                        src = lines[pos] if pos >= header else lines[-1]
                        new: str | bytes
                        if f["kind"] == "malformed_row":
                            new = _malformed(src, f["variant"], jsonl)
                        elif f["kind"] == "invalid_enterprise_id":
                            new = src.replace(e.enterprise_id, _bad_check_char(e.enterprise_id))
                        else:
                            new = (
                                src.replace(f'"meter_id": "{_field(src, jsonl, "meter_id")}"', '"meter_id": "EL-99"')
                                if jsonl
                                else ",".join([src.split(",")[0], "EL-99", *src.split(",")[2:]])
                            )
                        inserts.append((pos + 1, new, f, src))
                    for k, (at, new, f, src) in enumerate(sorted(inserts, key=lambda t: t[0])):
                        final_index = at + k
                        lines.insert(final_index, new)
                        meter = _field(src, jsonl, "meter_id")
                        truth.append(
                            {
                                "kind": f["kind"],
                                "enterprise_id": e.enterprise_id,
                                "meter_id": "EL-99" if f["kind"] == "unknown_meter" else meter,
                                "period_start": _field(src, jsonl, "period_start") or None,
                                "period_end": _field(src, jsonl, "period_end"),
                                "file": rel,
                                "row": final_index + 1,
                                "variant": f["variant"],
                            }
                        )
                put(rel, lines, header_rows=header)

    prod_cols = ["enterprise_id", "product_code", "period_start", "period_end", "quantity", "unit", "scope", "sent_at"]
    if production:
        frame = pl.DataFrame(
            [{**{k: p.get(k) for k in prod_cols}, "quantity": f"{p['quantity']:.1f}"} for p in production],
            schema=dict.fromkeys(prod_cols, pl.String),
        )
        for (month,), part in frame.with_columns(pl.col("period_start").str.slice(0, 7).alias("_m")).group_by(
            ["_m"], maintain_order=True
        ):
            put(f"production_{month}.csv", _csv_lines(part, prod_cols))
    eco = []
    months = sorted({(start + timedelta(days=d)).replace(day=1) for d in range(days)})
    coef = coefficients()
    for e in world:
        for m in months:
            lo, hi = (
                _minutes(max(m, start)),
                _minutes(min((m.replace(day=28) + timedelta(days=4)).replace(day=1), start + timedelta(days=days))),
            )
            tce = (
                sum(
                    float(s.consumption[(s.start_min >= lo) & (s.start_min < hi)].sum())
                    * coef[s.meter.energy_code]
                    * (1 if s.meter.direction == "in" else -1)
                    for s in series
                    if s.ent is e and s.meter.scope == "boundary"
                )
                / 1000.0
            )
            va = tce / e.tce_per_10k_yuan_va
            eco.append(
                {
                    "enterprise_id": e.enterprise_id,
                    "month": m.strftime("%Y-%m"),
                    "gross_output_10k_yuan": f"{va * 3.6:.1f}",
                    "value_added_10k_yuan": f"{va:.1f}",
                    "sent_at": _iso(hi + 5 * 1440),
                }
            )
    put("economics.csv", _csv_lines(pl.DataFrame(eco), list(eco[0])))
    tot_cols = ["enterprise_id", "energy_code", "period_start", "period_end", "value", "unit", "sent_at"]
    if totals:
        frame = pl.DataFrame(
            [
                {**{k: t[k] for k in tot_cols}, "value": f"{t['value']:.3f}", "_m": t["_month"].strftime("%Y-%m")}
                for t in totals
            ]
        )
        for (month,), part in frame.group_by(["_m"], maintain_order=True):
            put(f"totals_{month}.csv", _csv_lines(part, tot_cols))
    if history_months:
        put("totals_history.csv", _history_totals(world, start, history_months, rng, tot_cols))
    return files


def _field(line, jsonl: bool, name: str):
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    if jsonl:
        try:
            return json.loads(line).get(name)
        except ValueError:
            return None
    parts = line.split(",")
    i = READING_COLUMNS.index(name)
    return parts[i] if i < len(parts) else None


def _history_totals(world, start: date, months: int, rng, cols) -> list[str]:
    """Daily totals per energy type for `months` months before start (for forecasting)."""
    first = start
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
    n_days = (start - first).days
    rows = []
    for e in world:
        grid = _minutes(first) + 60 * np.arange(n_days * 24, dtype=np.int64)
        prof = shape(rng, e, grid.astype("datetime64[m]")).reshape(n_days, 24).mean(axis=1)
        trend = 1.0 + 0.03 * (np.arange(n_days) / 365.0)  # slow growth
        by_energy: dict[str, float] = {}
        for m in e.meters:
            if m.scope == "boundary" and m.direction == "in":
                by_energy[m.energy_code] = by_energy.get(m.energy_code, 0.0) + m.annual_canonical
        for energy, annual in sorted(by_energy.items()):
            unit = {"electricity": "kWh", "natural_gas": "m3"}.get(energy, "t")
            vals = annual / 365.0 * prof * trend / trend[-1]
            for d in range(n_days):
                day = first + timedelta(days=d)
                rows.append(
                    f"{e.enterprise_id},{energy},{_iso(_minutes(day))},{_iso(_minutes(day + timedelta(days=1)))},"
                    f"{vals[d]:.3f},{unit},{_iso(_minutes(day + timedelta(days=1)) + 60)}"
                )
    return [",".join(cols), *rows]
