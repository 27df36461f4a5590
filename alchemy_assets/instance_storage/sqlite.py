"""Dagster's run-sharded SQLite event log, with pooled connections.

Dagster's :class:`SqliteEventLogStorage` builds a new engine for every statement group, and
each close of a database's last connection checkpoints its write-ahead log into the ``.db``,
fsyncs it and deletes the ``-wal``: several fsyncs per stored event. This subclass keeps the
same files (``<run_id>.db`` per run, ``index.db``; the same tables), so switching back to the
stock class is a change of ``dagster.yaml``. What it changes:

- one pooled connection per database (the index, and the few run shards last used), instead
  of an engine per statement group;
- ``PRAGMA synchronous=NORMAL`` on databases in WAL mode (Dagster creates them so): a commit
  appends to the ``-wal`` without an fsync; the WAL is fsynced at each checkpoint. A power
  loss or OS crash can lose the transactions committed since the last checkpoint, never
  corrupt a database (SQLite's documented guarantee for WAL + NORMAL). A process crash loses
  nothing. Databases not in WAL mode keep SQLite's default (FULL);
- at each run's end (success, failure, cancellation) its shard and the index are
  checkpointed (``wal_checkpoint(FULL)``: WAL and database fsynced), and the shard is closed.
  So a finished run's events are as durable as with the stock storage; what a power loss can
  take is events of runs still in progress (and index writes made outside a run since the
  last checkpoint, such as added partitions; SQLite also checkpoints every ~1,000 pages).
  When another process is checkpointing the same database at that moment (the index, at
  the end of its own run), SQLite leaves the work to it: logged at debug level, not warned;
- schema probes cached once found (``has_table``; the asset-key index columns);
- a check result's index writes (mirror row, ``asset_check_executions`` update) in one
  transaction;
- the live run-log watcher also watches the shard's ``-wal`` file (with pooled connections
  the ``.db`` is only written at checkpoints, and the stock watcher, which watches only the
  ``.db``, saw no live update), reads again a moment after each wake-up and every second.

Configure it in ``$DAGSTER_HOME/dagster.yaml``::

    event_log_storage:
      module: alchemy_assets.instance_storage.sqlite
      class: PooledSqliteEventLogStorage
      config:
        base_dir: /path/to/dagster_home/history/runs  # optional; this is the default

Every Dagster internal used here is listed in :data:`OVERRIDDEN` and pinned by the tests.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as db
from dagster._core.event_api import EventHandlerFn
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool
from watchdog.events import FileSystemEvent, PatternMatchingEventHandler
from watchdog.observers import Observer

# The Dagster internals this module overrides or calls (dagster 1.13), by dotted name.
# alchemy_assets_tests/test_instance_storage_sqlite.py checks each still exists as used.
OVERRIDDEN = (
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorage._connect",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorage._initdb",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorage.store_event",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorage.has_table",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorage.watch",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorage.end_watch",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorage.wipe",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorage.dispose",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log.SqliteEventLogStorageWatchdog"
    "._process_log",
    "dagster._core.storage.event_log.sql_event_log.SqlEventLogStorage"
    "._has_asset_key_index_cols_on_connection",
    "dagster._core.storage.event_log.sql_event_log.SqlEventLogStorage._store_asset_event_tags",
    "dagster._core.storage.event_log.sql_event_log.SqlEventLogStorage._store_asset_event",
    "dagster._core.storage.event_log.sql_event_log.SqlEventLogStorage.store_asset_check_event",
    "dagster._core.storage.event_log.sql_event_log.SqlEventLogStorage.index_transaction",
)

# Run shards kept open besides the index: a run's process writes one; the webserver reads the
# runs a person is looking at. Older ones are closed (and checkpointed by SQLite on close).
OPEN_SHARDS = 8
RUN_END = frozenset(
    {dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE}
    | {dg.DagsterEventType.RUN_CANCELED}
)

log = logging.getLogger(__name__)


def default_base_dir() -> str:
    """Where Dagster's default instance keeps its event log: ``$DAGSTER_HOME/history/runs``."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError(
            "PooledSqliteEventLogStorage: set config.base_dir in dagster.yaml, or DAGSTER_HOME"
        )
    return os.path.join(home, "history", "runs")


