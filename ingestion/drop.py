"""Many feed files of one drop loaded in few transactions, each file still its own batch.

A pilot region sends ~800 files a day (one per enterprise) and as many every 15 minutes, of a few to a
few thousand rows each. Loaded one by one, a file cost ~95 ms whatever its size (its transaction, the
registry read again, the partition check, the set-up of a dozen polars frames per rule), so a
15-minute round of 14,728 readings took 67 s. Here the files of one entity are grouped into chunks:

- the registry is read once per group (the whole registry; each row is checked against the owner of
  its own file, so the verdicts are those of a file validated alone: see `Context.owner_column`);
- the files of a chunk are parsed one by one but split, de-duplicated and validated as one frame (a
  global row id maps every row back to its file and line);
- the chunk is booked in one transaction: one ledger INSERT of a row per file, one COPY stream of the
  valid rows of all its files, one of their rejected rows, one of their duplicates;
- while the chunk is booked (the server's core), the next chunk is read and validated (the other core).

What holds per file, as before: its own ledger row with its counts (read = loaded + rejected +
duplicates), its rejected rows with file, row, field and reason, exactly once by content hash. If the
database refuses anything of a chunk (a constraint, a trigger, a concurrent loader booking the same
file first), the chunk is rolled back and its files are loaded again one by one, each in its own
transaction, so a bad file fails alone and the others are booked. A file too large for a chunk takes
the streaming one-file path (`load_parsed`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg

from . import contract
from .loader import (
    COPY_CHUNK_ROWS,
    DUPLICATE_COLUMNS,
    REJECT_COLUMNS,
    BatchResult,
    FeedFileError,
    RawCopy,
    _copy_frame,
    _reading_months,
    _repeats_of_rejected_rows,
    _storable,
    display_name,
    load_context,
    load_parsed,
    read_feed_file,
    record_failure,
    sha256_of,
)
from .parse import ROW, Lines, Parsed, PlainCsv, parse_jsonl, plain_csv, read_plain, split_fields, split_lines
from .reference import Reference
from .schema import ensure_reading_partitions, existing_reading_partitions, hold_batch_in_flight
from .stream import PlainStream, load_stream
from .stream import start as start_stream
from .validate import Context, check, describe_duplicates, dt_col

# A chunk is booked in one transaction; these bound its memory (the content of its files, a few
# times over as frames) and the work lost when the database refuses it and its files go one by one.
CHUNK_BYTES = 24 * 1024**2
CHUNK_FILES = 1000
# A file at least this large (on disk) is loaded alone by the streaming path, slice by slice.
ALONE_BYTES = 16 * 1024**2

log = logging.getLogger(__name__)

OWNER = "_owner"
FILE = "_file"
GID = "_gid"


@dataclass
class FeedFile:
    path: Path
    source_name: str  # as shown and stored
    entity: str
    owner: str | None
    refusal: str | None = None


@dataclass
class _Read:
    """A file read, hashed and parsed (or why it is not loaded)."""

    file: FeedFile
    data: bytes = b""
    digest: str = ""
    parsed: Lines | Parsed | None = None
    done: BatchResult | None = None  # skipped: nothing to book
    failure: tuple[str, str | None, bytes | None] | None = None  # reason, encoding, raw bytes if unreadable
    lines: PlainCsv | None = None  # a plain CSV file, read by polars with the others of its chunk
    plain: bool = False  # parsed as such (`parsed` then has no frame: load it alone with split_lines)
    stream: PlainStream | None = None  # a large plain CSV file, read and validated piece by piece (stream.py)


@dataclass
class _Chunk:
    reads: list[_Read]
    alone: bool = False  # one large file: the streaming path
    checked: _Checked | None = None
    error: str | None = None  # the chunk could not be validated together: its files go one by one
    seconds: float = 0.0


@dataclass
class _Checked:
    """The validated rows of a chunk's files, each row tagged with its file (index into reads)."""

    files: list[int]  # indexes of the reads to book
    valid: pl.DataFrame  # _file, row_number, contract fields[, _dt_period_end]
    rejects: pl.DataFrame  # _file, row_number, enterprise_id, field, value, reason, raw_row
    duplicates: pl.DataFrame  # _file, row_number, first_row_number, enterprise_id, natural_key
    counts: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # loaded, quarantined, duplicate
    spans: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # min, max period_end
    months: set = field(default_factory=set)


