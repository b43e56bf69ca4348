"""Turn a feed file (CSV or JSON lines) or an HTTP page into a frame of strings, one row per
record, with its row number; rows that cannot even be split into fields are rejected here with a
reason. Row numbers are line numbers in the file (the CSV header is line 1), so an enterprise can
find the row in its own file.

Splitting is vectorised (polars string kernels); only lines that need CSV quoting rules, or a file
with invalid UTF-8, fall back to per-line handling.
"""

from __future__ import annotations

import csv
from collections import Counter
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
    encoding: str = "utf-8"
    unreadable: bool = False  # not text at all (sniff): a failed batch, no rows


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


# magic numbers of files that are not text at all (a workbook renamed .csv is the common case)
_NOT_TEXT = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook or a zipped folder renamed), not a CSV or JSON lines file"),
    (b"\xd0\xcf\x11\xe0", "an Office document (an Excel .xls workbook renamed), not a CSV or JSON lines file"),
    (b"\x1f\x8b", "gzip-compressed data under a name without .gz"),
    (b"%PDF", "a PDF document, not a CSV or JSON lines file"),
)
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
MAX_HEADER_CHARS = 16384  # a header of the contract's fields is < 300 characters
MAX_HEADER_COLUMNS = 256


def sniff(data: bytes) -> str | None:
    """Why a file cannot be read as text at all (the whole file becomes a failed batch), or None.

    UTF-16 ('Unicode text' exports of Excel and Notepad) is refused with its name rather than guessed
    at: the contract's encodings are UTF-8 and GB18030. A NUL byte in the first line means binary data;
    NUL bytes further down reject only the rows that hold them."""
    for magic, why in _NOT_TEXT:
        if data.startswith(magic):
            return f"file is {why}"
    head = data[:4096]
    if head.startswith(UTF16_BOMS) or (len(head) >= 4 and head[1:4:2] == b"\x00\x00" and head[0:1] != b"\x00"):
        return "file is UTF-16 text ('Unicode text' export): save it as CSV UTF-8 (or GB18030) and send it again"
    first_line = head.split(b"\n", 1)[0]
    if b"\x00" in first_line:
        return "file is binary data (NUL bytes in its first line), not a CSV or JSON lines file"
    return None


def decode(data: bytes) -> tuple[str, str, list[int]]:
    """(text, encoding, 1-based line numbers not decodable): UTF-8 (BOM tolerated) when the whole file
    is valid UTF-8, else GB18030 (Chinese Excel exports) when the whole file is valid GB18030, judged
    per file so that a GBK name whose bytes happen to be valid UTF-8 is not read as mojibake; else
    UTF-8 line by line with the undecodable lines rejected."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030", []
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for i, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("utf-8", errors="replace"))
            bad.append(i)
    return "\n".join(lines), "utf-8 (invalid lines rejected)", bad


def _decode_lines(data: bytes) -> tuple[list[str], list[int], str]:
    """Lines of the file as text, the 1-based line numbers that could not be decoded, the encoding."""
    text, encoding, bad = decode(data)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # final newline
    return lines, bad, encoding


def printable(text: str | None, limit: int = 4000) -> str | None:
    """A value as it can be stored and shown: NUL bytes spelled out (PostgreSQL text cannot hold them),
    cut to `limit` characters with the original length said."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text)} characters)"
    return text


@dataclass
class Lines:
    """A CSV file split into data lines (line numbers kept), before its fields are split."""

    header: list[str]
    frame: pl.DataFrame  # row_number, raw_row (non-blank, valid UTF-8 lines after the header)
    rows_read: int
    rejects: list[dict]
    file_error: str | None = None
    encoding: str = "utf-8"
    unreadable: bool = False


def _no_lines() -> pl.DataFrame:
    return pl.DataFrame({ROW: pl.Series([], dtype=pl.Int32), "raw_row": pl.Series([], dtype=pl.String)})


def _header(line: str) -> tuple[list[str], str | None]:
    """The column names of a header line, or why it is not one."""
    line = line.rstrip("\r")
    if len(line) > MAX_HEADER_CHARS:
        return [], f"header line has {len(line)} characters (at most {MAX_HEADER_CHARS}): not a feed header"
    if "\x00" in line:
        return [], "header line holds a NUL byte: binary data, not a feed header"
    try:
        names = [h.strip() for h in next(csv.reader([line]))]
    except csv.Error as exc:  # e.g. a bare carriage return inside the header
        return [], f"header line is not valid CSV: {exc}"
    if len(names) > MAX_HEADER_COLUMNS:
        return [], f"header has {len(names)} columns (at most {MAX_HEADER_COLUMNS})"
    return names, None