def _tune(dbapi_connection: Any, _record: Any) -> None:
    """``synchronous=NORMAL`` on a new connection, where the database is in WAL mode."""
    cursor = dbapi_connection.cursor()
    try:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (same files), with pooled connections; see the module."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        # Set before the stock __init__, which may already connect (to create the index).
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._pool_lock = threading.RLock()
        self._local = threading.local()
        self._found_tables: set[str] = set()
        self._asset_key_index_cols = False
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        base_dir = config_value.get("base_dir") or default_base_dir()
        return cls(base_dir, inst_data=inst_data)

    def _held(self) -> dict[str, Connection]:
        """This thread's open connections by shard: a nested use joins the outer one."""
        held: dict[str, Connection] | None = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = {}
        return held

    def _engine(self, shard: str) -> Engine:
        """The shard's pooled engine (created, and the database initialized, on first use)."""
        if self._engines_pid != os.getpid():
            # A forked child must not use its parent's SQLite connections.
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines.clear()
            self._engines_pid = os.getpid()
        if shard in self._engines:
            self._engines.move_to_end(shard)
            return self._engines[shard]
        engine = db.create_engine(
            self.conn_string_for_shard(shard),
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=2,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        db.event.listen(engine, "connect", _tune)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
            # The connection that created the database predates its WAL mode: reconnect.
            engine.dispose()
        self._engines[shard] = engine
        self._close_least_recent()
        return engine

    def _close_least_recent(self) -> None:
        held = self._held()
        runs = [s for s in self._engines if s != INDEX_SHARD_NAME and s not in held]
        for shard in runs[: max(0, len(runs) - OPEN_SHARDS)]:
            self._engines.pop(shard).dispose()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        held = self._held()
        if shard in held:
            yield held[shard]
            return
        with self._pool_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                held[shard] = conn
                try:
                    yield conn
                finally:
                    del held[shard]

    def has_table(self, table_name: str) -> bool:
        # Cached once found: tables are only ever added (by `dagster instance migrate`).
        if table_name in self._found_tables:
            return True
        with self.index_connection() as conn:
            found = bool(conn.dialect.has_table(conn, table_name))
        if found:
            self._found_tables.add(table_name)
        return found

    def _has_asset_key_index_cols_on_connection(self, conn: Connection) -> bool:
        if not self._asset_key_index_cols:
            self._asset_key_index_cols = super()._has_asset_key_index_cols_on_connection(conn)
        return self._asset_key_index_cols

    def store_event(self, event: dg.EventLogEntry) -> None:
        """As the stock storage does, but a check result's index writes in one transaction
        and, at a run's end, its shard and the index checkpointed."""
        insert = self.prepare_insert_event(event)
        with self.run_connection(event.run_id) as conn:
            conn.execute(insert)
        event_type = event.dagster_event_type if event.is_dagster_event else None
        if event_type in ASSET_EVENTS:
            with self.index_transaction() as conn:
                with db_result(conn, insert) as result:
                    event_id = result.inserted_primary_key[0]
                if event_id is None:
                    raise dg.DagsterInvariantViolationError(
                        "Cannot store asset event tags for null event id."
                    )
                self._store_asset_event_tags(conn, [event], [event_id])
                self._store_asset_event(conn, event, event_id)
        elif event_type in ASSET_CHECK_EVENTS:
            # store_asset_check_event's own index_connection() joins this transaction.
            with self.index_transaction() as conn:
                with db_result(conn, insert) as result:
                    event_id = result.inserted_primary_key[0]
                self.store_asset_check_event(event, event_id)
        elif event_type in EVENT_TYPE_TO_PIPELINE_RUN_STATUS:
            with self.index_connection() as conn:
                conn.execute(insert)
            if event_type in RUN_END:
                self.end_run(event.run_id)

    def checkpoint(self, shard: str) -> tuple[int, int, int]:
        """``PRAGMA wal_checkpoint(FULL)`` on ``shard``: every committed transaction copied
        into the ``.db``, WAL and database fsynced. Returns SQLite's (busy, WAL frames,
        frames checkpointed); busy is 1 when another connection kept it from completing,
        with -1 frames when that connection was checkpointing the database itself."""
        with self._pool_lock:
            if shard in self._held():
                raise RuntimeError(f"cannot checkpoint {shard} inside one of its transactions")
            with self._engine(shard).connect() as conn:
                row = conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)").one()
        busy, frames, done = int(row[0]), int(row[1]), int(row[2])
        if busy and frames == -1:
            # SQLite's answer when another connection holds the checkpoint lock: another
            # process is checkpointing this database right now and copies the frames itself
            # (what it misses, the next checkpoint copies). Nothing for a person to do.
            log.debug("event log %s: checkpointed by another connection at the same time", shard)
        elif busy:
            log.warning("event log %s: checkpoint incomplete, %s of %s frames", shard, done, frames)
        return busy, frames, done

    def end_run(self, run_id: str) -> None:
        """At a run's end: its shard and the index checkpointed, the shard closed."""
        with self._pool_lock:
            self.checkpoint(run_id)
            self.checkpoint(INDEX_SHARD_NAME)
            engine = self._engines.pop(run_id, None)
            if engine is not None:
                engine.dispose()

    def close_all(self) -> None:
        """Close every pooled connection (each last close checkpoints its database)."""
        with self._pool_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        # The stock class types its observer as None; it is one once started.
        observer: Any = self._obs
        if not observer:
            observer = Observer()
            observer.start()
            self._obs = observer
        handler = WalAwareWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            handler,
            observer.schedule(handler, self._base_dir, recursive=True),
        )

    def end_watch(self, run_id: str, handler: EventHandlerFn) -> None:
        watched = self._watchers[run_id].get(handler)
        if watched is not None and isinstance(watched[0], WalAwareWatchdog):
            watched[0].stop()
        super().end_watch(run_id, handler)

    def wipe(self) -> None:
        self.close_all()  # the stock wipe deletes the run shards' files
        super().wipe()

    def dispose(self) -> None:
        for handlers in self._watchers.values():
            for handler, _ in handlers.values():
                if isinstance(handler, WalAwareWatchdog):
                    handler.stop()
        super().dispose()
        self.close_all()


class WalAwareWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's run-log watcher, woken by writes to the shard's ``.db`` or its ``-wal``.

    A commit writes its frames to the ``-wal`` (a file event) and then marks them committed
    in the ``-shm`` (a memory map: no file event), so a read woken by the first can miss the
    commit. Each wake-up is therefore followed by another read a moment later, and the shard
    is also read every ``POLL_SECONDS`` while watched.
    """

    AGAIN_SECONDS = 0.2
    POLL_SECONDS = 1.0

    def __init__(
        self,
        storage: PooledSqliteEventLogStorage,
        run_id: str,
        callback: EventHandlerFn,
        cursor: str | None,
    ) -> None:
        # The stock __init__ watches the .db alone; its fields are set as it sets them.
        path = storage.path_for_shard(run_id)
        PatternMatchingEventHandler.__init__(self, patterns=[path, f"{path}-wal"])
        self._event_log_storage = storage
        self._run_id = run_id
        self._cb = callback
        self._log_path = path
        self._cursor = cursor
        self._read_lock = threading.Lock()
        self._woken = threading.Event()
        self._stopped = threading.Event()
        threading.Thread(target=self._poll, name=f"run-log-watch-{run_id}", daemon=True).start()

    def _process_log(self) -> None:
        with self._read_lock:
            if not self._stopped.is_set():
                super()._process_log()

    def _poll(self) -> None:
        while not self._stopped.is_set():
            woken = self._woken.wait(self.POLL_SECONDS)
            if woken:
                self._woken.clear()
                self._stopped.wait(self.AGAIN_SECONDS)
            try:
                self._process_log()
            except Exception:  # a failed read is retried at the next wake-up or poll
                log.exception("run-log watcher of %s: read failed", self._run_id)

    def stop(self) -> None:
        self._stopped.set()

    def on_created(self, event: FileSystemEvent) -> None:
        self._process_log()
        self._woken.set()

    def on_modified(self, event: FileSystemEvent) -> None:
        self._process_log()
        self._woken.set()
