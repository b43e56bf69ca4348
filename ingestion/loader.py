"""Exactly-once loading of feed files and HTTP batches into raw PostgreSQL tables.

One file (or one HTTP page) is one batch, loaded in one transaction: the ledger row in
audit.ingest_batches, the valid rows (COPY into raw.*), the rejected rows with reasons
(quarantine.rejected_rows) and the skipped exact duplicates (quarantine.duplicate_rows) commit
together or not at all. A file's content hash is unique in the ledger, so a file is loaded once
whatever its name, and a run killed mid-file leaves nothing behind: the re-run loads it whole.
Per batch: rows_read = rows_loaded + rows_quarantined + rows_duplicate (also a table constraint).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import polars as pl
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from stdnum.cn import uscc

from . import contract, copy_binary
from .parse import ROW, Lines, Parsed, parse_jsonl, parse_records, split_fields, split_lines
from .reference import Reference, load_reference
from .schema import ensure_reading_partitions, existing_reading_partitions, hold_batch_in_flight
from .validate import Context, check, describe_duplicates, dt_col, split_duplicates

COPY_CHUNK_ROWS = 50000
log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    source_name: str
    entity: str | None
    status: str  # loaded | skipped (already loaded) | ignored (not a feed file) | failed (HTTP page not fetched)
    batch_id: int | None = None
    sha256: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    message: str | None = None
    seconds: float = 0.0


@dataclass
class IngestSummary:
    batches: list[BatchResult] = field(default_factory=list)

    def add(self, result: BatchResult) -> None:
        self.batches.append(result)

    def to_dict(self) -> dict:
        loaded = [b for b in self.batches if b.status == "loaded"]
        return {
            "files": len(loaded),
            "files_skipped": sum(b.status == "skipped" for b in self.batches),
            "files_ignored": sum(b.status == "ignored" for b in self.batches),
            "failures": sum(b.status == "failed" for b in self.batches),
            "rows_read": sum(b.rows_read for b in loaded),
            "rows_loaded": sum(b.rows_loaded for b in loaded),
            "rows_quarantined": sum(b.rows_quarantined for b in loaded),
            "rows_duplicate": sum(b.rows_duplicate for b in loaded),
            "batches": [asdict(b) for b in self.batches],
        }


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- discovery


def discover(root: Path) -> tuple[list[tuple[Path, str, str]], list[BatchResult]]:
    """Feed files under root, registries first: (path, source_name, entity), and what was ignored."""
    root = root.resolve()
    base = root.parent if root.is_file() else root
    found, ignored = [], []
    candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
    for p in candidates:
        rel = p.relative_to(base).as_posix() if p.is_relative_to(base) else p.name
        if p.is_symlink():
            ignored.append(BatchResult(rel, None, "ignored", message="symbolic links are not followed"))
            continue
        if any(part.startswith(".") for part in p.relative_to(base).parts):
            continue  # hidden files and folders (editors' temp files, .processing markers)
        ent = contract.entity_of_file(p)
        if ent is None:
            ignored.append(
                BatchResult(
                    rel,
                    None,
                    "ignored",
                    message="not a feed file: name must start with an entity name and end in .csv or .jsonl",
                )
            )
            continue
        found.append((p, rel, ent))
    found.sort(key=lambda t: (contract.LOAD_ORDER[t[2]], t[1]))
    return found, ignored


def display_name(name: str) -> str:
    """A path as text that can be stored and shown: names that are not UTF-8 (what unzip makes of a
    Windows zip) are read as GB18030, else their undecodable bytes are spelled out."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogateescape")
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "backslashreplace")


def ownership(path: Path, root: Path) -> tuple[str | None, str | None]:
    """(owner, refusal). A file belongs to the enterprise named by the FIRST folder under the landing
    root (`<landing>/<enterprise_id>/…`), or by the root itself when the root is such a folder (or the
    folder of the one file given). A credit-code folder deeper down is refused: enterprise A may not
    place files for B under `A/B/`, and a file is never credited to the nearest folder."""
    root = root.resolve()
    path = path.resolve()
    base = root.parent if root.is_file() else root
    parts = path.relative_to(base).parts[:-1] if path.is_relative_to(base) else ()
    owner = base.name if uscc.is_valid(base.name) else None
    if owner is None and parts and uscc.is_valid(parts[0]):
        owner, parts = parts[0], parts[1:]
    deeper = [p for p in parts if uscc.is_valid(p)]
    if deeper:
        return owner, (
            f"folder {deeper[0]} lies below {'/'.join(path.relative_to(base).parts[:-1][:1]) or base.name}: a file "
            "belongs to the enterprise of the first folder under the landing root, so files of an enterprise "
            f"go to <landing>/{deeper[0]}/ itself"
        )
    return owner, None