def split_lines(data: bytes, contract_fields: tuple[str, ...]) -> Lines:
    unreadable = sniff(data)
    if unreadable:
        return Lines([], _no_lines(), 0, [], unreadable, "binary", True)
    lines, bad_encoding, encoding = _decode_lines(data)
    if not lines:
        return Lines([], _no_lines(), 0, [], "empty file: no header line", encoding)
    header, header_error = _header(lines[0])
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
    known = set(contract_fields)
    unknown = [str(printable(h, 100)) for h in header if h not in known][:20]
    dupes = sorted(h for h, n in Counter(header).items() if n > 1)
    if header_error or unknown or dupes or not header:
        reason = header_error or (
            f"header has columns not in feed contract v1: {', '.join(unknown)}"
            if unknown
            else f"header repeats columns: {', '.join(dupes)}"
            if dupes
            else "empty header line"
        )
        every_row = [_reject(r, reason, raw[:2000]) for r, raw in frame.iter_rows()]
        return Lines(header if not header_error else [], frame.clear(), rows_read, every_row, reason, encoding)
    rejects: list[dict] = []
    if bad_encoding:
        bad = pl.Series(bad_encoding, dtype=pl.Int32)
        rejects = [
            _reject(r, "row is not valid UTF-8 or GB18030", raw)
            for r, raw in frame.filter(pl.col(ROW).is_in(bad)).iter_rows()
        ]
        frame = frame.filter(~pl.col(ROW).is_in(bad))
    has_nul = pl.col("raw_row").str.contains("\x00", literal=True)
    if b"\x00" in data and frame.select(has_nul.any()).item():  # no NUL byte in the file: none in a row
        rejects += [
            _reject(r, "row holds a NUL byte (binary data)", raw) for r, raw in frame.filter(has_nul).iter_rows()
        ]
        frame = frame.filter(~has_nul)
    return Lines(header, frame, rows_read, rejects, None, encoding)


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
        return Parsed(
            _empty(list(contract_fields)),
            lines.rows_read,
            lines.rejects,
            lines.header,
            lines.file_error,
            lines.encoding,
            lines.unreadable,
        )
    frame, rejects = split_fields(lines.frame, lines.header, contract_fields)
    return Parsed(frame.sort(ROW), lines.rows_read, lines.rejects + rejects, lines.header, None, lines.encoding)


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
    """JSON objects (an HTTP page, or decoded JSON lines) → the same frame as parse_csv.

    Column by column rather than record by record (a pilot day's JSON lines files are ~350,000 records):
    the records are sorted out first, then each field's values are taken from all of them at once."""
    fields = set(contract_fields)
    rows: list[int] = []
    good: list[dict] = []
    rejects = []
    for i, rec in enumerate(records, start=first_row):
        if isinstance(rec, Exception):
            rejects.append(_reject(i, f"line is not valid JSON: {rec}", getattr(rec, "raw", None)))
            continue
        if not isinstance(rec, dict):
            rejects.append(_reject(i, "record is not a JSON object", _as_text(rec)))
            continue
        if not rec.keys() <= fields:
            unknown = [k for k in rec if k not in fields]
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
        good.append(rec)
    raws = [orjson.dumps(rec).decode() for rec in good]
    cols: dict[str, list[str | None]] = {}
    for c in contract_fields:
        values = [rec.get(c) for rec in good]
        if not all(v is None or type(v) is str for v in values):
            values = [_as_text(v) for v in values]
        cols[c] = values
    # a NUL byte in a value: orjson writes it \u0000, so only records whose text holds that are looked at
    nul_rows = {}
    for k, raw in enumerate(raws):
        if "\\u0000" in raw:
            nul = next((c for c in contract_fields if cols[c][k] is not None and "\x00" in str(cols[c][k])), None)
            if nul is not None:
                nul_rows[k] = nul
    if nul_rows:
        for k, nul in nul_rows.items():
            rejects.append(_reject(rows[k], "field holds a NUL byte (binary data)", raws[k], nul, cols[nul][k]))
        keep = [k for k in range(len(rows)) if k not in nul_rows]
        rows, raws = [rows[k] for k in keep], [raws[k] for k in keep]
        cols = {c: [v[k] for k in keep] for c, v in cols.items()}
        rejects.sort(key=lambda r: r["row_number"])
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
    unreadable = sniff(data)
    if unreadable:
        return Parsed(_empty(list(contract_fields)), 0, [], list(contract_fields), unreadable, "binary", True)
    lines, bad_encoding, encoding = _decode_lines(data)
    bad = set(bad_encoding)
    records, numbers = [], []
    pre_rejects = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if i in bad:
            pre_rejects.append(_reject(i, "row is not valid UTF-8 or GB18030", line))
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
    return Parsed(
        frame,
        parsed.rows_read + len(pre_rejects),
        pre_rejects + parsed.rejects,
        list(contract_fields),
        encoding=encoding,
    )


def parse_bytes(data: bytes, suffix: str, contract_fields: tuple[str, ...]) -> Parsed:
    if suffix.lower() == ".jsonl":
        return parse_jsonl(data, contract_fields)
    return parse_csv(data, contract_fields)


# ---------------------------------------------------------------- plain CSV files, read by polars at once

# bytes that make a CSV file not plain: quoting, carriage returns, NUL (the general path has the rules)
_NOT_PLAIN = (b'"', b"\r", b"\x00")
# ASCII whitespace that `strip_chars` removes around a value (with \r and \n, excluded anyway)
_SPACES = (b" ", b"\t", b"\x0b", b"\x0c")


