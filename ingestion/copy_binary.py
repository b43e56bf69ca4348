"""Validated rows as PostgreSQL's binary COPY format, encoded from the parsed frame (issue 19).

A COPY in CSV makes the server parse every value again: three timestamps with their offsets and a
decimal per reading, which is most of its time. Validation has already parsed them (the `_dt_<field>`
instants, the decimal text checked), so the rows can be sent the way the server stores them: PostgreSQL's
binary COPY format (tuples of length-prefixed fields: int8/int4 big-endian, text as UTF-8, timestamptz as
microseconds since 2000-01-01 UTC, numeric as base-10,000 digits with weight, sign and display scale).
On this machine the server takes 2.6–3.0 s for a pilot day's 1.7 M readings in binary against 4.9–7.1 s in
CSV (server-side `COPY … FROM` file, same table).

What is stored must be what the CSV path stores, value for value, so a row is encoded only when each of its
values' binary form is certain to equal what the server's text input makes of the loaded text:
- numeric: the text `-?digits[.digits]` with at most 16 digits before and 16 after the point (the display
  scale is the number of fraction digits, as `numeric_in` counts them). Each value is sent as 8 base-10,000
  digits, weight 3: the server strips the zero digits on receipt (`numeric_recv` → `make_result`), as it
  does for text. An exponent, a `+`, blanks, a leading dot or more digits go the CSV way;
- timestamptz: the parsed instant of the loaded text, unless that text has sub-microsecond digits (the
  server rounds them), hour 24 or second 60 (the server rolls them over);
- text, int4, int8 as they are; any other column type (boolean, date: the registries) keeps its entity
  on CSV.
`encode` encodes the rows that `exact_rows` passes and hands back the others (the caller COPYs them as
CSV); tests/integration/test_copy_binary.py loads generated rows both ways and compares every stored value.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # flags, header extension
TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 00:00 UTC in microseconds since 1970
ENCODABLE = frozenset({"bigint", "integer", "text", "numeric", "timestamp with time zone"})
DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
DECIMAL_DIGITS = 16  # digits before and after the point that the fixed 8-digit numeric form holds
# a timestamp text whose instant the server would not read as polars did: sub-microsecond digits (rounded
# by the server), hour 24 and second 60 (rolled over by the server)
TIMESTAMP_UNSAFE = r"\.[0-9]{7}|T24:|:60(?:[.+-]|$)"
NUMERIC = np.dtype([("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"), ("dscale", ">i2"), ("digits", ">i2", (8,))])
_EMPTY = pa.scalar(b"", pa.large_binary())


class _Tuples:
    """The tuples being laid out: runs of fixed-width parts (one numpy record per row) between the parts
    of varying width (Arrow binary arrays), joined row by row at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: list[pa.Array] = []
        self.run: list[tuple[np.dtype, np.ndarray | int]] = []

    def fixed(self, dtype: np.dtype | str, values: np.ndarray | int) -> None:
        self.run.append((np.dtype(dtype), values))

    def varying(self, arr: pa.Array) -> None:
        self._end_run()
        self.parts.append(arr)

    def field(self, dtype: np.dtype, values: np.ndarray, is_null: np.ndarray | None) -> None:
        """One fixed-width field: its length (-1 where null) and, where not null, its value."""
        if is_null is None:
            self.fixed(">i4", dtype.itemsize)
            self.fixed(dtype, values)
            return
        self.fixed(">i4", np.where(is_null, -1, dtype.itemsize))
        rec = np.empty(self.n, dtype=dtype)
        rec[...] = values
        self.varying(pc.if_else(pa.array(is_null), pa.scalar(None, pa.large_binary()), _records(rec)))

    def _end_run(self) -> None:
        if self.run:
            rec = np.empty(self.n, dtype=[(f"f{i}", dt) for i, (dt, _) in enumerate(self.run)])
            for i, (_, values) in enumerate(self.run):
                rec[f"f{i}"] = values
            self.parts.append(_records(rec))
            self.run = []

    def payload(self) -> memoryview:
        self._end_run()
        rows = pc.binary_join_element_wise(*self.parts, _EMPTY, null_handling="replace", null_replacement="")
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset : rows.offset + len(rows) + 1]
        return memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]


def _records(rec: np.ndarray) -> pa.Array:
    """A numpy record array as one binary value per record."""
    n, width = len(rec), rec.dtype.itemsize
    offsets = np.arange(n + 1, dtype=np.int64) * width
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(rec).tobytes())]
    )


def _nulls(col: pl.Series) -> np.ndarray | None:
    return col.is_null().to_numpy() if col.null_count() else None


def _text(out: _Tuples, col: pl.Series) -> None:
    arr = col.cast(pl.String).to_arrow().cast(pa.large_string()).cast(pa.large_binary())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    out.fixed(">i4", pc.binary_length(arr).fill_null(-1).to_numpy(zero_copy_only=False))
    out.varying(arr)  # a null adds nothing (the join replaces it by b"")


