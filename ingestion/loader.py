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

from . import contract
from .parse import ROW, Lines, Parsed, parse_jsonl, parse_records, split_fields, split_lines
from .reference import Reference, load_reference
from .schema import ensure_reading_partitions, existing_reading_partitions, hold_batch_in_flight
from .validate import Context, check, describe_duplicates, dt_col, split_duplicates

COPY_CHUNK_ROWS = 50000


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


def owner_of(path: Path, root: Path) -> str | None:
    """A file under <landing>/<enterprise_id>/ belongs to that enterprise (nearest such folder)."""
    root = root.resolve()
    for parent in path.resolve().parents:
        if uscc.is_valid(parent.name):
            return parent.name
        if parent == root or parent == root.parent:
            break
    return None


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
            "SELECT DISTINCT ON (enterprise_id, meter_id) enterprise_id, meter_id, energy_code, reading_type, timezone "
            "FROM raw.meters {} ORDER BY enterprise_id, meter_id, batch_id DESC, row_number DESC"
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
        },
        orient="row",
    )
    return Context(reference, enterprises, meters, owner, source_name)


# ---------------------------------------------------------------- loading one batch


def _copy_frame(cur: psycopg.Cursor, table: str, columns: list[str], frame: pl.DataFrame) -> None:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.SQL(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with cur.copy(stmt) as copy:
        buf = io.BytesIO()
        frame.select(columns).write_csv(buf, include_header=False)
        copy.write(buf.getvalue())


def _reading_months(valid: pl.DataFrame) -> set:
    if valid.is_empty():
        return set()
    months = (
        valid.select(
            pl.col(dt_col("period_end"))
            .drop_nulls()
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
                        "owner_enterprise_id, status) VALUES (%s, %s, %s, %s, %s, %s, 'loading') RETURNING batch_id",
                        (source, source_name, entity_name, sha256, size_bytes, owner),
                    ).fetchone(),
                )[0]
            except psycopg.errors.UniqueViolation:
                conn.rollback()
                return BatchResult(
                    source_name, entity_name, "skipped", sha256=sha256, message="already loaded (same content)"
                )
            t1 = time.perf_counter()
            n_loaded, lo, hi = 0, None, None
            columns = ["batch_id", "row_number", *ent.field_names]
            stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
                sql.SQL(f"raw.{entity_name}"), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            )
            with contextlib.ExitStack() as stack:
                copy = None
                for piece in units.iter_slices(COPY_CHUNK_ROWS):
                    fields, split_rejects = to_fields(piece)
                    add_rejects(split_rejects)
                    valid, rejected = check(fields, ent, ctx)
                    rejects.append(
                        rejected.select("row_number", "field", "value", "reason", "raw_row", "enterprise_id")
                    )
                    if valid.is_empty():
                        continue
                    if entity_name == "readings":
                        new_months = _reading_months(valid) - months_ready
                        if new_months:  # DDL cannot run inside COPY: close it, add partitions, reopen
                            stack.close()
                            copy = None
                            ensure_reading_partitions(conn, new_months)
                            months_ready |= new_months
                    if copy is None:
                        copy = stack.enter_context(cur.copy(stmt, writer=QueuedLibpqWriter(cur)))
                    n_loaded += valid.height
                    if "_dt_period_end" in valid.columns:
                        plo: Any = valid["_dt_period_end"].min()  # datetimes (polars types them as any scalar)
                        phi: Any = valid["_dt_period_end"].max()
                        lo = plo if lo is None or plo < lo else lo
                        hi = phi if hi is None or phi > hi else hi
                    buf = io.BytesIO()
                    valid.with_columns(pl.lit(batch_id).alias("batch_id")).select(columns).write_csv(
                        buf, include_header=False
                    )
                    copy.write(buf.getvalue())
            all_rejects = pl.concat(rejects) if rejects else None
            n_rej, n_dup = (all_rejects.height if all_rejects is not None else 0), duplicates.height
            if n_loaded + n_rej + n_dup != parsed.rows_read:
                raise AssertionError(
                    f"{source_name}: counts do not add up: read {parsed.rows_read} != "
                    f"{n_loaded} loaded + {n_rej} quarantined + {n_dup} duplicates"
                )
            stamp = {"batch_id": batch_id, "source_name": source_name, "entity": entity_name}
            if all_rejects is not None:
                _copy_frame(
                    cur,
                    "quarantine.rejected_rows",
                    REJECT_COLUMNS,
                    all_rejects.sort("row_number").with_columns(
                        pl.col("raw_row").str.slice(0, 4000), *[pl.lit(v).alias(k) for k, v in stamp.items()]
                    ),
                )
            if n_dup:
                _copy_frame(
                    cur,
                    "quarantine.duplicate_rows",
                    DUPLICATE_COLUMNS,
                    duplicates.with_columns(*[pl.lit(v).alias(k) for k, v in stamp.items()]),
                )
            load_seconds = time.perf_counter() - t1
            cur.execute(
                "UPDATE audit.ingest_batches SET rows_read = %s, rows_loaded = %s, rows_quarantined = %s, "
                "rows_duplicate = %s, min_period_end = %s, max_period_end = %s, parse_seconds = %s, "
                "load_seconds = %s, finished_at = clock_timestamp(), status = 'loaded' WHERE batch_id = %s",
                (parsed.rows_read, n_loaded, n_rej, n_dup, lo, hi, t1 - t0, load_seconds, batch_id),
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
                "SELECT 1 FROM audit.ingest_batches WHERE source = 'file' AND content_sha256 = %s", (sha256,)
            ).fetchone()
            is not None
        )


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


def ingest_file(
    url: str, path: Path, *, source_name: str, entity_name: str, owner: str | None, reference: Reference | None = None
) -> BatchResult:
    try:
        data = read_feed_file(path)
    except FeedFileError as exc:
        return BatchResult(source_name, entity_name, "failed", message=str(exc))
    digest = sha256_of(data)
    if already_loaded(url, digest):
        return BatchResult(source_name, entity_name, "skipped", sha256=digest, message="already loaded (same content)")
    fields = contract.entity(entity_name).field_names
    is_jsonl = contract.feed_suffix(path) == ".jsonl"
    parsed = parse_jsonl(data, fields) if is_jsonl else split_lines(data, fields)
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


def ingest_path(url: str, path: Path | str, *, progress: Callable[[BatchResult], None] | None = None) -> IngestSummary:
    """Load every feed file under `path` (a folder or one file), registries first, each exactly once."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    summary = IngestSummary()
    files, ignored = discover(root)
    for item in ignored:
        summary.add(item)
    reference = load_reference()
    for p, rel, ent in files:
        result = ingest_file(url, p, source_name=rel, entity_name=ent, owner=owner_of(p, root), reference=reference)
        summary.add(result)
        if progress:
            progress(result)
    return summary


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