def owner_of(path: Path, root: Path) -> str | None:
    """The enterprise a file belongs to (see `ownership`)."""
    return ownership(path, root)[0]


# ---------------------------------------------------------------- context from the warehouse


def load_context(conn: psycopg.Connection, reference: Reference, owner: str | None, source_name: str) -> Context:
    """The registry a batch is validated against. A batch that belongs to one enterprise reads only that
    enterprise's registry: the ownership rule rejects the rows of any other enterprise before the
    registry is consulted, so the verdicts are the same (a pushed message of 20 readings no longer
    reads the meters of a whole region)."""
    where = sql.SQL("WHERE enterprise_id = %s" if owner else "")
    params = (owner,) if owner else ()
    enterprises = {
        r[0]
        for r in conn.execute(sql.SQL("SELECT DISTINCT enterprise_id FROM raw.enterprises {}").format(where), params)
    }
    rows = conn.execute(
        sql.SQL(
            "SELECT DISTINCT ON (enterprise_id, meter_id) enterprise_id, meter_id, energy_code, reading_type, "
            "timezone, multiplier::float8 FROM raw.meters {} "
            "ORDER BY enterprise_id, meter_id, batch_id DESC, row_number DESC"
        ).format(where),
        params,
    ).fetchall()
    meters = pl.DataFrame(
        rows,
        schema={
            "enterprise_id": pl.String,
            "meter_id": pl.String,
            "energy_code": pl.String,
            "reading_type": pl.String,
            "timezone": pl.String,
            "multiplier": pl.Float64,
        },
        orient="row",
    )
    return Context(reference, enterprises, meters, owner, source_name)


# ---------------------------------------------------------------- loading one batch


def copy_statement(table: str, columns: list[str], fmt: str = "csv") -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT {})").format(
        sql.SQL(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.SQL(fmt)
    )


def _copy_frame(cur: psycopg.Cursor, table: str, columns: list[str], frame: pl.DataFrame) -> None:
    with cur.copy(copy_statement(table, columns)) as copy:
        buf = io.BytesIO()
        frame.select(columns).write_csv(buf, include_header=False)
        copy.write(buf.getvalue())


COPY_FORMATS = ("binary", "csv")


def copy_format() -> str:
    """How valid rows go to the server: `binary` (default: PostgreSQL's binary COPY format for the rows
    that encode exactly, see ingestion/copy_binary.py; CSV for the others) or `csv` (every row as CSV),
    from IEM_INGEST_COPY; the stored rows are the same either way."""
    fmt = os.environ.get("IEM_INGEST_COPY", "binary").strip().lower() or "binary"
    if fmt not in COPY_FORMATS:
        raise ValueError(f"IEM_INGEST_COPY={fmt!r}: expected one of {', '.join(COPY_FORMATS)}")
    return fmt


def raw_column_types(conn: psycopg.Connection, table: str, columns: list[str]) -> list[str]:
    """PostgreSQL's names of the types of `columns` of `table` (`format_type`), in that order."""
    types: dict[str, str] = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        ).fetchall()
    )
    return [types[c] for c in columns]


