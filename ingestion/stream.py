"""A large plain CSV file loaded as a stream: read, validated and COPY'd piece by piece.

A file loaded alone (a pilot region's day in one file: 1.7 M readings, 216 MB) used to be split into
lines and de-duplicated whole before its first row reached the server, so the server sat idle for the
first ~2 s of the load. Here (for a file `parse.plain_csv` accepts) a producer thread cuts the file
into pieces at line ends and, piece by piece, reads it with polars' CSV reader, hashes its rows and
validates them, while the file is hashed (sha256, for the ledger) on another thread and the pieces
already validated are COPY'd by the calling thread: the server works from the first piece on.

What holds, as for any batch (`loader.load_parsed`): one transaction (ledger row, valid rows, rejected
rows with file, row, field and reason, exact duplicates), exactly once by content hash, and
read = loaded + quarantined + duplicates. Exact repeats inside the file are found when the whole file
has been hashed, i.e. after its rows were COPY'd: a repeat of a valid row was loaded with the others
and is deleted again (same transaction, by batch and row number) and booked as a duplicate; a repeat
of a rejected row gets the reason `_repeats_of_rejected_rows` gives it. Both are what `load_parsed`
books. Anything that is not as plain as it looked (polars refuses a piece) rolls the transaction back
and the caller loads the file the general way (`load_parsed`).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from . import contract
from .parse import ROW, PlainCsv, has_spaces, not_plain, read_plain, split_fields
from .reference import Reference
from .schema import existing_reading_partitions, hold_batch_in_flight
from .validate import Context, check, describe_duplicates

PIECE_BYTES = 8 * 1024**2  # ~65,000 readings
AHEAD = 6  # pieces validated ahead of the COPY at most (memory)
HASH = "_hash"


class NotPlain(Exception):
    """A piece that polars' reader refused: the file goes the general way."""


@dataclass
class Piece:
    rows: int
    valid: pl.DataFrame  # row_number, contract fields, _dt_ columns
    rejects: pl.DataFrame  # row_number, field, value, reason, raw_row, enterprise_id
    texts: pl.DataFrame  # row_number, raw_row, _hash: every row of the piece (repeats are looked for at the end)


