"""Vectorised validation of a parsed feed frame against feed contract v1.

Field rules are compiled from the entity's JSON Schema (type, format, pattern, enum, bounds,
required, credit-code check character); entity rules (periods, known enterprise and meter,
convertible unit, file ownership) follow. Each rejected row is reported once, with the first rule it
breaks: field, value and reason. Exact duplicates (same key, value and sent_at) inside one file or
batch are separated out, each pointing at the row it repeats.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import polars as pl
from stdnum.cn import uscc

from .contract import Entity
from .parse import ROW
from .reference import Reference

_DT_RE = r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}(?::?\d{2})?)?$"
TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%z"
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"
# Contract v1.1: a date-time without an offset is local wall-clock time, read in the meter's time zone
# (readings, meters) or in the platform's (every other entity).
DEFAULT_TIMEZONE = "Asia/Shanghai"
TZ = "_tz"  # per-row time zone column used while parsing


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# meter usages (contract v1.1) that measure energy produced inside the boundary, never a boundary crossing
PRODUCED_INSIDE = ("secondary_output", "recovered")


@dataclass
class Context:
    """What the loader knows when it validates one file or batch."""

    reference: Reference
    known_enterprises: set[str]
    known_meters: pl.DataFrame  # enterprise_id, meter_id, energy_code, reading_type[, timezone] (latest registry state)
    owner_enterprise_id: str | None = None
    source_name: str = ""
    # several files validated together (one drop): the column that holds each row's file owner (null for
    # a file that belongs to no one enterprise), used instead of owner_enterprise_id
    owner_column: str | None = None
    # the platform's clock: facts may not end (or be sent) later than this plus the door's tolerance
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Validated:
    valid: pl.DataFrame  # contract columns, normalised strings (timestamps ISO with offset), plus row_number
    rejects: pl.DataFrame  # row_number, enterprise_id, field, value, reason, raw_row
    duplicates: pl.DataFrame  # row_number, first_row_number, enterprise_id, natural_key


def _timestamp_parts(col: str) -> tuple[pl.Expr, pl.Expr]:
    """'2026-01-01 00:15+0800' → ('2026-01-01T00:15:00', '+08:00'); the offset part is null when the value
    carries none (local time), both are null when the value is not a date-time at all."""
    parts = pl.col(col).str.extract_groups(_DT_RE)
    time = parts.struct.field("2")
    time = pl.when(time.str.len_chars() == 5).then(time + ":00").otherwise(time)
    off = parts.struct.field("3")
    off = (
        pl.when(off == "Z")
        .then(pl.lit("+00:00"))
        .when(off.str.len_chars() == 3)
        .then(off + ":00")
        .when(off.str.len_chars() == 5)
        .then(off.str.slice(0, 3) + ":" + off.str.slice(3, 2))
        .otherwise(off)
    )
    return parts.struct.field("1") + "T" + time, off


def normalise_timestamp(col: str) -> pl.Expr:
    """'2026-01-01 00:15+0800' → '2026-01-01T00:15:00+08:00' (no offset ⇒ null)."""
    local, off = _timestamp_parts(col)
    return local + off


_OFFSET_RE = r"([+-])(\d{2}):?(\d{2})$"


def _field_checks(ent: Entity, ref: Reference) -> list[tuple[str, pl.Expr, str | pl.Expr]]:
    """(field, failing-condition, reason) in the order rules are reported. Bounds come from the
    door_limits seed (magnitudes, years, UTC offsets)."""
    checks: list[tuple[str, pl.Expr, str | pl.Expr]] = []  # field, failing rows, reason (text or per row)
    max_abs = ref.limits.get("max_abs_number", 1e15)
    y0, y1 = int(ref.limits.get("earliest_year", 1900)), int(ref.limits.get("latest_year", 2199))
    max_offset = ref.limits.get("max_utc_offset_minutes", 840)
    for f in ent.fields:
        c = pl.col(f.name)
        present = c.is_not_null()
        if f.required:
            checks.append((f.name, c.is_null(), "missing required field"))
        if f.type == "number":
            num = c.cast(pl.Float64, strict=False)
            checks.append((f.name, present & (num.is_null() | num.is_nan() | num.is_infinite()), "not a number"))
            checks.append((f.name, present & (num.abs() > max_abs), f"beyond ±{max_abs:g}: not a plausible number"))
            if f.minimum is not None:
                checks.append((f.name, present & (num < f.minimum), f"below minimum {f.minimum:g}"))
            if f.exclusive_minimum is not None:
                checks.append(
                    (f.name, present & (num <= f.exclusive_minimum), f"must be greater than {f.exclusive_minimum:g}")
                )
        elif f.type == "boolean":
            checks.append(
                (f.name, present & ~c.str.to_lowercase().is_in(["true", "false"]), "not a boolean (true/false)")
            )
        else:
            if f.enum:
                checks.append((f.name, present & ~c.is_in(list(f.enum)), f"not one of {', '.join(f.enum)}"))
            if f.format == "date-time":
                checks.append((f.name, pl.col(f"_why_{f.name}").is_not_null(), pl.col(f"_why_{f.name}")))
                # the year (UTC) outside y0–y1, as instants compared: no calendar worked out per row
                dt = pl.col(dt_col(f.name))
                early, late = datetime(y0, 1, 1, tzinfo=UTC), datetime(y1 + 1, 1, 1, tzinfo=UTC)
                checks.append((f.name, present & ((dt < early) | (dt >= late)), f"year outside {y0}–{y1}"))
                checks.append(
                    (
                        f.name,
                        present & pl.col(f"_off_beyond_{f.name}"),
                        f"UTC offset beyond ±{int(max_offset) // 60:02d}:{int(max_offset) % 60:02d}",
                    )
                )
            elif f.format == "date":
                day = c.str.to_date("%Y-%m-%d", strict=False)
                checks.append((f.name, present & day.is_null(), "not a valid date (YYYY-MM-DD)"))
                checks.append(
                    (f.name, present & ((day.dt.year() < y0) | (day.dt.year() > y1)), f"year outside {y0}–{y1}")
                )
            elif f.pattern:
                checks.append((f.name, present & ~c.str.contains(f.pattern), "does not match the contract pattern"))
            if f.min_length:
                checks.append((f.name, present & (c.str.len_chars() < f.min_length), f"shorter than {f.min_length}"))
            if f.max_length:
                checks.append((f.name, present & (c.str.len_chars() > f.max_length), f"longer than {f.max_length}"))
    return checks


def dt_col(name: str) -> str:
    """Name of the parsed (UTC datetime) companion column of a date-time field."""
    return f"_dt_{name}"


def _prepare_timestamps(frame: pl.DataFrame, ent: Entity) -> pl.DataFrame:
    """Parse every date-time field once into `_dt_<field>` (UTC), its loaded text `_ts_<field>` and its
    reason column `_why_<field>`.

    The common canonical form parses directly; only rows that do not (other separators, `Z`, no
    seconds, `+0800`, local times without offset, or garbage) go through regex normalisation, so the
    cost stays vectorised. A local time is read in the row's time zone (column `_tz`, default
    Asia/Shanghai); one that a daylight-saving change makes ambiguous or non-existent is rejected with
    a reason that names it and the zone."""
    fields = [f.name for f in ent.fields if f.format == "date-time"]
    if not fields:
        return frame
    if TZ not in frame.columns:
        frame = frame.with_columns(pl.lit(DEFAULT_TIMEZONE).alias(TZ))
    frame = frame.with_columns(
        [pl.col(f).str.to_datetime(TS_FORMAT, strict=False, time_zone="UTC").alias(dt_col(f)) for f in fields]
        + [pl.lit(None, pl.String).alias(f"_why_{f}") for f in fields]
        + [pl.col(f).alias(f"_ts_{f}") for f in fields]
    )
    slow = pl.any_horizontal([pl.col(f).is_not_null() & pl.col(dt_col(f)).is_null() for f in fields])
    needs = frame.filter(slow)
    if needs.is_empty():
        return frame
    fixed = [_normalise_slow_timestamps(part, fields) for part in needs.partition_by(TZ)]
    return pl.concat([frame.filter(~slow), *fixed])


def _normalise_slow_timestamps(part: pl.DataFrame, fields: list[str]) -> pl.DataFrame:
    """Rows of one time zone whose date-times did not parse in the canonical form."""
    zone = part.get_column(TZ)[0]
    fixes = []
    for f in fields:
        local_text, off = _timestamp_parts(f)
        with_offset = (local_text + off).str.to_datetime(TS_FORMAT, strict=False, time_zone="UTC")
        naive = local_text.str.to_datetime(LOCAL_FORMAT, strict=False)
        localised = naive.dt.replace_time_zone(zone, ambiguous="null", non_existent="null")
        repeated = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").is_not_null()
        is_local = off.is_null() & local_text.is_not_null()
        parsed = pl.when(is_local).then(localised.dt.convert_time_zone("UTC")).otherwise(with_offset)
        broken = pl.col(f).is_not_null() & pl.col(dt_col(f)).is_null()
        fixes += [
            pl.when(broken & is_local)
            .then(parsed.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00"))
            .when(broken)
            .then(local_text + off)
            .otherwise(pl.col(f))
            .alias(f"_ts_{f}"),
            pl.when(broken).then(parsed).otherwise(pl.col(dt_col(f))).alias(dt_col(f)),
            pl.when(broken & local_text.is_null())
            .then(pl.lit("not an ISO 8601 date-time (YYYY-MM-DD HH:MM[:SS] with or without a UTC offset)"))
            .when(broken & is_local & naive.is_null())
            .then(pl.lit("not a valid date-time"))
            .when(broken & is_local & localised.is_null() & repeated)
            .then(
                pl.lit("local time ")
                + pl.col(f)
                + pl.lit(f" is ambiguous in {zone} (a daylight-saving change repeats it): send it with a UTC offset")
            )
            .when(broken & is_local & localised.is_null())
            .then(
                pl.lit("local time ")
                + pl.col(f)
                + pl.lit(f" does not exist in {zone} (skipped by a daylight-saving change): send it with a UTC offset")
            )
            .when(broken & with_offset.is_null() & ~is_local)
            .then(pl.lit("not a valid date-time"))
            .otherwise(None)
            .alias(f"_why_{f}"),
        ]
    return part.with_columns(fixes)


def _with_timezone(frame: pl.DataFrame, ent: Entity, ctx: Context) -> pl.DataFrame:
    """The time zone each row's local times are read in (column `_tz`)."""
    if TZ in frame.columns:
        return frame
    zones = list(known_timezones())
    if ent.name == "meters":
        own = pl.col("timezone")
        return frame.with_columns(pl.when(own.is_in(zones)).then(own).otherwise(pl.lit(DEFAULT_TIMEZONE)).alias(TZ))
    if ent.name == "readings" and "timezone" in ctx.known_meters.columns and not ctx.known_meters.is_empty():
        # the registry's facts that the entity rules need come along (one join, not two)
        tz = pl.col("timezone").fill_null(DEFAULT_TIMEZONE)
        registry = _meter_facts(ctx).with_columns(pl.when(tz.is_in(zones)).then(tz).alias(TZ)).drop("timezone")
        return frame.join(registry, on=["enterprise_id", "meter_id"], how="left").with_columns(
            pl.col(TZ).fill_null(DEFAULT_TIMEZONE)
        )
    return frame.with_columns(pl.lit(DEFAULT_TIMEZONE).alias(TZ))