def _decimal_parts(col: pl.Series) -> pl.DataFrame:
    """Per decimal text: whether it has the `DECIMAL` shape with at most `DECIMAL_DIGITS` digits on either
    side of the point (`exact`; a null is NULL either way), its sign, the digits before the point and the
    first `DECIMAL_DIGITS` after it as integers, and its display scale (the count of fraction digits)."""
    v = pl.col("v").fill_null("0")
    split = v.str.strip_prefix("-").str.split_exact(".", 1)
    whole, fraction = split.struct.field("field_0"), split.struct.field("field_1").fill_null("")
    return (
        pl.LazyFrame({"v": col.cast(pl.String)})
        .select(
            (
                v.str.contains(DECIMAL)
                & (whole.str.len_bytes() <= DECIMAL_DIGITS)
                & (fraction.str.len_bytes() <= DECIMAL_DIGITS)
            ).alias("exact"),
            v.str.starts_with("-").alias("neg"),
            whole.cast(pl.Int64, strict=False).alias("whole"),
            (fraction + "0" * DECIMAL_DIGITS)
            .str.slice(0, DECIMAL_DIGITS)
            .cast(pl.Int64, strict=False)
            .alias("fraction"),
            fraction.str.len_bytes().alias("scale"),
        )
        .collect()
    )


def _numeric(parts: pl.DataFrame) -> np.ndarray:
    """Exact decimals (`_decimal_parts`) as numeric's binary form (`NUMERIC`)."""
    whole, fraction = parts.get_column("whole").to_numpy(), parts.get_column("fraction").to_numpy()
    rec = np.empty(parts.height, dtype=NUMERIC)
    rec["ndigits"] = 8
    rec["weight"] = 3  # the first digit holds 10^12 .. 10^15
    rec["sign"] = np.where(parts.get_column("neg").to_numpy(), 0x4000, 0)  # the server makes a zero positive
    rec["dscale"] = parts.get_column("scale").to_numpy()
    for k in range(4):
        rec["digits"][:, k] = whole // 10 ** (12 - 4 * k) % 10_000
        rec["digits"][:, 4 + k] = fraction // 10 ** (12 - 4 * k) % 10_000
    return rec


def _exactness(frame: pl.DataFrame, columns: list[str], types: list[str]) -> tuple[pl.Series, dict[str, pl.DataFrame]]:
    ok = pl.Series(np.ones(frame.height, dtype=bool))
    decimals = {}
    for name, pg_type in zip(columns, types, strict=True):
        col = frame.get_column(name)
        if pg_type == "timestamp with time zone":
            instants = frame.get_column(f"_dt_{name}")
            if col.null_count() or instants.null_count():
                ok &= col.is_null() == instants.is_null()
            distinct = col.drop_nulls().unique()
            unsafe = distinct.filter(distinct.str.contains(TIMESTAMP_UNSAFE))
            if unsafe.len():
                ok &= ~col.is_in(unsafe.implode()).fill_null(False)  # a null is NULL either way
        elif pg_type == "numeric":
            decimals[name] = _decimal_parts(col)
            exact = decimals[name].get_column("exact").fill_null(False)
            if not exact.all():
                ok &= exact | col.is_null()  # a null is NULL either way
    return ok.fill_null(False), decimals  # not known to be exact: CSV


def exact_rows(frame: pl.DataFrame, columns: list[str], types: list[str]) -> pl.Series:
    """Per row, whether its binary form is certain to be what the server's text input makes of it."""
    return _exactness(frame, columns, types)[0]


def encode(frame: pl.DataFrame, columns: list[str], types: list[str]) -> tuple[memoryview, pl.DataFrame]:
    """(the tuples of the rows of `frame` that `exact_rows` passes, in binary COPY format without
    signature and trailer; the other rows, to be loaded as CSV) for `columns` of the given PostgreSQL
    types (`format_type` names, all `ENCODABLE`). A `timestamp with time zone` column is taken from its
    parsed companion `_dt_<name>`."""
    ok, decimals = _exactness(frame, columns, types)
    rest = frame.clear()
    if not ok.all():
        frame, rest = frame.filter(ok), frame.filter(~ok)
        decimals = {name: parts.filter(ok) for name, parts in decimals.items()}
        if frame.height + rest.height != ok.len():
            raise AssertionError(f"copy_binary.encode: {ok.len()} rows split into {frame.height} + {rest.height}")
    if frame.is_empty():
        return memoryview(b""), rest
    out = _Tuples(frame.height)
    out.fixed(">i2", len(columns))
    for name, pg_type in zip(columns, types, strict=True):
        col = frame.get_column(name)
        if pg_type == "bigint":
            out.field(np.dtype(">i8"), col.cast(pl.Int64).to_numpy(), _nulls(col))
        elif pg_type == "integer":
            out.field(np.dtype(">i4"), col.cast(pl.Int32).to_numpy(), _nulls(col))
        elif pg_type == "text":
            _text(out, col)
        elif pg_type == "timestamp with time zone":
            instants = frame.get_column(f"_dt_{name}")
            micros = instants.dt.cast_time_unit("us").dt.epoch("us").fill_null(PG_EPOCH_US) - PG_EPOCH_US
            out.field(np.dtype(">i8"), micros.to_numpy(), _nulls(instants))
        elif pg_type == "numeric":
            out.field(NUMERIC, _numeric(decimals[name]), _nulls(col))
        else:
            raise ValueError(f"copy_binary.encode: no binary form for {pg_type} ({name})")
    return out.payload(), rest


def encodable(types: list[str]) -> bool:
    return all(t in ENCODABLE for t in types)