def pieces_of(data: bytes, start: int, size: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of consecutive pieces of `data` from `start`, each ending after a newline (or at the
    end of the data), about `size` bytes each."""
    size = size or PIECE_BYTES
    out = []
    while start < len(data):
        end = data.find(b"\n", min(start + size, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        out.append((start, end))
        start = end
    return out


class PlainStream:
    """The producer: pieces of a plain CSV file read and validated on a thread of its own, in order."""

    def __init__(self, data: bytes, plain: PlainCsv, entity_name: str):
        self.data, self.plain, self.entity = data, plain, contract.entity(entity_name)
        self.ctx: Future[Context] = Future()
        self._queue: queue.Queue[Piece | BaseException | None] = queue.Queue(maxsize=AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iem-stream", daemon=True)
        self._thread.start()

    def _put(self, item: Piece | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            fields = self.entity.field_names
            header = self.plain.header
            first_line = 2
            ctx: Context | None = None
            for start, end in pieces_of(self.data, self.plain.body):
                if self._stop.is_set():
                    return
                chunk = self.data[start:end]
                if not_plain(chunk):
                    raise NotPlain("a quote, carriage return or NUL byte")
                part = PlainCsv(header, chunk, 0, has_spaces(chunk))
                try:
                    frame, counts = read_plain([part], fields, first_line=first_line)
                except (pl.exceptions.PolarsError, ValueError) as exc:
                    raise NotPlain(str(exc)) from exc
                first_line += counts[0]
                if ctx is None:
                    ctx = self.ctx.result()  # the registry, read by the consumer once it has a connection
                valid, rejected = check(frame, self.entity, ctx)
                texts = frame.select(ROW, "raw_row", pl.col("raw_row").hash(seed=1).alias(HASH))
                piece = Piece(
                    counts[0],
                    valid.drop("raw_row"),
                    rejected.select("row_number", "field", "value", "reason", "raw_row", "enterprise_id"),
                    texts,
                )
                if not self._put(piece):
                    return
            self._put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which decides
            self._put(exc)

    def __iter__(self) -> Iterator[Piece]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> None:
        self._stop.set()
        if not self.ctx.done():
            self.ctx.set_exception(NotPlain("cancelled"))


def load_stream(
    url: str,
    stream: PlainStream,
    digest: str,
    *,
    source_name: str,
    owner: str | None,
    reference: Reference,
    load_context: Any,
) -> Any:
    """Book the stream as one batch (see module doc). Returns the BatchResult, or None when the file is
    not plain after all (nothing committed: load it the general way)."""
    from .loader import BatchResult, RawCopy, _repeats_of_rejected_rows, close_file_batch, copy_valid_piece

    t0 = time.perf_counter()
    ent = stream.entity
    entity_name = ent.name
    data = stream.data
    with psycopg.connect(url) as conn:
        if not stream.ctx.done():
            try:
                stream.ctx.set_result(load_context(conn, reference, owner, source_name))
            except BaseException:
                stream.cancel()
                raise
        months_ready = existing_reading_partitions(conn) if entity_name == "readings" else set()
        conn.commit()
        try:
            with conn.cursor() as cur:
                hold_batch_in_flight(conn)
                try:
                    row = cur.execute(
                        "INSERT INTO audit.ingest_batches (source, source_name, entity, content_sha256, size_bytes, "
                        "owner_enterprise_id, status, encoding, header) "
                        "VALUES ('file', %s, %s, %s, %s, %s, 'loading', 'utf-8', %s) RETURNING batch_id",
                        (
                            source_name,
                            entity_name,
                            digest,
                            len(data),
                            owner,
                            json.dumps(stream.plain.header, ensure_ascii=False),
                        ),
                    ).fetchone()
                except psycopg.errors.UniqueViolation:
                    conn.rollback()
                    stream.cancel()
                    return BatchResult(
                        source_name, entity_name, "skipped", sha256=digest, message="already loaded (same content)"
                    )
                batch_id = int(row[0]) if row else 0
                t1 = time.perf_counter()
                columns = ["batch_id", "row_number", *ent.field_names]
                rows_read, n_loaded, period_ends = 0, 0, [None, None]
                rejects: list[pl.DataFrame] = []
                texts: list[pl.DataFrame] = []
                with RawCopy(cur, entity_name, columns) as target:
                    for piece in stream:
                        rows_read += piece.rows
                        rejects.append(piece.rejects)
                        texts.append(piece.texts)
                        valid = piece.valid
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
                all_rejects = pl.concat(rejects, how="vertical_relaxed")
                duplicates, dups, loaded_repeats = _repeats(pl.concat(texts), stream.plain.header, ent, all_rejects)
                if loaded_repeats:
                    deleted = cur.execute(
                        sql.SQL("DELETE FROM {} WHERE batch_id = %s AND row_number = ANY(%s)").format(
                            sql.SQL(f"raw.{entity_name}")
                        ),
                        (batch_id, loaded_repeats),
                    ).rowcount
                    if deleted != len(loaded_repeats):
                        raise AssertionError(f"{source_name}: {deleted} of {len(loaded_repeats)} repeats deleted")
                    n_loaded -= deleted
                if duplicates.height:
                    all_rejects = all_rejects.filter(~pl.col("row_number").is_in(dups.get_column(ROW).implode()))
                    all_rejects, duplicates = _repeats_of_rejected_rows(all_rejects, duplicates, dups)
                n_rej, n_dup = close_file_batch(
                    cur,
                    batch_id=batch_id,
                    source_name=source_name,
                    entity_name=entity_name,
                    rows_read=rows_read,
                    rows_loaded=n_loaded,
                    rejects=all_rejects,
                    duplicates=duplicates,
                    period_ends=(period_ends[0], period_ends[1]),
                    parse_seconds=t1 - t0,
                    load_started=t1,
                )
            conn.commit()
        except NotPlain:
            conn.rollback()
            stream.cancel()
            return None
        except BaseException:
            stream.cancel()
            raise
    return BatchResult(
        source_name,
        entity_name,
        "loaded",
        batch_id,
        digest,
        rows_read,
        n_loaded,
        n_rej,
        n_dup,
        None,
        time.perf_counter() - t0,
    )


def _repeats(
    texts: pl.DataFrame, header: list[str], ent: contract.Entity, rejects: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, list[int]]:
    """Exact repeats inside the file, as `validate.split_duplicates` finds them (a row whose text equals
    an earlier row's; rows whose text hashes alike are the candidates): (duplicates as
    `describe_duplicates` makes them, the repeats as row_number/first_row_number/raw_row, the row
    numbers of repeats that were loaded, i.e. whose first row is not rejected)."""
    repeated = texts.select(pl.col(HASH).is_duplicated()).to_series()
    rep = texts.filter(repeated).with_columns(pl.col(ROW).min().over("raw_row").alias("first_row_number"))
    dups = rep.filter(pl.col(ROW) != pl.col("first_row_number")).select(ROW, "first_row_number", "raw_row")
    fields, _ = split_fields(dups.select(ROW, "raw_row"), header, ent.field_names)
    duplicates = describe_duplicates(dups, fields, ent)
    rejected_first = rejects.get_column("row_number").implode()
    loaded = dups.filter(~pl.col("first_row_number").is_in(rejected_first)).get_column(ROW).to_list()
    return duplicates, dups, loaded


def start(
    data: bytes, plain: PlainCsv, entity_name: str, ctx: Context | None = None
) -> tuple[PlainStream, Future[str]]:
    """The producer started, and the file's sha256 being worked out beside it. `ctx`: the registry the
    file is validated against (its owner's), when the caller has it (the whole registry with the file's
    owner gives the verdicts of the owner's registry: rows of another enterprise fail on ownership
    first); else the consumer reads it (`load_stream`)."""
    from .loader import sha256_of

    stream = PlainStream(data, plain, entity_name)
    if ctx is not None:
        stream.ctx.set_result(ctx)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iem-hash")
    digest = pool.submit(sha256_of, data)
    pool.shutdown(wait=False)
    return stream, digest
