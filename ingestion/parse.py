"""Turn a feed file (CSV or JSON lines) or an HTTP page into a frame of strings, one row per
record, with its row number; rows that cannot even be split into fields are rejected here with a
reason. Row numbers are line numbers in the file (the CSV header is line 1), so an enterprise can
find the row in its own file.

Splitting is vectorised (polars string kernels); only lines that need CSV quoting rules, or a file
with invalid UTF-8, fall back to per-line handling.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import orjson
import polars as pl

BOM = b"\xef\xbb\xbf"
ROW = "row_number"


@dataclass
class Parsed:
    frame: pl.DataFrame  # all contract columns present (as String), plus `row_number` (Int32) and `raw_row`
    rows_read: int
    rejects: list[dict] = field(default_factory=list)  # row_number, field, value, reason, raw_row
    header: list[str] = field(default_factory=list)
    file_error: str | None = None  # the whole file is unusable (reason); rows_read still counts its lines


def _reject(row: int, reason: str, raw: str | None, fld: str | None = None, value: str | None = None) -> dict:
    return {"row_number": row, "field": fld, "value": value, "reason": reason, "raw_row": raw}


def _empty(columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            ROW: pl.Series([], dtype=pl.Int32),
            "raw_row": pl.Series([], dtype=pl.String),
            **{c: pl.Series([], dtype=pl.String) for c in columns},
        }
    )


def _decode_lines(data: bytes) -> tuple[list[str], list[int]]:
    """Lines of the file as text, and the 1-based line numbers whose bytes are not valid UTF-8."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        text = data.decode("utf-8")
        bad: list[int] = []
        lines = text.split("\n")
    except UnicodeDecodeError:
        lines, bad = [], []
        for i, raw in enumerate(data.split(b"\n"), start=1):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("utf-8", errors="replace"))
                bad.append(i)
    if lines and lines[-1] == "":
        lines.pop()  # final newline
    return lines, bad


@dataclass
class Lines:
    """A CSV file split into data lines (line numbers kept), before its fields are split."""

    header: list[str]
    frame: pl.DataFrame  # row_number, raw_row (non-blank, valid UTF-8 lines after the header)
    rows_read: int
    rejects: list[dict]
    file_error: str | None = None


def split_lines(data: bytes, contract_fields: tuple[str, ...]) -> Lines:
    lines, bad_encoding = _decode_lines(data)
    if not lines:
        return Lines(
            [],
            pl.DataFrame({ROW: pl.Series([], dtype=pl.Int32), "raw_row": pl.Series([], dtype=pl.String)}),
            0,
            [],
            "empty file: no header line",
        )
    header = [h.strip() for h in next(csv.reader([lines[0].rstrip("\r")]))]
    frame = (
        pl.DataFrame({"raw_row": pl.Series(lines[1:], dtype=pl.String)})
        .with_columns(  # typed: may be header-only
            pl.int_range(2, len(lines) + 1, dtype=pl.Int32).alias(ROW),
            pl.col("raw_row").str.strip_suffix("\r"),
        )
        .select(ROW, "raw_row")
    )
    frame = frame.filter(pl.col("raw_row").str.strip_chars() != "")  # blank lines are not rows
    rows_read = frame.height
    unknown = [h for h in header if h not in contract_fields]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if unknown or dupes or not header:
        reason = (
            f"header has columns not in feed contract v1: {', '.join(unknown)}"
            if unknown
            else f"header repeats columns: {', '.join(dupes)}"
        )
        every_row = [_reject(r, reason, raw[:2000]) for r, raw in frame.iter_rows()]
        return Lines(header, frame.clear(), rows_read, every_row, reason)
    rejects: list[dict] = []
    if bad_encoding:
        bad = pl.Series(bad_encoding, dtype=pl.Int32)
        rejects = [
            _reject(r, "row is not valid UTF-8", raw) for r, raw in frame.filter(pl.col(ROW).is_in(bad)).iter_rows()
        ]
        frame = frame.filter(~pl.col(ROW).is_in(bad))
    return Lines(header, frame, rows_read, rejects)


def split_fields(
    lines: pl.DataFrame, header: list[str], contract_fields: tuple[str, ...]
) -> tuple[pl.DataFrame, list[dict]]:
    """Fields of a slice of lines (vectorised; quoted lines go through the csv module)."""
    ncols = len(header)
    if lines.is_empty() or ncols == 0:  # header-only or empty file: no rows, nothing to split
        empty = pl.DataFrame(
            {
                ROW: pl.Series([], dtype=pl.Int32),
                "raw_row": pl.Series([], dtype=pl.String),
                **{h: pl.Series([], dtype=pl.String) for h in header},
            }
        )
        return _with_all_columns(empty, contract_fields), []
    quoted_mask = pl.col("raw_row").str.contains('"', literal=True)
    quoted = lines.filter(quoted_mask)
    plain = lines.filter(~quoted_mask).with_columns(
        pl.col("raw_row").str.count_matches(",", literal=True).alias("_seps")
    )
    wrong = plain.filter(pl.col("_seps") != ncols - 1)
    rejects = [
        _reject(r, f"row has {s + 1} fields, header has {ncols}", raw)
        for r, raw, s in wrong.select(ROW, "raw_row", "_seps").iter_rows()
    ]
    plain = plain.filter(pl.col("_seps") == ncols - 1)
    parts = [
        plain.with_columns(pl.col("raw_row").str.split_exact(",", ncols - 1).struct.rename_fields(header).alias("_f"))
        .unnest("_f")
        .select(ROW, "raw_row", *header)
    ]
    if quoted.height:
        recs: dict[str, list[str]] = {h: [] for h in header}
        rows, raws = [], []
        for r, raw in quoted.iter_rows():
            try:
                values = next(csv.reader([raw]))
            except csv.Error as exc:
                rejects.append(_reject(r, f"row is not valid CSV: {exc}", raw))
                continue
            if len(values) != ncols:
                rejects.append(_reject(r, f"row has {len(values)} fields, header has {ncols}", raw))
                continue
            rows.append(r)
            raws.append(raw)
            for h, v in zip(header, values, strict=True):  # lengths checked just above
                recs[h].append(v)
        parts.append(
            pl.DataFrame(
                {
                    ROW: pl.Series(rows, dtype=pl.Int32),
                    "raw_row": pl.Series(raws, dtype=pl.String),
                    **{h: pl.Series(v, dtype=pl.String) for h, v in recs.items()},
                }
            )
        )
    out = pl.concat(parts, how="vertical")
    return _with_all_columns(out, contract_fields), rejects


