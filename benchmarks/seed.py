"""Bulk set-up for benchmarks: sample materializations written in one transaction.

Recording 5 * 10^5 samples through the public API costs ~25 ms each here (hours); the rows are
written instead with Dagster's own statements (``prepare_insert_event`` and the index writes
``store_event`` does for asset events) inside one transaction on the index shard. Benchmarks
check that the lookups then see them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as db
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import AssetEventTagsTable, SqlEventLogStorageTable

# Samples count only when a run recorded them (a runless report can be forged), so the seeded
# events carry a run id; no such run exists in the run storage.
SEED_RUN_ID = "00000000-0000-0000-0000-00000000seed"
SEED_JOB = "seeded_by_a_benchmark"


def seed_samples(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Sequence[str], mtime: float
) -> None:
    """Record a sample of ``mtime`` for every partition in ``keys``, as a run would."""
    storage = instance.event_log_storage
    now = time.time()
    entries = [_entry(asset_key, key, mtime, now) for key in keys]
    with storage.index_transaction() as conn:  # type: ignore[attr-defined]
        before = conn.execute(db.select(db.func.max(SqlEventLogStorageTable.c.id))).scalar() or 0
        rows = [storage._event_to_row(entry) for entry in entries]  # type: ignore[attr-defined]
        conn.execute(SqlEventLogStorageTable.insert(), rows)
        ids = range(before + 1, before + 1 + len(entries))  # SQLite assigns ids in order
        timestamp = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
        conn.execute(
            AssetEventTagsTable.insert(),
            [
                {
                    "event_id": event_id,
                    "asset_key": asset_key.to_string(),
                    "key": "dagster/data_version",
                    "value": repr(mtime),
                    "event_timestamp": timestamp,
                }
                for event_id in ids
            ],
        )
        storage._store_asset_event(conn, entries[-1], ids[-1])  # type: ignore[attr-defined]


def store_as_run(instance: dg.DagsterInstance, event: dg.AssetMaterialization) -> None:
    """Store ``event`` as a run's materialization (with a run id, where
    ``report_runless_asset_event`` records none): what a sample run would have recorded."""
    instance.event_log_storage.store_event(_as_run(event, time.time()))


def _entry(asset_key: dg.AssetKey, key: str, mtime: float, now: float) -> EventLogEntry:
    materialization = dg.AssetMaterialization(
        asset_key=asset_key,
        partition=key,
        metadata={"mtime": dg.MetadataValue.float(mtime)},
        tags={"dagster/data_version": repr(mtime)},
    )
    return _as_run(materialization, now)


def _as_run(materialization: dg.AssetMaterialization, now: float) -> EventLogEntry:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name=SEED_JOB,
        message="seeded by a benchmark",
        event_specific_data=StepMaterializationData(materialization),
    )
    return EventLogEntry(  # type: ignore[no-untyped-call]  # untyped in Dagster
        user_message="",
        level=logging.INFO,
        job_name=SEED_JOB,
        run_id=SEED_RUN_ID,
        error_info=None,
        timestamp=now,
        step_key=None,
        dagster_event=event,
    )
