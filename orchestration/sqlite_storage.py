"""The Dagster instance's event log on SQLite (the default instance in $IEM_HOME/dagster, written by
`prepare_dagster_home`), with its connections kept open and `PRAGMA synchronous=NORMAL`.

Dagster's `SqliteEventLogStorage` opens a new engine and connection for every write and closes it after
(`NullPool`); the last connection to close checkpoints the write-ahead log, and with SQLite's default
`synchronous=FULL` every commit also waits for a disk flush. A `dbt build` stores about 700 events (a
materialization per model and seed, a result per dbt test, their planned events and step outputs), so on
a busy disk a third of a small `iem transform` went into storing its run history. This class keeps a
connection per shard file open (the run's own file and the index; a few at a time, least recently used
closed first) and sets `synchronous=NORMAL`, SQLite's documented setting for WAL mode: the files stay
consistent after an application crash or a killed process; only a power loss or an operating-system crash
can lose the last few committed events of the run history — never warehouse data, which lives in
PostgreSQL (https://www.sqlite.org/pragma.html#pragma_synchronous, https://www.sqlite.org/wal.html).
Everything else (schema, migrations, the UI's event watchers) is Dagster's own class."""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# open shard files per process: the running step's run file, the index, and a few the UI reads
OPEN_SHARDS = 4


def _normal_synchronous(dbapi_connection: Any, _connection_record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` that reuses one open connection per shard file (see the module's text)."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteEventLogStorage:  # type: ignore[override]
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=4,  # migrations and table creation take a second connection
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            event.listen(engine, "connect", _normal_synchronous)
        self._engines[shard] = engine  # most recently used last
        while len(self._engines) > OPEN_SHARDS:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:  # type: ignore[override]
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()