def _meter_facts(ctx: Context) -> pl.DataFrame:
    """The registry's facts per meter that the rules on readings use (and its time zone, when known)."""
    meters = ctx.known_meters
    return meters.select(
        "enterprise_id",
        "meter_id",
        pl.col("energy_code").alias("_energy"),
        pl.col("reading_type").alias("_reading_type"),
        (
            pl.col("multiplier").cast(pl.Float64, strict=False)
            if "multiplier" in meters.columns
            else pl.lit(None, pl.Float64)
        ).alias("_multiplier"),
        *(["timezone"] if "timezone" in meters.columns else []),
    )


def _first_failure(frame: pl.DataFrame, checks: list) -> pl.DataFrame:
    """Adds _field/_reason: the first failing check per row (null when the row passes).

    All conditions are evaluated once, in parallel; the reason is only worked out for failing rows."""
    cols = frame.columns
    if not checks:
        return frame.with_columns(pl.lit(None, pl.String).alias("_field"), pl.lit(None, pl.String).alias("_reason"))
    failing = pl.any_horizontal([cond.fill_null(False) for _, cond, _ in checks])
    flagged = frame.with_columns(failing.alias("_failing"))
    good = (
        flagged.filter(~pl.col("_failing"))
        .select(cols)
        .with_columns(pl.lit(None, pl.String).alias("_field"), pl.lit(None, pl.String).alias("_reason"))
    )
    bad = flagged.filter(pl.col("_failing"))
    if bad.is_empty():
        return good
    bad = bad.with_columns([cond.fill_null(False).alias(f"_c{i}") for i, (_, cond, _) in enumerate(checks)])
    field_expr: Any = None
    reason_expr: Any = None
    for i, (fname, _, reason) in enumerate(checks):
        reason_lit = reason if isinstance(reason, pl.Expr) else pl.lit(reason)
        cond = pl.col(f"_c{i}")
        field_expr = (pl.when(cond) if field_expr is None else field_expr.when(cond)).then(pl.lit(fname))
        reason_expr = (pl.when(cond) if reason_expr is None else reason_expr.when(cond)).then(reason_lit)
    bad = bad.with_columns(
        field_expr.otherwise(None).alias("_field"), reason_expr.otherwise(None).alias("_reason")
    ).select(*cols, "_field", "_reason")
    return pl.concat([good, bad])