class RawCopy:
    """The COPY of valid rows into raw.<entity> within the caller's transaction, piece by piece, in
    PostgreSQL's binary format (the server then parses nothing: about half its COPY time) for the rows
    that `copy_binary.encode` gives exactly as the server's text input would, and as CSV for the others
    (a number written `1e3`, a time with nanoseconds: rare), which wait until the COPY closes, so that a
    batch switches format at most once. DDL between pieces (a new month's partition) calls `close`
    first; the next piece opens another COPY. `rows` counts the rows written per format."""

    def __init__(self, cur: psycopg.Cursor, entity_name: str, columns: list[str]) -> None:
        self.cur, self.columns = cur, columns
        self.table = f"raw.{entity_name}"
        self.types = raw_column_types(cur.connection, self.table, columns)
        self.binary = copy_format() == "binary" and copy_binary.encodable(self.types)
        self.rows = dict.fromkeys(COPY_FORMATS, 0)
        self._stack = contextlib.ExitStack()
        self._copy: Any = None
        self._format: str | None = None
        self._as_csv: list[pl.DataFrame] = []

    def write(self, frame: pl.DataFrame) -> None:
        """One piece (the `columns`, and `_dt_<field>` beside each date-time field)."""
        if not self.binary:
            self._send("csv", frame)
            return
        payload, rest = copy_binary.encode(frame, self.columns, self.types)
        if rest.height:
            self._as_csv.append(rest)
        if rest.height < frame.height:
            self._open("binary").write(payload)
            self.rows["binary"] += frame.height - rest.height

    def _open(self, fmt: str) -> Any:
        if fmt != self._format:
            self._end()
            stmt = copy_statement(self.table, self.columns, fmt)
            self._copy = self._stack.enter_context(self.cur.copy(stmt, writer=QueuedLibpqWriter(self.cur)))
            self._format = fmt
            if fmt == "binary":
                self._copy.write(copy_binary.SIGNATURE)
        return self._copy

    def _send(self, fmt: str, frame: pl.DataFrame) -> None:
        buf = io.BytesIO()
        frame.select(self.columns).write_csv(buf, include_header=False)
        self._open(fmt).write(buf.getvalue())
        self.rows[fmt] += frame.height

    def _end(self) -> None:
        if self._format == "binary":
            self._copy.write(copy_binary.TRAILER)
        self._copy, self._format = None, None
        self._stack.close()

    def close(self) -> None:
        """Send the rows kept for CSV and end the open COPY: every row written so far is in the table
        (uncommitted)."""
        for frame in self._as_csv:
            self._send("csv", frame)
        self._as_csv = []
        self._end()

    def __enter__(self) -> RawCopy:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
            log.debug("%s: %d rows in binary COPY, %d as CSV", self.table, self.rows["binary"], self.rows["csv"])
        else:  # the COPY is abandoned (the server discards it) and the exception goes on
            self._copy, self._format, self._as_csv = None, None, []
            self._stack.__exit__(exc_type, exc, tb)


def copy_valid_piece(
    valid: pl.DataFrame,
    *,
    batch_id: int,
    period_ends: list,
    entity_name: str,
    target: RawCopy,
    months_ready: set,
) -> None:
    """One piece of a file's valid rows written into its batch's COPY (`target`), and `period_ends`, the
    batch's [first, last] period_end, widened in place to cover them. The one-file path (`load_parsed`)
    and the streamed path (ingestion/stream.py) both load their pieces through this. Readings of a month
    without its partition yet: DDL cannot run inside COPY, so the COPY is closed, the partitions added
    (`months_ready` grows) and the next write opens a new COPY."""
    if entity_name == "readings":
        new_months = _reading_months(valid) - months_ready
        if new_months:
            target.close()
            ensure_reading_partitions(target.cur.connection, new_months)
            months_ready |= new_months
    end = dt_col("period_end")
    if end in valid.columns:
        first: Any = valid[end].min()  # datetimes (polars types them as any scalar)
        last: Any = valid[end].max()
        if first is not None and (period_ends[0] is None or first < period_ends[0]):
            period_ends[0] = first
        if last is not None and (period_ends[1] is None or last > period_ends[1]):
            period_ends[1] = last
    target.write(valid.with_columns(pl.lit(batch_id, pl.Int64).alias("batch_id")))