def plan(files: list[FeedFile]) -> list[tuple[list[FeedFile], bool]]:
    """Chunks in file order, (files, alone): small files together up to CHUNK_BYTES / CHUNK_FILES, a
    large file alone (a gzip file counts 8 times its size)."""
    chunks: list[tuple[list[FeedFile], bool]] = []
    current: list[FeedFile] = []
    size = 0
    for f in files:
        try:
            n = f.path.stat().st_size * (8 if contract.is_compressed(f.path) else 1)
        except OSError:
            n = 0
        if n >= ALONE_BYTES:
            if current:
                chunks.append((current, False))
                current, size = [], 0
            chunks.append(([f], True))
            continue
        if current and (size + n > CHUNK_BYTES or len(current) >= CHUNK_FILES):
            chunks.append((current, False))
            current, size = [], 0
        current.append(f)
        size += n
    if current:
        chunks.append((current, False))
    return chunks


def _parsed(r: _Read) -> Lines | Parsed:
    if r.parsed is None:
        raise RuntimeError(f"{r.file.source_name}: not parsed")
    return r.parsed


def _read(f: FeedFile, alone: bool = False, ctx: Context | None = None) -> _Read:
    """A file read and hashed; a file loaded alone (large) is also parsed, while it is hashed (hashlib
    lets go of the interpreter: 0.3 s of a pilot day's 170 MB)."""
    try:
        data = read_feed_file(f.path)
    except FeedFileError as exc:
        raw = f.path.read_bytes()
        return _Read(f, raw, sha256_of(raw), failure=(str(exc), None, raw))
    if not alone:
        return _Read(f, data, sha256_of(data))
    r = _Read(f, data)
    if not f.refusal and contract.feed_suffix(f.path) == ".csv":
        plain = plain_csv(data, contract.entity(f.entity).field_names, scan=False)  # (each piece is scanned)
        if plain is not None:  # read and validated piece by piece from now on, while it is hashed
            own = None if ctx is None else replace(ctx, owner_enterprise_id=f.owner, owner_column=None)
            r.stream, digest = start_stream(data, plain, f.entity, own)
            r.digest = digest.result()
            return r
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="iem-hash") as pool:
        digest = pool.submit(sha256_of, data)
        if not f.refusal:  # a refused file is refused after the ledger is asked (it may be a re-send)
            _parse(r, together=False)
        r.digest = digest.result()
    return r


def _parse(r: _Read, together: bool) -> None:
    if r.failure or r.done:
        return
    if r.file.refusal:
        r.failure = (r.file.refusal, None, None)
        return
    fields = contract.entity(r.file.entity).field_names
    try:
        jsonl = contract.feed_suffix(r.file.path) == ".jsonl"
        if not jsonl and _plain_csv(r, fields, together):
            return
        parsed = parse_jsonl(r.data, fields) if jsonl else split_lines(r.data, fields)
    except Exception as exc:  # noqa: BLE001 - recorded as a failed batch; the run goes on
        r.failure = (f"could not be loaded: {type(exc).__name__}: {exc}", None, None)
        return
    if parsed.unreadable:
        r.failure = (parsed.file_error or "unreadable file", parsed.encoding, None)
        return
    r.parsed = parsed


def _plain_csv(r: _Read, fields: tuple[str, ...], together: bool) -> bool:
    """A CSV file with nothing unusual (`parse.plain_csv`: UTF-8 text without quotes, carriage returns
    or NUL bytes, a header of contract fields, as many fields on every line) is read by polars' CSV
    reader, not line by line in Python: a file loaded alone at once (a pilot day's 1.7 M rows: ~0.6 s
    instead of ~2.3 s), a file of a chunk together with the other plain files of its chunk
    (`_plain_rows`). Anything unusual: False, and the file goes through `split_lines` with its reasons."""
    plain = plain_csv(r.data, fields)
    if plain is None:
        return False
    if together:
        r.lines, r.plain = plain, True
        r.parsed = Lines(plain.header, pl.DataFrame(), 0, [], None, "utf-8")  # rows_read: counted with the chunk
        return True
    try:
        frame, counts = read_plain([plain], fields)
    except (pl.exceptions.PolarsError, ValueError):  # not as plain as it looked: the general path
        return False
    r.parsed = Parsed(frame, counts[0], [], plain.header, None, "utf-8")
    return True