def _entity_checks(ent: Entity, frame: pl.DataFrame, ctx: Context) -> tuple[pl.DataFrame, list]:
    """Entity rules; may join extra columns onto the frame. Returns (frame, checks)."""
    ref = ctx.reference
    checks: list[tuple[str, pl.Expr, str | pl.Expr]] = []  # field, failing rows, reason (text or per row)
    names = ent.field_names
    if "enterprise_id" in names:
        ids = frame.get_column("enterprise_id").drop_nulls().unique().to_list()
        bad = [i for i in ids if not uscc.is_valid(i)]
        checks.append(
            (
                "enterprise_id",
                pl.col("enterprise_id").is_in(bad),
                "invalid 统一社会信用代码 (check character or structure)",
            )
        )
        if ctx.owner_enterprise_id:
            checks.append(
                (
                    "enterprise_id",
                    pl.col("enterprise_id") != ctx.owner_enterprise_id,
                    f"row belongs to another enterprise; this feed belongs to {ctx.owner_enterprise_id}",
                )
            )
        elif ctx.owner_column:
            owner = pl.col(ctx.owner_column)
            checks.append(
                (
                    "enterprise_id",
                    owner.is_not_null() & (pl.col("enterprise_id") != owner),
                    pl.lit("row belongs to another enterprise; this feed belongs to ") + owner,
                )
            )
        if ent.name != "enterprises":
            checks.append(
                (
                    "enterprise_id",
                    ~pl.col("enterprise_id").is_in(list(ctx.known_enterprises)),
                    "unknown enterprise: not in the enterprise registry",
                )
            )
    if ent.name == "enterprises":
        pilot_ok = [c for c in frame.get_column("region_code").drop_nulls().unique().to_list() if ref.pilot_region(c)]
        checks.append(
            (
                "region_code",
                pl.col("region_code").is_not_null() & ~pl.col("region_code").is_in(pilot_ok),
                "region_code is not within any pilot region of the region reference",
            )
        )
    if "energy_code" in names:
        checks.append(
            (
                "energy_code",
                ~pl.col("energy_code").is_in(list(ref.canonical_unit)),
                "unknown energy_code: not in the energy type reference",
            )
        )
        frame = frame.with_columns(
            pl.col("energy_code")
            .replace_strict(ref.canonical_unit, default=None, return_dtype=pl.String)
            .alias("_canonical")
        )
    if ent.name == "meters":
        checks.append(
            (
                "timezone",
                pl.col("timezone").is_not_null() & ~pl.col("timezone").is_in(list(known_timezones())),
                "unknown time zone: not an IANA name such as Asia/Shanghai or Europe/Berlin",
            )
        )
        reg = pl.col("reading_type") == "register"
        checks.append(
            ("register_max", ~reg & pl.col("register_max").is_not_null(), "register_max is only for register meters")
        )
        checks.append(
            (
                "replaced_at",
                pl.col("replaced_at").is_not_null()
                & pl.col("installed_at").is_not_null()
                & (pl.col(dt_col("replaced_at")) <= pl.col(dt_col("installed_at"))),
                "replaced_at is not after installed_at",
            )
        )
        checks.append(
            (
                "usage",
                pl.col("usage").is_in(list(PRODUCED_INSIDE)) & (pl.col("direction") == "out"),
                "usage secondary_output/recovered measures energy produced inside the boundary: direction must be in",
            )
        )
    if ent.name == "readings":
        if "_energy" not in frame.columns:  # (joined with the time zones, as a rule: `_with_timezone`)
            frame = frame.join(
                _meter_facts(ctx).drop("timezone", strict=False), on=["enterprise_id", "meter_id"], how="left"
            )
        frame = frame.with_columns(
            pl.col("_energy")
            .replace_strict(ref.canonical_unit, default=None, return_dtype=pl.String)
            .alias("_canonical")
        )
        checks.append(
            ("meter_id", pl.col("_energy").is_null(), "unknown meter: not in the meter registry of this enterprise")
        )
        start, end = pl.col(dt_col("period_start")), pl.col(dt_col("period_end"))
        checks.append(
            (
                "period_start",
                pl.col("period_start").is_not_null() & (start >= end),
                "period_start is not before period_end",
            )
        )
        checks.append(
            (
                "value",
                (pl.col("_reading_type") == "register") & (pl.col("value").cast(pl.Float64, strict=False) < 0),
                "a register reading cannot be negative (a register counts up from zero): the reading is rejected "
                "and the steps into and out of it are booked as one estimated span, never as measured",
            )
        )
        tol = timedelta(minutes=ref.limits.get("future_tolerance_minutes", 15))
        checks.append(
            (
                "period_end",
                end > pl.col(dt_col("sent_at")) + tol,
                f"period_end is later than sent_at (+{tol.seconds // 60} min): a reading cannot be sent "
                "before its period ends",
            )
        )
    if ent.name in ("readings", "totals", "production", "economics", "inventories"):
        tol = timedelta(minutes=ref.limits.get("future_tolerance_minutes", 15))
        latest = ctx.now + tol
        if "period_end" in names:
            checks.append(
                (
                    "period_end",
                    pl.col(dt_col("period_end")) > latest,
                    f"period_end is in the future (after the platform's clock {ctx.now:%Y-%m-%dT%H:%M}Z "
                    f"+{tol.seconds // 60} min)",
                )
            )
        checks.append(
            (
                "sent_at",
                pl.col(dt_col("sent_at")) > latest,
                f"sent_at is in the future (after the platform's clock {ctx.now:%Y-%m-%dT%H:%M}Z "
                f"+{tol.seconds // 60} min)",
            )
        )
    if ent.name in ("totals", "production"):
        checks.append(
            (
                "period_start",
                pl.col(dt_col("period_start")) >= pl.col(dt_col("period_end")),
                "period_start is not before period_end",
            )
        )
    if ent.name == "inventories":
        # contract v1.2: the month is a calendar month the platform can place (the door's year bounds)
        y0, y1 = int(ref.limits.get("earliest_year", 1900)), int(ref.limits.get("latest_year", 2199))
        year = pl.col("month").str.slice(0, 4).cast(pl.Int32, strict=False)
        checks.append(("month", (year < y0) | (year > y1), f"year outside {y0}–{y1}"))
        checks.append(
            (
                "month",
                pl.col("month") > pl.lit(f"{ctx.now:%Y-%m}"),
                f"month is after the platform's clock ({ctx.now:%Y-%m}): a monthly statement cannot be sent in advance",
            )
        )
    if ent.name == "production":
        checks.append(
            (
                "product_code",
                ~pl.col("product_code").is_in(list(ref.products)),
                "unknown product_code: not in the product reference",
            )
        )
        # contract v1.1: the output unit must convert to the product's unit (seed unit_conversions)
        frame = frame.with_columns(
            pl.col("product_code")
            .replace_strict(ref.products, default=None, return_dtype=pl.String)
            .alias("_canonical")
        )
    if "unit" in names and "_canonical" in frame.columns:
        pairs = pl.DataFrame(
            {
                "unit": [f for f, _ in ref.conversions],
                "_canonical": [t for _, t in ref.conversions],
                "_convertible": [True] * len(ref.conversions),
                "_factor": list(ref.conversions.values()),
            },
            schema={"unit": pl.String, "_canonical": pl.String, "_convertible": pl.Boolean, "_factor": pl.Float64},
        )
        frame = frame.join(pairs, on=["unit", "_canonical"], how="left")
        if ent.name == "production":
            accepted = {
                target: ", ".join(sorted(ref.units_convertible_to(target))) for target in set(ref.products.values())
            }
            reason = pl.format(
                "unit is unknown or not convertible to the product's unit {} (accepted: {})",
                pl.col("_canonical"),
                pl.col("_canonical").replace_strict(accepted, default="", return_dtype=pl.String),
            )
        else:
            reason = pl.lit("unit is unknown or not convertible to the energy type's canonical unit")
        checks.append(("unit", pl.col("_canonical").is_not_null() & pl.col("_convertible").is_null(), reason))
    if ent.name == "readings" and ref.max_reading_quantity:
        bound = pl.col("_energy").replace_strict(ref.max_reading_quantity, default=None, return_dtype=pl.Float64)
        quantity = (
            pl.col("value").cast(pl.Float64, strict=False) * pl.col("_factor") * pl.col("_multiplier").fill_null(1.0)
        ).abs()
        checks.append(
            (
                "value",
                bound.is_not_null() & (quantity > bound),
                "value (after unit conversion and the meter's multiplier) is beyond the plausible maximum of "
                "its energy type (seed plausibility_bounds)",
            )
        )
    return frame, checks


