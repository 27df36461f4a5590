"""dagster-postgres's event log, with a connection pool (and optionally asynchronous commits).

:class:`PostgresEventLogStorage` keeps no connection open outside the webserver: every
statement group opens a new PostgreSQL connection (a fork of a server process, an
authentication) and closes it. This subclass keeps the same tables and the same stored rows
(switching back is a change of ``dagster.yaml``) and changes:

- a pool of ``pool_size`` connections kept open per process (default 2; the webserver's
  own pool, set by Dagster, is left as it is);
- schema probes (``has_table``; the asset-key index columns) cached once found;
- ``synchronous_commit: false`` (opt-in) sets PostgreSQL's ``synchronous_commit=off`` on its
  connections: a commit returns before its WAL record is flushed. A crash of the database
  server (or its machine) can lose the last commits of up to three times ``wal_writer_delay``
  (0.6 s by default), never corrupt the database or leave a half-written transaction.
  A crash of a Dagster process loses nothing. Off by default.

Configure it in ``dagster.yaml`` beside dagster-postgres's run and schedule storages::

    event_log_storage:
      module: alchemy_assets.instance_storage.postgres
      class: PooledPostgresEventLogStorage
      config:
        postgres_db: {...}          # as dagster-postgres's PostgresEventLogStorage
        pool_size: 2
        synchronous_commit: false

Every Dagster internal used here is listed in :data:`OVERRIDDEN` and pinned by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import sqlalchemy as db
from dagster._core.storage.config import pg_config
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy.engine import Connection

# The Dagster internals this module overrides or calls (dagster-postgres 0.29), by dotted name.
# alchemy_assets_tests/test_instance_storage_postgres.py checks each still exists as used.
OVERRIDDEN = (
    "dagster_postgres.event_log.event_log.PostgresEventLogStorage.__init__",
    "dagster_postgres.event_log.event_log.PostgresEventLogStorage._engine",
    "dagster_postgres.event_log.event_log.PostgresEventLogStorage._token_provider",
    "dagster_postgres.event_log.event_log.PostgresEventLogStorage.has_table",
    "dagster_postgres.event_log.event_log.PostgresEventLogStorage.optimize_for_webserver",
    "dagster_postgres.utils.create_pg_engine",
    "dagster_postgres.utils.pg_url_from_config",
    "dagster_postgres.utils.get_token_provider_from_config",
    "dagster._core.storage.config.pg_config",
    "dagster._core.storage.event_log.sql_event_log.SqlEventLogStorage"
    "._has_asset_key_index_cols_on_connection",
)


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres's event log (same tables) with a connection pool; see the module."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
        pool_size: int = 2,
        synchronous_commit: bool = True,
    ) -> None:
        self._found_tables: set[str] = set()
        self._asset_key_index_cols = False
        self._synchronous_commit = synchronous_commit
        super().__init__(
            postgres_url,
            should_autocreate_tables=should_autocreate_tables,
            inst_data=inst_data,
            token_provider=token_provider,
        )
        self._engine.dispose()
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=pool_size,
            max_overflow=pool_size,
            # As Dagster's own webserver pool: no ping per checkout (a round trip per
            # statement group); connections older than an hour are replaced.
            pool_recycle=3600,
        )
        self._listen()

    def _listen(self) -> None:
        if not self._synchronous_commit:
            db.event.listen(self._engine, "connect", _asynchronous_commits)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        schema = pg_config()
        assert isinstance(schema, dict)
        return {
            **schema,
            "pool_size": dg.Field(int, is_required=False, default_value=2),
            "synchronous_commit": dg.Field(bool, is_required=False, default_value=True),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
            pool_size=config_value.get("pool_size", 2),
            synchronous_commit=config_value.get("synchronous_commit", True),
        )

    def optimize_for_webserver(
        self, statement_timeout: int, pool_recycle: int, max_overflow: int
    ) -> None:
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)
        self._listen()

    def has_table(self, table_name: str) -> bool:
        # Cached once found: tables are only ever added (by `dagster instance migrate`).
        if table_name in self._found_tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._found_tables.add(table_name)
        return found

    def _has_asset_key_index_cols_on_connection(self, conn: Connection) -> bool:
        if not self._asset_key_index_cols:
            self._asset_key_index_cols = super()._has_asset_key_index_cols_on_connection(conn)
        return self._asset_key_index_cols

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


def _asynchronous_commits(dbapi_connection: Any, _record: Any) -> None:
    """``synchronous_commit=off`` for this session (the connection is in autocommit)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET synchronous_commit TO OFF")
    finally:
        cursor.close()
    dbapi_connection.commit()  # psycopg2 opened a transaction; the setting outlives it