def _plain_rows(reads: list[_Read], idx: list[int], fields: tuple[str, ...]) -> tuple[pl.DataFrame, list[int]]:
    """_file, row_number, raw_row and the contract fields of the plain CSV files `idx` of a chunk, read
    at once per header, as `split_lines` + `split_fields` make them file by file; and the files (of
    `idx`) that polars' reader refused after all, now parsed by `split_lines`."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i in idx:
        groups.setdefault(tuple(cast_plain(reads[i]).header), []).append(i)
    frames, refused = [], []
    for members in groups.values():
        try:
            frame, counts = read_plain([cast_plain(reads[i]) for i in members], fields)
        except (pl.exceptions.PolarsError, ValueError):
            for i in members:  # one of them is not as plain as it looked: each through the general path
                reads[i].parsed = split_lines(reads[i].data, fields)
                reads[i].lines, reads[i].plain = None, False
            refused += members
            continue
        for i, n in zip(members, counts, strict=True):
            _parsed(reads[i]).rows_read = n
            reads[i].lines = None
        file_of = np.repeat(np.array(members, dtype=np.int32), counts)
        frames.append(frame.with_columns(pl.Series(FILE, file_of, dtype=pl.Int32)))
    return (pl.concat(frames) if frames else pl.DataFrame()), refused


def cast_plain(r: _Read) -> PlainCsv:
    if r.lines is None:
        raise RuntimeError(f"{r.file.source_name}: not a plain CSV file")
    return r.lines


def _prepare(conn: psycopg.Connection, planned: tuple[list[FeedFile], bool], ctx: Context, seen: set[str]) -> _Chunk:
    """Read, hash and parse a chunk's files; skip what the ledger holds; validate the rest together.
    Runs beside the booking of the previous chunk (its own connection, read-only)."""
    t0 = time.perf_counter()
    files, alone = planned
    reads = [_read(f, alone, ctx) for f in files]
    digests = [r.digest for r in reads if not r.failure]
    try:
        loaded = {
            row[0]
            for row in conn.execute(
                "SELECT content_sha256 FROM audit.ingest_batches WHERE source = 'file' AND status <> 'failed' "
                "AND content_sha256 = ANY(%s)",
                (digests,),
            )
        }
        conn.commit()
    except BaseException:
        for r in reads:  # a stream already started stops reading
            if r.stream is not None:
                r.stream.cancel()
        raise
    for r in reads:
        if r.failure:
            continue
        if r.digest in loaded or r.digest in seen:  # in the ledger, or an earlier file of this drop
            r.done = BatchResult(
                r.file.source_name, r.file.entity, "skipped", sha256=r.digest, message="already loaded (same content)"
            )
            if r.stream is not None:
                r.stream.cancel()
                r.stream = None
            continue
        seen.add(r.digest)
    chunk = _Chunk(reads, alone)
    for r in reads:
        if r.parsed is None and r.stream is None:  # (a file alone was parsed as it was read)
            _parse(r, together=not alone)
    if not chunk.alone:
        try:
            chunk.checked = _check_together(reads, ctx)
        except Exception as exc:  # noqa: BLE001 - the files go one by one, each failing alone if it must
            chunk.error = f"{type(exc).__name__}: {exc}"
    chunk.seconds = time.perf_counter() - t0
    return chunk


_REJECT_SCHEMA = {
    "row_number": pl.Int32,
    "field": pl.String,
    "value": pl.String,
    "reason": pl.String,
    "raw_row": pl.String,
}


def _check_together(reads: list[_Read], ctx: Context) -> _Checked:
    """Split, de-duplicate and validate the rows of several files as one frame (rules row by row, the
    owner per file), with what `load_parsed` does for one file: same rejects, duplicates and counts."""
    todo = [i for i, r in enumerate(reads) if r.parsed is not None]
    if not todo:
        return _Checked([], pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    ent = contract.entity(reads[todo[0]].file.entity)
    names = list(ent.field_names)
    csv_frames, json_frames, parse_rejects = [], [], []
    headers: dict[tuple[str, ...], int] = {}
    plain = [i for i in todo if reads[i].lines is not None]
    plain_frame, refused = _plain_rows(reads, plain, ent.field_names) if plain else (pl.DataFrame(), [])
    plain_set = set(plain) - set(refused)
    if plain_frame.height:
        owners = pl.DataFrame(
            {
                FILE: pl.Series(sorted(plain_set), dtype=pl.Int32),
                OWNER: pl.Series([reads[i].file.owner for i in sorted(plain_set)], dtype=pl.String),
            }
        )
        json_frames.append(
            plain_frame.join(owners, on=FILE, how="left")
            .select(ROW, "raw_row", *names, FILE, OWNER)
            .with_columns(pl.lit(-1, pl.Int32).alias("_hdr"))
        )
    for i in todo:
        if i in plain_set:
            continue
        p = _parsed(reads[i])
        tags = [pl.lit(i, pl.Int32).alias(FILE), pl.lit(reads[i].file.owner, pl.String).alias(OWNER)]
        if isinstance(p, Lines):
            hdr = headers.setdefault(tuple(p.header), len(headers))
            csv_frames.append(
                p.frame.select(ROW, "raw_row")
                .with_columns(*tags, pl.lit(hdr, pl.Int32).alias("_hdr"))
                .select(FILE, "_hdr", OWNER, ROW, "raw_row")
            )
        else:
            json_frames.append(
                p.frame.select(ROW, "raw_row", *names).with_columns(*tags, pl.lit(-1, pl.Int32).alias("_hdr"))
            )
        if p.rejects:
            parse_rejects.append(
                pl.DataFrame(p.rejects, schema=_REJECT_SCHEMA).with_columns(pl.lit(i, pl.Int32).alias(FILE))
            )
    rows = pl.concat(
        [
            *([pl.concat(csv_frames).select(FILE, "_hdr", OWNER, ROW, "raw_row")] if csv_frames else []),
            *([pl.concat(json_frames).select(FILE, "_hdr", OWNER, ROW, "raw_row", *names)] if json_frames else []),
        ],
        how="diagonal",
    )
    rows = rows.with_columns(pl.int_range(0, pl.len(), dtype=pl.Int32).alias(GID))
    where_file, where_line = rows.get_column(FILE), rows.get_column(ROW)  # row id (= position) -> file, line
    # exact repeats inside a file: rows whose (file, text) hash repeats are the only candidates, and only
    # they are grouped by their text (a repeat keeps pointing at the first row with that text)
    same = (pl.col("raw_row").hash(seed=1) ^ pl.col(FILE).hash(seed=2)).is_duplicated()
    candidates = rows.filter(same).with_columns(pl.col(ROW).min().over(FILE, "raw_row").alias("first_row_number"))
    dups = candidates.filter(pl.col(ROW) != pl.col("first_row_number"))
    units = rows.filter(~pl.col(GID).is_in(dups.get_column(GID).implode())) if dups.height else rows

    def fields_of(part: pl.DataFrame) -> tuple[pl.DataFrame, list[dict]]:
        """Fields of rows of several files (ROW = row id), CSV lines split with their file's header."""
        out, rejects = [], []
        for hdr, idx in headers.items():
            lines = part.filter(pl.col("_hdr") == idx).select(pl.col(GID).alias(ROW), "raw_row")
            if lines.height:
                f, rj = split_fields(lines, list(hdr), ent.field_names)
                out.append(f.select(ROW, "raw_row", *names))
                rejects += rj
        js = part.filter(pl.col("_hdr") < 0)
        if js.height:
            out.append(js.select(pl.col(GID).alias(ROW), "raw_row", *names))
        if not out:
            return pl.DataFrame(schema={ROW: pl.Int32, "raw_row": pl.String, **dict.fromkeys(names, pl.String)}), []
        return pl.concat(out), rejects

    if not headers:  # every row came split (plain CSV, JSON lines): no lines to split, no owners to join back
        split_rejects: list[dict] = []
        valid, rejected = check(units.select(pl.col(GID).alias(ROW), "raw_row", *names, OWNER), ent, ctx)
    else:
        owners = units.select(pl.col(GID).alias(ROW), OWNER)
        unit_fields, split_rejects = fields_of(units)
        valid, rejected = check(unit_fields.join(owners, on=ROW, how="left"), ent, ctx)
    dup_fields, _ = fields_of(dups)
    duplicates = describe_duplicates(
        dups.select(pl.col(GID).alias(ROW), pl.col("first_row_number").cast(pl.Int32)), dup_fields, ent
    )

    def located(frame: pl.DataFrame, on: str = "row_number") -> pl.DataFrame:
        """Rows numbered by row id back to their file and line."""
        ids = frame.get_column(on)
        return frame.with_columns(where_file.gather(ids).alias(FILE), where_line.gather(ids).alias(on))

    reject_cols = ["row_number", "field", "value", "reason", "raw_row", "enterprise_id"]
    reject_parts = [located(rejected.select(reject_cols))]
    if split_rejects:
        reject_parts.append(
            located(
                pl.DataFrame(split_rejects, schema=_REJECT_SCHEMA).with_columns(
                    pl.lit(None, pl.String).alias("enterprise_id")
                )
            ).select(FILE, *reject_cols)
        )
    for pr in parse_rejects:
        reject_parts.append(pr.with_columns(pl.lit(None, pl.String).alias("enterprise_id")).select(FILE, *reject_cols))
    rejects = pl.concat([p.select(FILE, *reject_cols) for p in reject_parts], how="vertical_relaxed")
    duplicates = located(duplicates).select(FILE, *[c for c in DUPLICATE_COLUMNS if c in duplicates.columns])
    valid = located(valid, ROW)

    # a repeat of a rejected row is rejected too (per file, as load_parsed does)
    both = set(duplicates[FILE].unique().to_list()) & set(rejects[FILE].unique().to_list())
    if both:
        dup_raw = dups.select(FILE, ROW, "raw_row")
        new_rej, new_dup = (
            [rejects.filter(~pl.col(FILE).is_in(list(both)))],
            [duplicates.filter(~pl.col(FILE).is_in(list(both)))],
        )
        for i in sorted(both):
            rj, dp = _repeats_of_rejected_rows(
                rejects.filter(pl.col(FILE) == i).drop(FILE),
                duplicates.filter(pl.col(FILE) == i).drop(FILE),
                dup_raw.filter(pl.col(FILE) == i).drop(FILE),
            )
            new_rej.append(rj.with_columns(pl.lit(i, pl.Int32).alias(FILE)).select(FILE, *reject_cols))
            new_dup.append(dp.with_columns(pl.lit(i, pl.Int32).alias(FILE)).select(duplicates.columns))
        rejects, duplicates = pl.concat(new_rej), pl.concat(new_dup)

    def per_file(frame: pl.DataFrame) -> dict[int, int]:
        if frame.is_empty():
            return {}
        return dict(frame.group_by(FILE).len().iter_rows())

    n_valid, n_rej, n_dup = per_file(valid), per_file(rejects), per_file(duplicates)
    checked = _Checked(todo, valid, rejects, duplicates)
    for i in todo:
        p = _parsed(reads[i])
        counts = (n_valid.get(i, 0), n_rej.get(i, 0), n_dup.get(i, 0))
        if sum(counts) != p.rows_read:
            raise AssertionError(
                f"{reads[i].file.source_name}: counts do not add up: read {p.rows_read} != "
                f"{counts[0]} loaded + {counts[1]} quarantined + {counts[2]} duplicates"
            )
        checked.counts[i] = counts
    end = dt_col("period_end")
    if end in valid.columns and valid.height:
        for i, lo, hi in (
            valid.group_by(FILE).agg(pl.col(end).min().alias("lo"), pl.col(end).max().alias("hi")).iter_rows()
        ):
            checked.spans[i] = (lo, hi)
    if ent.name == "readings":
        checked.months = _reading_months(valid)
    return checked