def close_file_batch(
    cur: psycopg.Cursor,
    *,
    batch_id: int,
    source_name: str,
    entity_name: str,
    rows_read: int,
    rows_loaded: int,
    rejects: pl.DataFrame | None,
    duplicates: pl.DataFrame,
    period_ends: tuple[Any, Any],
    parse_seconds: float,
    load_started: float,
) -> tuple[int, int]:
    """The end of one file's load, in its transaction: the counts must add up (read = loaded + quarantined +
    duplicates), the rejected rows go to quarantine with file, row, field and reason, the repeats to the
    duplicate log, and the file's ledger row gets its counts and status `loaded`."""
    n_rej, n_dup = (rejects.height if rejects is not None else 0), duplicates.height
    if rows_loaded + n_rej + n_dup != rows_read:
        raise AssertionError(
            f"{source_name}: counts do not add up: read {rows_read} != "
            f"{rows_loaded} loaded + {n_rej} quarantined + {n_dup} duplicates"
        )
    stamp = {"batch_id": batch_id, "source_name": source_name, "entity": entity_name}
    if rejects is not None and n_rej:
        _copy_frame(
            cur,
            "quarantine.rejected_rows",
            REJECT_COLUMNS,
            rejects.sort("row_number").with_columns(
                _storable("raw_row", 4000),
                _storable("value", 1000),
                _storable("reason", 2000),
                _storable("field", 200),
                _storable("enterprise_id", 64),
                *[pl.lit(v).alias(k) for k, v in stamp.items()],
            ),
        )
    if n_dup:
        _copy_frame(
            cur,
            "quarantine.duplicate_rows",
            DUPLICATE_COLUMNS,
            duplicates.with_columns(*[pl.lit(v).alias(k) for k, v in stamp.items()]),
        )
    cur.execute(
        "UPDATE audit.ingest_batches SET rows_read = %s, rows_loaded = %s, rows_quarantined = %s, "
        "rows_duplicate = %s, min_period_end = %s, max_period_end = %s, parse_seconds = %s, "
        "load_seconds = %s, finished_at = clock_timestamp(), status = 'loaded' WHERE batch_id = %s",
        (
            rows_read,
            rows_loaded,
            n_rej,
            n_dup,
            *period_ends,
            parse_seconds,
            time.perf_counter() - load_started,
            batch_id,
        ),
    )
    return n_rej, n_dup


