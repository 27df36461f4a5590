"""Every use of Dagster API that is not public: private modules (``dagster._…``) and instance
or storage methods outside Dagster's documented API. Pinned to the Dagster version below by
``alchemy_assets_tests/test_dagster_internals.py``: an upgrade that moves or changes one of
them fails that test first, with the name of what broke.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import dagster as dg
import sqlalchemy as db

# The pointer from a check result to the materialization it checked: not exported.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as CheckTarget,
)

# The instigator type that selects sensor states among schedule states: not exported.
from dagster._core.scheduler.instigation import InstigatorType

# The event log's tables and its latest-event-per-partition query (used by Dagster's own
# get_latest_tags_by_partition), to read the run id beside the tag in the same one query.
from dagster._core.storage.event_log.schema import AssetEventTagsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

# How Dagster serializes what it stores (events, their metadata): to measure it.
from dagster._serdes import serialize_value

# The Dagster version (major.minor) these were checked against.
PINNED_VERSION = "1.13"
# Dagster's run tags for a run over a partition range (dagster._core.storage.tags).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# Dagster's tag on every run a backfill launches, holding the backfill's id.
BACKFILL_TAG = "dagster/backfill"

__all__ = [
    "BACKFILL_TAG",
    "PINNED_VERSION",
    "RANGE_END_TAG",
    "RANGE_START_TAG",
    "CheckTarget",
    "code_location_name",
    "latest_materialization_tags",
    "read_kv_cursor",
    "sensor_states",
    "serialized_size",
    "write_kv_cursor",
]


def serialized_size(value: object) -> int:
    """The bytes ``value`` (an event, a metadata value) takes as Dagster stores it."""
    return len(serialize_value(cast(Any, value)))


def read_kv_cursor(instance: dg.DagsterInstance, key: str) -> str | None:
    """A value in the run storage's key-value table (where ``alchemy stage`` keeps cursors)."""
    return instance.run_storage.get_cursor_values({key}).get(key)


def write_kv_cursor(instance: dg.DagsterInstance, key: str, value: str) -> None:
    instance.run_storage.set_cursor_values({key: value})


def sensor_states(instance: dg.DagsterInstance) -> list[tuple[str, float, str | None]]:
    """(sensor name, last tick time or 0, stored cursor) of every sensor the daemon knows."""
    return [
        (
            state.instigator_name,
            getattr(state.instigator_data, "last_tick_timestamp", None) or 0.0,
            getattr(state.instigator_data, "cursor", None),
        )
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    ]


def latest_materialization_tags(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: Sequence[str], tag: str
) -> dict[str, tuple[str, str | None]]:
    """Per partition in ``partitions`` that has a materialization: the run id of its latest
    one (``""`` when it was reported without a run, e.g. through the webserver's
    ``report_asset_materialization``) and the value of ``tag`` on it, in one indexed query:
    Dagster's ``get_latest_tags_by_partition`` with the run id beside the tag."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        raise TypeError(f"{type(storage).__name__} is not one of Dagster's SQL event logs")
    latest = storage._latest_event_ids_by_partition_subquery(
        asset_key, [dg.DagsterEventType.ASSET_MATERIALIZATION], asset_partitions=list(partitions)
    )
    events, tags = SqlEventLogStorageTable, AssetEventTagsTable
    query = db.select(latest.c.partition, events.c.run_id, tags.c.value).select_from(
        latest.join(events, events.c.id == latest.c.id).outerjoin(
            tags, db.and_(tags.c.event_id == latest.c.id, tags.c.key == tag)
        )
    )
    with storage.index_connection() as conn:
        rows = conn.execute(query).fetchall()
    return {row[0]: (row[1] or "", row[2]) for row in rows}


def code_location_name(context: dg.SensorEvaluationContext) -> str | None:
    """The name of the code location evaluating the sensor, as the daemon (or webserver) that
    asked for the evaluation knows it; None outside a code location (a test's context).
    ``SensorEvaluationContext.code_location_origin`` is not marked public."""
    origin = context.code_location_origin
    return origin.location_name if origin is not None else None