PLAIN_HEAD_BYTES = 1 << 20  # what `plain_csv` scans of a file whose pieces are scanned one by one


@dataclass
class PlainCsv:
    """A CSV file with nothing unusual, ready for polars' CSV reader."""

    header: list[str]
    data: bytes  # the file (its first line is the header)
    body: int  # where the data lines start
    spaces: bool  # a value may have whitespace around it (or non-ASCII text): values must be stripped
    commas: int | None = None  # separators in the data lines (counted when read)


def plain_csv(data: bytes, contract_fields: tuple[str, ...], scan: bool = True) -> PlainCsv | None:
    """The file as a `PlainCsv` when `split_lines` + `split_fields` would make of it exactly what polars'
    CSV reader makes (no quote, carriage return or NUL byte, a header of distinct contract fields, every
    line with as many fields as the header), else None: the general path then reads it, with its
    reasons. The reader itself refuses invalid UTF-8 and a line with more fields than the header
    (`read_plain` raises: the caller then takes the general path); a line with fewer fields (or a blank
    line, read as a row of nulls) would have to be made up by more on another, so `read_plain` counting
    the separators of all lines against the rows read settles it. (`scan` False: the data lines are
    not looked at here; the caller scans each piece with `plain_piece`.)"""
    if sniff(data) or not_plain(data if scan else data[:PLAIN_HEAD_BYTES]):  # (CRLF shows in the first lines)
        return None
    end = data.find(b"\n")
    if end < 0 or end + 1 == len(data):
        return None  # header only, or no header line: the general path says so
    first = data[len(BOM) if data.startswith(BOM) else 0 : end]
    try:
        header, error = _header(first.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    if error or not header or len(set(header)) != len(header) or not set(header) <= set(contract_fields):
        return None
    if not scan:
        return PlainCsv(header, data, end + 1, True)
    return PlainCsv(header, data, end + 1, has_spaces(data))


def not_plain(data: bytes) -> bool:
    """Whether the text holds a byte that only the general path reads right (quote, CR, NUL)."""
    return any(b in data for b in _NOT_PLAIN)


def has_spaces(data: bytes) -> bool:
    """Whether a value may have whitespace around it (ASCII whitespace, or any non-ASCII text)."""
    return not data.isascii() or any(s in data for s in _SPACES)


def read_plain(
    files: list[PlainCsv], contract_fields: tuple[str, ...], first_line: int = 2
) -> tuple[pl.DataFrame, list[int]]:
    """The rows of plain CSV files of one header, read at once by polars: `row_number` (the line in its
    file: header = 1), `raw_row` (the line as sent) and the contract fields (stripped, empty = null), in
    file order, as `parse_csv` makes them file by file; and the rows of each file. (One file may also
    be a piece of a file: its lines from `first_line` on, no header line: `body` 0.) Raises (polars' error
    or ValueError) when a file is not as plain as it looked: the caller then takes the general path."""
    header = files[0].header
    if any(f.header != header for f in files):
        raise ValueError("read_plain: files of different headers")
    schema = dict.fromkeys(header, pl.String)
    if len(files) == 1:
        f = files[0]
        skip = 1 if f.body else 0
        frame = pl.read_csv(
            f.data, has_header=False, skip_lines=skip, new_columns=header, schema=schema, quote_char=None
        )
        counts = [frame.height]
    else:
        parts: list[bytes | memoryview] = []
        counts = []
        for f in files:
            body = memoryview(f.data)[f.body :]
            parts.append(body)
            counts.append(f.data.count(b"\n", f.body) + (not f.data.endswith(b"\n")))
            if not f.data.endswith(b"\n"):
                parts.append(b"\n")
        frame = pl.read_csv(b"".join(parts), has_header=False, new_columns=header, schema=schema, quote_char=None)
        if frame.height != sum(counts):
            raise ValueError(f"read_plain: {frame.height} rows read of {sum(counts)} lines")
    commas = sum(f.data.count(b",", f.body) if f.commas is None else f.commas for f in files)
    if commas != frame.height * (len(header) - 1):
        raise ValueError("read_plain: a line has fewer fields than the header (or is blank)")
    frame = frame.with_columns(
        _line_numbers(counts, first_line).alias(ROW),
        pl.concat_str([pl.col(h).fill_null("") for h in header], separator=",").alias("raw_row"),
    )
    if any(f.spaces for f in files):
        return _with_all_columns(frame, contract_fields), counts
    missing = [c for c in contract_fields if c not in header]  # empty values are null already; none to strip
    return frame.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in missing]).select(
        ROW, "raw_row", *contract_fields
    ), counts


def _line_numbers(counts: list[int], first_line: int = 2) -> pl.Expr:
    """Line numbers of the data lines of files of `counts` lines each, one after the other (2, 3, …)."""
    if len(counts) == 1:
        return pl.int_range(first_line, pl.len() + first_line, dtype=pl.Int32)
    import numpy as np

    starts = np.cumsum([0, *counts[:-1]])
    numbers = np.arange(sum(counts), dtype=np.int64) - np.repeat(starts, counts) + 2
    return pl.lit(pl.Series(numbers.astype(np.int32)))