def _book(conn: psycopg.Connection, chunk: _Chunk, months_ready: set) -> list[BatchResult]:
    """One transaction for the chunk: ledger rows, COPY of valid rows, rejected rows and duplicates.
    Raises psycopg.Error when the database refuses any of it (the caller then goes file by file)."""
    checked = chunk.checked
    if checked is None:
        raise RuntimeError("a chunk that was not validated together")
    reads = chunk.reads
    t0 = time.perf_counter()
    entity_name = reads[checked.files[0]].file.entity
    ent = contract.entity(entity_name)
    total_rows = sum(_parsed(reads[i]).rows_read for i in checked.files) or 1
    with conn.cursor() as cur:
        hold_batch_in_flight(conn)  # batch ids are drawn after this (see schema.hold_batch_in_flight)
        rows = []
        for i in checked.files:
            r = reads[i]
            p = _parsed(r)
            lo, hi = checked.spans.get(i, (None, None))
            loaded, rej, dup = checked.counts[i]
            rows.append(
                (
                    r.file.source_name,
                    r.digest,
                    len(r.data),
                    r.file.owner,
                    getattr(p, "encoding", None),
                    json.dumps(p.header, ensure_ascii=False) if isinstance(p, Lines) else None,
                    p.rows_read,
                    loaded,
                    rej,
                    dup,
                    lo,
                    hi,
                    chunk.seconds * p.rows_read / total_rows if total_rows else None,
                )
            )
        cols = list(zip(*rows, strict=True))
        ids = cur.execute(
            """INSERT INTO audit.ingest_batches (source, source_name, entity, content_sha256, size_bytes,
                   owner_enterprise_id, status, encoding, header, rows_read, rows_loaded, rows_quarantined,
                   rows_duplicate, min_period_end, max_period_end, parse_seconds)
               SELECT 'file', n, %s, s, z, o, 'loading', enc, h, rr, rl, rq, rd, lo, hi, ps
                 FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[],
                             %s::int[], %s::int[], %s::int[], %s::int[], %s::timestamptz[], %s::timestamptz[],
                             %s::float8[]) WITH ORDINALITY AS u(n, s, z, o, enc, h, rr, rl, rq, rd, lo, hi, ps, k)
                ORDER BY k
               ON CONFLICT (content_sha256) WHERE source = 'file' AND status <> 'failed' DO NOTHING
               RETURNING content_sha256, batch_id""",
            (entity_name, *[list(c) for c in cols]),
        ).fetchall()
        if len(ids) != len(rows):  # a concurrent run booked one of these files first
            raise _Conflict(f"{len(rows) - len(ids)} file(s) of the chunk were booked by another run")
        by_digest: dict[str, int] = dict(ids)
        batch_of = pl.DataFrame(
            {
                FILE: pl.Series(checked.files, dtype=pl.Int32),
                "batch_id": pl.Series([by_digest[reads[i].digest] for i in checked.files], dtype=pl.Int64),
                "source_name": pl.Series([reads[i].file.source_name for i in checked.files], dtype=pl.String),
            }
        )
        if checked.months - months_ready:
            ensure_reading_partitions(conn, checked.months - months_ready)
        columns = ["batch_id", "row_number", *ent.field_names]
        if checked.valid.height:
            valid = checked.valid.join(batch_of, on=FILE, how="left").sort("batch_id", "row_number")
            with RawCopy(cur, entity_name, columns) as target:
                for piece in valid.iter_slices(COPY_CHUNK_ROWS):
                    target.write(piece)
        stamp = [pl.lit(entity_name).alias("entity")]
        if checked.rejects.height:
            _copy_frame(
                cur,
                "quarantine.rejected_rows",
                REJECT_COLUMNS,
                checked.rejects.join(batch_of, on=FILE, how="left")
                .sort("batch_id", "row_number")
                .with_columns(
                    _storable("raw_row", 4000),
                    _storable("value", 1000),
                    _storable("reason", 2000),
                    _storable("field", 200),
                    _storable("enterprise_id", 64),
                    *stamp,
                ),
            )
        if checked.duplicates.height:
            _copy_frame(
                cur,
                "quarantine.duplicate_rows",
                DUPLICATE_COLUMNS,
                checked.duplicates.join(batch_of, on=FILE, how="left").with_columns(*stamp),
            )
        load_seconds = time.perf_counter() - t0
        cur.execute(
            "UPDATE audit.ingest_batches SET status = 'loaded', finished_at = clock_timestamp(), "
            "load_seconds = %s * rows_read / %s WHERE batch_id = ANY(%s)",
            (load_seconds, total_rows, list(by_digest.values())),
        )
    conn.commit()
    months_ready |= checked.months
    seconds = chunk.seconds + time.perf_counter() - t0
    out = []
    for i in checked.files:
        r = reads[i]
        p = _parsed(r)
        loaded, rej, dup = checked.counts[i]
        out.append(
            BatchResult(
                r.file.source_name,
                r.file.entity,
                "loaded",
                by_digest[r.digest],
                r.digest,
                p.rows_read,
                loaded,
                rej,
                dup,
                p.file_error,
                seconds * p.rows_read / total_rows,
            )
        )
    return out


