"""UCI "Steel Industry Energy Consumption" (dataset 851) → feed contract v1 readings.

The publisher's CSV (UTF-8 with BOM, CRLF) has one row per 15-minute interval: `date` is the
interval END as `dd/mm/yyyy HH:MM` local time (Korea, UTC+9, no daylight saving), `Usage_kWh` the
active energy of the interval. Its midnight rows are labelled with the day they END, not the day
they fall on: `01/01/2018 00:00` (NSM = 0) comes after `01/01/2018 23:45` and is 24:00 of 1 January,
i.e. 2018-01-02T00:00+09:00. Read naively it would book each day's last interval in the previous day
and the year's last interval in 2017. This adapter checks that the layout really is so (every
`00:00` row directly follows that date's `23:45` row) and fails with the row number if not.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

SOURCE_COLUMNS = ("date", "Usage_kWh", "NSM")


class LayoutError(ValueError):
    pass


def read_intervals(src: Path, utc_offset: str = "+09:00") -> pl.DataFrame:
    """Rows of the source with period_start/period_end (ISO 8601 with offset) and value (kWh)."""
    frame = pl.read_csv(src, infer_schema_length=0, encoding="utf8")  # BOM and CRLF handled by polars
    missing = [c for c in SOURCE_COLUMNS if c not in frame.columns]
    if missing:
        raise LayoutError(f"{src}: missing columns {missing}")
    frame = frame.with_row_index("source_row", offset=2)  # line 1 is the header
    local = pl.col("date").str.to_datetime("%d/%m/%Y %H:%M", strict=False)
    frame = frame.with_columns(local.alias("_label"), pl.col("Usage_kWh").cast(pl.Float64, strict=False).alias("_kwh"))
    bad = frame.filter(pl.col("_label").is_null() | pl.col("_kwh").is_null())
    if bad.height:
        r = bad.row(0, named=True)
        raise LayoutError(
            f"{src}: row {r['source_row']}: unreadable date or Usage_kWh ({r['date']!r}, {r['Usage_kWh']!r})"
        )
    is_midnight = (pl.col("_label").dt.hour() == 0) & (pl.col("_label").dt.minute() == 0)
    prev_label = pl.col("_label").shift(1)
    # a midnight row must directly follow the 23:45 row of the same date (it is 24:00 of that date)
    broken = frame.filter(
        is_midnight
        & (pl.col("source_row") > 2)
        & (
            (prev_label.dt.date() != pl.col("_label").dt.date())
            | (prev_label.dt.hour() != 23)
            | (prev_label.dt.minute() != 45)
        )
    )
    if broken.height:
        r = broken.row(0, named=True)
        raise LayoutError(
            f"{src}: row {r['source_row']}: midnight row {r['date']!r} does not follow 23:45 of the same date"
        )
    end = pl.when(is_midnight).then(pl.col("_label") + pl.duration(days=1)).otherwise(pl.col("_label"))
    fmt = "%Y-%m-%dT%H:%M:%S" + utc_offset
    return frame.select(
        "source_row",
        (end - pl.duration(minutes=15)).dt.strftime(fmt).alias("period_start"),
        end.dt.strftime(fmt).alias("period_end"),
        pl.col("Usage_kWh").alias("value"),
    )


def convert(
    src: Path,
    out_dir: Path,
    *,
    enterprise_id: str,
    meter_id: str = "EL-MAIN",
    utc_offset: str = "+09:00",
    sent_at: str = "2019-01-01T06:00:00+09:00",
) -> dict:
    """Write `readings_uci_steel.csv` (contract v1) under out_dir/<enterprise_id>/; returns counts and total."""
    rows = read_intervals(Path(src), utc_offset)
    target = Path(out_dir) / enterprise_id
    target.mkdir(parents=True, exist_ok=True)
    out = rows.select(
        pl.lit(enterprise_id).alias("enterprise_id"),
        pl.lit(meter_id).alias("meter_id"),
        "period_start",
        "period_end",
        "value",
        pl.lit("kWh").alias("unit"),
        pl.lit("measured").alias("quality"),
        pl.lit(sent_at).alias("sent_at"),
    )
    path = target / "readings_uci_steel.csv"
    out.write_csv(path)
    return {
        "path": str(path),
        "rows": out.height,
        "total_kwh": float(rows.select(pl.col("value").cast(pl.Float64).sum()).item()),
    }