def split_duplicates(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Exact duplicates inside one file or batch: a row identical to an earlier one (same key, values
    and sent_at, as sent). The first occurrence stays; each repeat comes back with the row it repeats
    (columns row_number, first_row_number, raw_row)."""
    # rows whose text hashes alike are the candidates (a 64-bit hash collides with another text next to
    # never, and such a row then is its own first occurrence below): half the time of grouping the texts
    repeated = frame.select(pl.col("raw_row").hash(seed=1).is_duplicated()).to_series()
    if not repeated.any():
        empty = frame.select(ROW, "raw_row").clear().with_columns(pl.lit(None, pl.Int32).alias("first_row_number"))
        return frame, empty.select(ROW, "first_row_number", "raw_row")
    rep = frame.filter(repeated).with_columns(pl.col(ROW).min().over("raw_row").alias("first_row_number"))
    dups = rep.filter(pl.col(ROW) != pl.col("first_row_number")).select(ROW, "first_row_number", "raw_row")
    return frame.join(dups.select(ROW), on=ROW, how="anti"), dups


def describe_duplicates(dups: pl.DataFrame, fields: pl.DataFrame, ent: Entity) -> pl.DataFrame:
    """row_number, first_row_number, enterprise_id, natural_key of duplicate rows (fields split)."""
    ent_id = (
        pl.col("enterprise_id")
        if "enterprise_id" in ent.field_names
        else pl.lit(None, pl.String).alias("enterprise_id")
    )
    return (
        dups.select(ROW, "first_row_number")
        .join(fields, on=ROW, how="left")
        .select(
            pl.col(ROW).alias("row_number"),
            pl.col("first_row_number").cast(pl.Int32),
            ent_id,
            pl.concat_str([pl.col(k).fill_null("") for k in ent.key], separator="|").alias("natural_key"),
        )
        .sort("row_number")
    )


def prepare(frame: pl.DataFrame, ent: Entity, ctx: Context | None = None) -> pl.DataFrame:
    """Parsed companion columns (`_dt_<field>`) for the date-time fields; idempotent."""
    if any(c.startswith("_dt_") for c in frame.columns):
        return frame
    if ctx is not None:
        frame = _with_timezone(frame, ent, ctx)
    return _prepare_timestamps(frame, ent)


def _with_offsets(frame: pl.DataFrame, ent: Entity, max_offset: float) -> pl.DataFrame:
    """Whether the UTC offset of each date-time field as loaded is beyond `max_offset` minutes
    (`_off_beyond_<field>`), worked out once per distinct text: a day of a region's readings has ~100
    distinct timestamps in 1.7 M rows, so the rows are only compared with the texts found beyond (none,
    as a rule: then no row is looked at)."""
    new = []
    for name in (f.name for f in ent.fields if f.format == "date-time"):
        distinct = frame.get_column(f"_ts_{name}").drop_nulls().unique()
        off = distinct.str.extract_groups(_OFFSET_RE)
        minutes = off.struct.field("2").cast(pl.Int32, strict=False) * 60 + off.struct.field("3").cast(
            pl.Int32, strict=False
        )
        beyond = distinct.filter((minutes > max_offset).fill_null(False))
        new.append(
            (pl.col(f"_ts_{name}").is_in(beyond.implode()) if beyond.len() else pl.lit(False)).alias(
                f"_off_beyond_{name}"
            )
        )
    return frame.with_columns(new) if new else frame


def check(frame: pl.DataFrame, ent: Entity, ctx: Context) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Field and entity rules on any slice of a batch: (valid rows to load, rejected rows with reasons)."""
    frame = prepare(frame, ent, ctx)
    cols = frame.columns
    max_offset = ctx.reference.limits.get("max_utc_offset_minutes", 840)
    f = _first_failure(_with_offsets(frame, ent, max_offset), _field_checks(ent, ctx.reference))
    ok = f.filter(pl.col("_reason").is_null()).select(cols)
    bad = f.filter(pl.col("_reason").is_not_null()).select(*cols, "_field", "_reason")
    ok, checks = _entity_checks(ent, ok, ctx)
    ok = _first_failure(ok, checks)
    bad = pl.concat([bad, ok.filter(pl.col("_reason").is_not_null()).select(*cols, "_field", "_reason")])
    ok = ok.filter(pl.col("_reason").is_null())

    # the representation that is loaded: normalised timestamps, lower-case booleans, defaults filled
    norm = []
    for fld in ent.fields:
        if fld.format == "date-time":
            norm.append(pl.col(f"_ts_{fld.name}").alias(fld.name))
        elif fld.type == "boolean":
            norm.append(pl.col(fld.name).str.to_lowercase())
        elif fld.default is not None:
            norm.append(pl.col(fld.name).fill_null(pl.lit(str(fld.default))))
    ok = ok.with_columns(norm)
    ent_id = (
        pl.col("enterprise_id")
        if "enterprise_id" in ent.field_names
        else pl.lit(None, pl.String).alias("enterprise_id")
    )
    rejects = bad.select(
        pl.col(ROW).alias("row_number"),
        ent_id,
        pl.col("_field").alias("field"),
        pl.coalesce([pl.when(pl.col("_field") == c).then(pl.col(c)) for c in ent.field_names]).alias("value"),
        pl.col("_reason").alias("reason"),
        pl.col("raw_row"),
    )
    keep = [ROW, "raw_row", *ent.field_names] + [c for c in ok.columns if c.startswith("_dt_")]
    return ok.select(keep), rejects


def validate(frame: pl.DataFrame, ent: Entity, ctx: Context) -> Validated:
    """The whole batch at once (onboarding checks, tests); the loader streams `check` by slices."""
    unique, dups = split_duplicates(frame)
    valid, rejects = check(unique, ent, ctx)
    return Validated(valid.sort(ROW), rejects.sort("row_number"), describe_duplicates(dups, frame, ent))