def parse_csv(data: bytes, contract_fields: tuple[str, ...]) -> Parsed:
    """The whole file at once (the loader streams split_fields by slices instead)."""
    lines = split_lines(data, contract_fields)
    if lines.file_error:
        return Parsed(_empty(list(contract_fields)), lines.rows_read, lines.rejects, lines.header, lines.file_error)
    frame, rejects = split_fields(lines.frame, lines.header, contract_fields)
    return Parsed(frame.sort(ROW), lines.rows_read, lines.rejects + rejects, lines.header)


def _with_all_columns(frame: pl.DataFrame, contract_fields: tuple[str, ...]) -> pl.DataFrame:
    missing = [c for c in contract_fields if c not in frame.columns]
    frame = frame.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in missing])
    # whitespace around a value is not part of it; an empty field is absent
    frame = frame.with_columns([pl.col(c).str.strip_chars().replace("", None) for c in contract_fields])
    return frame.select(ROW, "raw_row", *contract_fields)


def _as_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    return str(v)


def parse_records(records: list, contract_fields: tuple[str, ...], first_row: int = 1) -> Parsed:
    """JSON objects (an HTTP page, or decoded JSON lines) → the same frame as parse_csv."""
    rows, raws, rejects = [], [], []
    cols: dict[str, list[str | None]] = {c: [] for c in contract_fields}
    for i, rec in enumerate(records, start=first_row):
        if isinstance(rec, Exception):
            rejects.append(_reject(i, f"line is not valid JSON: {rec}", getattr(rec, "raw", None)))
            continue
        if not isinstance(rec, dict):
            rejects.append(_reject(i, "record is not a JSON object", _as_text(rec)))
            continue
        unknown = [k for k in rec if k not in cols]
        if unknown:
            rejects.append(
                _reject(
                    i,
                    f"fields not in feed contract v1: {', '.join(sorted(unknown))}",
                    orjson.dumps(rec).decode(),
                    unknown[0],
                    _as_text(rec[unknown[0]]),
                )
            )
            continue
        rows.append(i)
        raws.append(orjson.dumps(rec).decode())
        for c in contract_fields:
            cols[c].append(_as_text(rec.get(c)))
    frame = pl.DataFrame(
        {
            ROW: pl.Series(rows, dtype=pl.Int32),
            "raw_row": pl.Series(raws, dtype=pl.String),
            **{c: pl.Series(v, dtype=pl.String) for c, v in cols.items()},
        }
    )
    return Parsed(_with_all_columns(frame, contract_fields), len(records), rejects, list(contract_fields))


class _BadLine(ValueError):
    def __init__(self, msg: str, raw: str):
        super().__init__(msg)
        self.raw = raw


def parse_jsonl(data: bytes, contract_fields: tuple[str, ...]) -> Parsed:
    lines, bad_encoding = _decode_lines(data)
    bad = set(bad_encoding)
    records, numbers = [], []
    pre_rejects = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if i in bad:
            pre_rejects.append(_reject(i, "row is not valid UTF-8", line))
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            records.append(_BadLine(str(exc).split(":")[0], line))
        numbers.append(i)
    parsed = parse_records(records, contract_fields)
    # parse_records numbered records 1..n; map back to line numbers
    mapping = pl.DataFrame(
        {"_i": pl.Series(range(1, len(numbers) + 1), dtype=pl.Int32), "_line": pl.Series(numbers, dtype=pl.Int32)}
    )
    frame = (
        parsed.frame.join(mapping, left_on=ROW, right_on="_i", how="left")
        .with_columns(pl.col("_line").alias(ROW))
        .drop("_line")
    )
    for rej in parsed.rejects:
        rej["row_number"] = numbers[rej["row_number"] - 1]
    return Parsed(frame, parsed.rows_read + len(pre_rejects), pre_rejects + parsed.rejects, list(contract_fields))


def parse_bytes(data: bytes, suffix: str, contract_fields: tuple[str, ...]) -> Parsed:
    if suffix.lower() == ".jsonl":
        return parse_jsonl(data, contract_fields)
    return parse_csv(data, contract_fields)