class _Conflict(RuntimeError):
    pass


def _one(url: str, r: _Read, reference: Reference) -> BatchResult:
    """One file in its own transaction (a large file, or a file of a chunk the database refused)."""
    f = r.file
    if r.done:
        return r.done

    def failed(reason: str, encoding, size_bytes: int) -> BatchResult:
        return record_failure(
            url,
            source="file",
            source_name=f.source_name,
            entity_name=f.entity,
            sha256=r.digest,
            size_bytes=size_bytes,
            owner=f.owner,
            reason=reason,
            encoding=encoding,
        )

    if r.failure:
        reason, encoding, raw = r.failure
        return failed(reason, encoding, len(raw if raw is not None else r.data))
    try:
        if r.stream is not None:
            stream, r.stream = r.stream, None
            result = load_stream(
                url,
                stream,
                r.digest,
                source_name=f.source_name,
                owner=f.owner,
                reference=reference,
                load_context=load_context,
            )
            if result is not None:
                return result
            r.plain = True  # not as plain as it looked: the general way
        parsed = split_lines(r.data, contract.entity(f.entity).field_names) if r.plain else _parsed(r)
        return load_parsed(
            url,
            parsed,
            entity_name=f.entity,
            source="file",
            source_name=f.source_name,
            sha256=r.digest,
            size_bytes=len(r.data),
            owner=f.owner,
            reference=reference,
        )
    except psycopg.OperationalError:
        raise  # the database is gone: no later file can load either
    except Exception as exc:  # noqa: BLE001 - recorded as a failed batch; the run goes on
        reason = f"could not be loaded: {type(exc).__name__}: {exc}"
        return failed(reason, getattr(r.parsed, "encoding", None), len(r.data))