def _repeats_of_rejected_rows(
    rejects: pl.DataFrame, duplicates: pl.DataFrame, dups: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A repeat of a row that was rejected is rejected too (pointing at the row it repeats), not a
    skipped duplicate: quarantine.duplicate_rows then only ever holds repeats of accepted rows, whose
    keys are valid, and the alert layer never meets a malformed key there."""
    first = rejects.select(
        pl.col("row_number").alias("first_row_number"), "field", "value", pl.col("reason").alias("_first_reason")
    ).unique("first_row_number", keep="first")
    hit = duplicates.join(first, on="first_row_number", how="inner")
    if hit.is_empty():
        return rejects, duplicates
    raw = dups.select(pl.col(ROW).alias("row_number"), "raw_row")
    moved = hit.join(raw, on="row_number", how="left").select(
        "row_number",
        "field",
        "value",
        (
            pl.lit("repeats row ")
            + pl.col("first_row_number").cast(pl.String)
            + pl.lit(", which was rejected: ")
            + pl.col("_first_reason")
        ).alias("reason"),
        "raw_row",
        pl.col("enterprise_id").cast(pl.String),
    )
    return (
        pl.concat([rejects, moved.select(rejects.columns)], how="vertical_relaxed"),
        duplicates.join(hit.select("row_number"), on="row_number", how="anti"),
    )


def _storable(column: str, limit: int) -> pl.Expr:
    """A quarantined text as PostgreSQL can hold it: NUL bytes spelled out, cut to `limit` characters
    (the cut says the original length), so a 52 MB rejected value costs a line, not the batch."""
    c = pl.col(column).str.replace_all("\x00", "\\x00", literal=True)
    n = c.str.len_chars()
    return (
        pl.when(n > limit)
        .then(c.str.slice(0, limit) + pl.lit("… (") + n.cast(pl.String) + pl.lit(" characters)"))
        .otherwise(c)
        .alias(column)
    )


def _reading_months(valid: pl.DataFrame) -> set:
    if valid.is_empty():
        return set()
    months = (
        valid.select(
            pl.col(dt_col("period_end"))
            .drop_nulls()
            .unique()  # a few hundred instants in a million readings: the time zone worked out for those only
            .dt.convert_time_zone("Asia/Shanghai")
            .dt.truncate("1mo")
            .dt.date()
            .unique()
        )
        .to_series()
        .to_list()
    )
    return set(months)


REJECT_COLUMNS = [
    "batch_id",
    "source_name",
    "entity",
    "row_number",
    "enterprise_id",
    "field",
    "value",
    "reason",
    "raw_row",
]
DUPLICATE_COLUMNS = [
    "batch_id",
    "source_name",
    "entity",
    "row_number",
    "first_row_number",
    "enterprise_id",
    "natural_key",
]


def load_parsed(
    url: str,
    parsed: Parsed | Lines,
    *,
    entity_name: str,
    source: str,
    source_name: str,
    sha256: str,
    size_bytes: int,
    owner: str | None = None,
    reference: Reference | None = None,
    before_commit: Callable[[psycopg.Connection, int], None] | None = None,
    revalidates: int | None = None,
) -> BatchResult:
    """Validate a batch and load it in one transaction (see module doc).

    Rows are split into fields and checked slice by slice while a writer thread streams the previous
    slice to the server, so this process (parsing, validation) and the server (COPY) work at once.
    A month of readings without a partition gets one inside the same transaction."""
    t0 = time.perf_counter()
    ent = contract.entity(entity_name)
    reference = reference or load_reference()
    if isinstance(parsed, Lines):
        header = parsed.header
        to_fields = lambda rows: split_fields(rows, header, ent.field_names)  # noqa: E731
    else:
        to_fields = lambda rows: (rows, [])  # noqa: E731
    units, dups = split_duplicates(parsed.frame)
    dup_fields, _ = to_fields(dups.select(ROW, "raw_row")) if isinstance(parsed, Lines) else (parsed.frame, [])
    duplicates = describe_duplicates(dups, dup_fields, ent)
    rejects: list[pl.DataFrame] = []

    def add_rejects(rows: list[dict]) -> None:
        if rows:
            rejects.append(
                pl.DataFrame(
                    rows,
                    schema={
                        "row_number": pl.Int32,
                        "field": pl.String,
                        "value": pl.String,
                        "reason": pl.String,
                        "raw_row": pl.String,
                    },
                ).with_columns(pl.lit(None, pl.String).alias("enterprise_id"))
            )

    add_rejects(parsed.rejects)
    with psycopg.connect(url) as conn:
        ctx = load_context(conn, reference, owner, source_name)
        months_ready = existing_reading_partitions(conn) if entity_name == "readings" else set()
        conn.commit()
        with conn.cursor() as cur:
            hold_batch_in_flight(conn)
            try:
                batch_id = cast(
                    "tuple",
                    cur.execute(
                        "INSERT INTO audit.ingest_batches (source, source_name, entity, content_sha256, size_bytes, "
                        "owner_enterprise_id, status, encoding, header, revalidates_batch) "
                        "VALUES (%s, %s, %s, %s, %s, %s, 'loading', %s, %s, %s) RETURNING batch_id",
                        (
                            source,
                            source_name,
                            entity_name,
                            sha256,
                            size_bytes,
                            owner,
                            getattr(parsed, "encoding", None),
                            json.dumps(parsed.header, ensure_ascii=False) if isinstance(parsed, Lines) else None,
                            revalidates,
                        ),
                    ).fetchone(),
                )[0]
            except psycopg.errors.UniqueViolation:
                conn.rollback()
                return BatchResult(
                    source_name, entity_name, "skipped", sha256=sha256, message="already loaded (same content)"
                )
            t1 = time.perf_counter()
            n_loaded, period_ends = 0, [None, None]
            columns = ["batch_id", "row_number", *ent.field_names]
            with RawCopy(cur, entity_name, columns) as target:
                for piece in units.iter_slices(COPY_CHUNK_ROWS):
                    fields, split_rejects = to_fields(piece)
                    add_rejects(split_rejects)
                    valid, rejected = check(fields, ent, ctx)
                    rejects.append(
                        rejected.select("row_number", "field", "value", "reason", "raw_row", "enterprise_id")
                    )
                    if valid.is_empty():
                        continue
                    copy_valid_piece(
                        valid,
                        batch_id=batch_id,
                        period_ends=period_ends,
                        entity_name=entity_name,
                        target=target,
                        months_ready=months_ready,
                    )
                    n_loaded += valid.height
            all_rejects = pl.concat(rejects) if rejects else None
            if all_rejects is not None and duplicates.height:
                all_rejects, duplicates = _repeats_of_rejected_rows(all_rejects, duplicates, dups)
            n_rej, n_dup = close_file_batch(
                cur,
                batch_id=batch_id,
                source_name=source_name,
                entity_name=entity_name,
                rows_read=parsed.rows_read,
                rows_loaded=n_loaded,
                rejects=all_rejects,
                duplicates=duplicates,
                period_ends=(period_ends[0], period_ends[1]),
                parse_seconds=t1 - t0,
                load_started=t1,
            )
            if before_commit is not None:
                before_commit(conn, batch_id)
        conn.commit()
    return BatchResult(
        source_name,
        entity_name,
        "loaded",
        batch_id,
        sha256,
        parsed.rows_read,
        n_loaded,
        n_rej,
        n_dup,
        parsed.file_error,
        time.perf_counter() - t0,
    )


def already_loaded(url: str, sha256: str) -> bool:
    with psycopg.connect(url) as conn:
        return (
            conn.execute(
                "SELECT 1 FROM audit.ingest_batches WHERE source = 'file' AND content_sha256 = %s "
                "AND status <> 'failed'",
                (sha256,),
            ).fetchone()
            is not None
        )


def files_not_yet_loaded(url: str, root: Path) -> list[str]:
    """The feed files under `root` whose content the ledger does not hold as loaded (new files, changed
    files, files that failed before): what a load of `root` would do more than skip. Hashes what the
    loader hashes (a `.gz` file's content); a file that cannot be read counts as not loaded."""
    files, _ = discover(root)
    digests: dict[str, str | None] = {}
    for path, rel, _entity in files:
        try:
            digests[rel] = sha256_of(read_feed_file(path))
        except (OSError, FeedFileError):
            digests[rel] = None
    with psycopg.connect(url) as conn:
        loaded = {
            row[0]
            for row in conn.execute(
                "SELECT content_sha256 FROM audit.ingest_batches WHERE source = 'file' AND status <> 'failed' "
                "AND content_sha256 = ANY(%s)",
                ([d for d in digests.values() if d],),
            )
        }
    return [rel for rel, digest in digests.items() if digest not in loaded]


# A compressed feed file may expand to at most this much (a guard against decompression bombs).
MAX_DECOMPRESSED_BYTES = 4 * 1024**3


class FeedFileError(ValueError):
    """A feed file that cannot be read at all (the reason names the file)."""


def read_feed_file(path: Path, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """The feed's bytes as the parser reads them: a `.gz` file is decompressed (its content, not its
    compressed bytes, is what the ledger hashes, so the same feed sent compressed and uncompressed is
    loaded once)."""
    if not contract.is_compressed(path):
        return path.read_bytes()
    out = io.BytesIO()
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                out.write(chunk)
                if out.tell() > limit:
                    raise FeedFileError(f"{path.name}: expands beyond {limit} bytes when decompressed")
    except (OSError, EOFError, zlib.error) as exc:
        raise FeedFileError(f"{path.name}: not a readable gzip file ({exc})") from exc
    return out.getvalue()


def record_failure(
    url: str,
    *,
    source: str,
    source_name: str,
    entity_name: str,
    sha256: str,
    size_bytes: int,
    owner: str | None,
    reason: str,
    encoding: str | None = None,
) -> BatchResult:
    """A file or page that could not be loaded at all becomes a failed batch in the ledger with its
    reason (no rows: 0 = 0 + 0 + 0), so the failure is visible and the run goes on with the next one.
    A failed file is tried again on the next run (a fix in the platform may let it load); the same
    content failing again updates its failed row (attempts, latest reason) instead of adding one."""
    from .parse import printable

    reason = str(printable(reason, 2000))
    source_name = str(printable(display_name(source_name), 1000))
    batch_id = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = None
            if source == "file":
                row = conn.execute(
                    "UPDATE audit.ingest_batches SET failure_reason = %s, attempts = attempts + 1, "
                    "finished_at = clock_timestamp(), source_name = %s WHERE source = 'file' "
                    "AND content_sha256 = %s AND status = 'failed' RETURNING batch_id",
                    (reason, source_name, sha256),
                ).fetchone()
            if row is None:
                row = conn.execute(
                    "INSERT INTO audit.ingest_batches (source, source_name, entity, content_sha256, size_bytes, "
                    "owner_enterprise_id, status, failure_reason, encoding, finished_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, 'failed', %s, %s, clock_timestamp()) RETURNING batch_id",
                    (source, source_name, entity_name, sha256, size_bytes, owner, reason, encoding),
                ).fetchone()
            batch_id = row[0] if row else None
    except psycopg.Error as exc:  # the database itself is unreachable: report, nothing to record into
        reason = f"{reason} (and the failure could not be recorded: {type(exc).__name__})"
    return BatchResult(source_name, entity_name, "failed", batch_id, sha256, message=reason)


def ingest_file(
    url: str,
    path: Path,
    *,
    source_name: str,
    entity_name: str,
    owner: str | None,
    reference: Reference | None = None,
    refusal: str | None = None,
) -> BatchResult:
    """Load one file as one batch. Whatever goes wrong with this file (unreadable content, a refused
    folder, a failure of the platform's own code) becomes a failed batch with its reason: it never
    stops the files after it."""
    source_name = display_name(source_name)
    try:
        data = read_feed_file(path)
    except FeedFileError as exc:
        raw = path.read_bytes()
        return record_failure(
            url,
            source="file",
            source_name=source_name,
            entity_name=entity_name,
            sha256=sha256_of(raw),
            size_bytes=len(raw),
            owner=owner,
            reason=str(exc),
        )
    digest = sha256_of(data)
    if already_loaded(url, digest):
        return BatchResult(source_name, entity_name, "skipped", sha256=digest, message="already loaded (same content)")

    def failed(reason: str, encoding: str | None = None) -> BatchResult:
        return record_failure(
            url,
            source="file",
            source_name=source_name,
            entity_name=entity_name,
            sha256=digest,
            size_bytes=len(data),
            owner=owner,
            reason=reason,
            encoding=encoding,
        )

    if refusal:
        return failed(refusal)
    try:
        fields = contract.entity(entity_name).field_names
        is_jsonl = contract.feed_suffix(path) == ".jsonl"
        parsed = parse_jsonl(data, fields) if is_jsonl else split_lines(data, fields)
        if parsed.unreadable:
            return failed(parsed.file_error or "unreadable file", parsed.encoding)
        return load_parsed(
            url,
            parsed,
            entity_name=entity_name,
            source="file",
            source_name=source_name,
            sha256=digest,
            size_bytes=len(data),
            owner=owner,
            reference=reference,
        )
    except psycopg.OperationalError:
        raise  # the database is gone: no later file can load either
    except Exception as exc:  # noqa: BLE001 - recorded as a failed batch; the run goes on
        return failed(f"could not be loaded: {type(exc).__name__}: {exc}")


def ingest_path(url: str, path: Path | str, *, progress: Callable[[BatchResult], None] | None = None) -> IngestSummary:
    """Load every feed file under `path` (a folder or one file), registries first (one by one: each
    changes what the next is validated against), then the other files in chunks of one transaction
    each (`drop.load_drop`), each file its own batch, exactly once."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    summary = IngestSummary()
    files, ignored = discover(root)
    for item in ignored:
        summary.add(item)
    reference = load_reference()
    rest = []
    for p, rel, ent in files:
        owner, refusal = ownership(p, root)
        if ent not in contract.REGISTRIES:  # the files of a drop after its registries: together (see drop.py)
            rest.append((p, rel, ent, owner, refusal))
            continue
        result = ingest_file(
            url, p, source_name=rel, entity_name=ent, owner=owner, reference=reference, refusal=refusal
        )
        summary.add(result)
        if progress:
            progress(result)
    from .drop import load_drop

    for result in load_drop(url, rest, reference, progress):
        summary.add(result)
    if any(b.status == "loaded" and b.entity in contract.REGISTRIES and b.rows_loaded for b in summary.batches):
        for result in revalidate_waiting(url, reference):
            summary.add(result)
            if progress:
                progress(result)
    return summary


WAITING_FOR_REGISTRY = ("unknown meter%", "unknown enterprise%")  # reasons (LIKE) of rows that wait


def revalidate_waiting(url: str, reference: Reference | None = None) -> list[BatchResult]:
    """Rows rejected only because their enterprise or meter was not yet in the registry, whose
    enterprise or meter is there now, are validated again and loaded: one new batch per original
    batch (source 'revalidation', revalidates_batch naming the original, the rows' own row numbers),
    through the same validation, ledger and quarantine. The original rejected rows stay (the original
    batch's counts still add up) and point at the batch that took them up (resolved_by_batch), so a
    row is taken up once; rows failing again for another reason are rejected in the new batch."""
    with psycopg.connect(url) as conn:
        waiting = conn.execute(
            """SELECT r.batch_id, r.row_number, r.raw_row
                 FROM quarantine.rejected_rows r
                WHERE r.resolved_by_batch IS NULL AND r.raw_row IS NOT NULL
                  AND ((r.reason LIKE %s AND EXISTS (SELECT 1 FROM raw.meters m
                         WHERE m.enterprise_id = r.enterprise_id AND m.meter_id = r.value))
                    OR (r.reason LIKE %s AND EXISTS (SELECT 1 FROM raw.enterprises e
                         WHERE e.enterprise_id = r.value)))
                ORDER BY r.batch_id, r.row_number""",
            WAITING_FOR_REGISTRY,
        ).fetchall()
        if not waiting:
            return []
        batches = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT batch_id, source, source_name, entity, owner_enterprise_id, header FROM audit.ingest_batches "
                "WHERE batch_id = ANY(%s)",
                (sorted({w[0] for w in waiting}),),
            )
        }
    results = []
    for batch_id in sorted(batches):
        _source, source_name, entity_name, owner, header = batches[batch_id]
        rows = [(n, raw) for b, n, raw in waiting if b == batch_id and not raw.endswith(" characters)")]
        if not rows:
            continue
        numbers = [n for n, _ in rows]
        fields = contract.entity(entity_name).field_names
        parsed: Lines | Parsed
        if header is not None:  # a CSV file: its lines, split with the file's header
            parsed = Lines(
                json.loads(header),
                pl.DataFrame(
                    {
                        ROW: pl.Series(numbers, dtype=pl.Int32),
                        "raw_row": pl.Series([r for _, r in rows], dtype=pl.String),
                    }
                ),
                len(rows),
                [],
            )
        else:  # JSON lines or an HTTP page: the rows are JSON objects
            import orjson

            parsed = parse_records([orjson.loads(r) for _, r in rows], fields)
            parsed.frame = parsed.frame.with_columns(
                pl.Series(ROW, [numbers[i - 1] for i in parsed.frame[ROW].to_list()], dtype=pl.Int32)
            )

        def mark(conn: psycopg.Connection, new_batch: int, _orig=batch_id, _numbers=numbers) -> None:
            done = conn.execute(
                "UPDATE quarantine.rejected_rows SET resolved_by_batch = %s WHERE batch_id = %s "
                "AND row_number = ANY(%s) AND resolved_by_batch IS NULL",
                (new_batch, _orig, _numbers),
            ).rowcount
            if done != len(_numbers):  # another process took them up first: this batch rolls back
                raise RuntimeError(f"rows of batch {_orig} were re-validated concurrently")

        digest = sha256_of(f"revalidate {batch_id} {numbers}".encode())
        try:
            results.append(
                load_parsed(
                    url,
                    parsed,
                    entity_name=entity_name,
                    source="revalidation",
                    source_name=f"{source_name} (re-validated: the registry arrived)",
                    sha256=digest,
                    size_bytes=sum(len(r) for _, r in rows),
                    owner=owner,
                    reference=reference,
                    before_commit=mark,
                    revalidates=batch_id,
                )
            )
        except RuntimeError:
            continue
    return results


def ingest_records(
    url: str,
    records: list,
    *,
    entity_name: str,
    source_name: str,
    owner: str | None,
    before_commit: Callable[[psycopg.Connection, int], None] | None = None,
) -> BatchResult:
    """Load one HTTP page (a list of JSON objects) through the same validation and ledger as files."""
    import orjson

    body = orjson.dumps(records, option=orjson.OPT_SORT_KEYS)
    parsed = parse_records(records, contract.entity(entity_name).field_names)
    return load_parsed(
        url,
        parsed,
        entity_name=entity_name,
        source="http",
        source_name=source_name,
        sha256=sha256_of(body),
        size_bytes=len(body),
        owner=owner,
        before_commit=before_commit,
    )