def load_files(url: str, files: list[FeedFile], reference: Reference) -> Iterator[BatchResult]:
    """Load feed files of one entity (not a registry: their validation does not depend on each other)
    in chunks, each file its own batch; results in file order."""
    if not files:
        return
    for f in files:
        f.source_name = display_name(f.source_name)
    with (
        psycopg.connect(url) as conn,
        psycopg.connect(url) as reader,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="iem-prepare") as pool,
    ):
        ctx = load_context(conn, reference, None, "")
        ctx.owner_column = OWNER
        months_ready = existing_reading_partitions(conn) if files[0].entity == "readings" else set()
        conn.commit()
        seen: set[str] = set()
        chunks = plan(files)
        ahead = pool.submit(_prepare, reader, chunks[0], ctx, seen)
        for k in range(len(chunks)):
            chunk = ahead.result()
            if k + 1 < len(chunks):  # validate the next chunk while this one is booked
                ahead = pool.submit(_prepare, reader, chunks[k + 1], ctx, seen)
            yield from _load_chunk(url, conn, chunk, months_ready, reference)


def _load_chunk(
    url: str, conn: psycopg.Connection, chunk: _Chunk, months_ready: set, reference: Reference
) -> Iterator[BatchResult]:
    booked: dict[int, BatchResult] = {}
    if chunk.checked is not None and chunk.checked.files:
        try:
            for i, result in zip(chunk.checked.files, _book(conn, chunk, months_ready), strict=True):
                booked[i] = result
        except psycopg.OperationalError:
            if conn.closed:
                raise
            conn.rollback()
        except (psycopg.Error, _Conflict) as exc:
            conn.rollback()  # the files of this chunk go one by one: a bad one fails alone
            log.warning("a chunk of %d files was refused (%s): loading them one by one", len(chunk.reads), exc)
    elif chunk.error:
        log.warning(
            "a chunk of %d files could not be validated together (%s): one by one", len(chunk.reads), chunk.error
        )
    for i, r in enumerate(chunk.reads):
        yield booked[i] if i in booked else _one(url, r, reference)


def load_drop(
    url: str,
    items: list[tuple[Path, str, str, str | None, str | None]],
    reference: Reference,
    progress: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """(path, source_name, entity, owner, refusal) of non-registry files, in load order."""
    out: list[BatchResult] = []
    k = 0
    while k < len(items):
        entity = items[k][2]
        group = []
        while k < len(items) and items[k][2] == entity:
            path, rel, ent, owner, refusal = items[k]
            group.append(FeedFile(path, rel, ent, owner, refusal))
            k += 1
        for result in load_files(url, group, reference):
            out.append(result)
            if progress:
                progress(result)
    return out


__all__ = ["FeedFile", "load_drop", "load_files", "plan"]
