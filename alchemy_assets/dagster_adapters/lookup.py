"""Batched look-ups of what the Dagster instance already holds for many partitions at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import dagster as dg

# SQLite allows 32,766 bound variables per statement; stay well below it.
CHUNK = 5_000
RECORDS_CHUNK = 500
# The data version Dagster indexes per partition; ours is the sampled mtime (repr of a float).
DATA_VERSION_TAG = "dagster/data_version"
_MATERIALIZATION = dg.DagsterEventType.ASSET_MATERIALIZATION

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def recorded_mtime(value: dg.MetadataValue | None) -> float | None:
    """The exact mtime a materialization recorded: a timestamp entry, or a float one (written
    before mtimes were timestamps)."""
    if isinstance(value, dg.TimestampMetadataValue | dg.FloatMetadataValue):
        return value.value
    return None


def latest_sampled_mtimes(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Sequence[str]
) -> dict[str, float]:
    """The ``mtime`` of the latest materialization of each partition in ``keys`` that has one.

    One indexed query per 5,000 keys reads the data version tag (written equal to the
    metadata ``mtime``) without loading any event. Partitions without a usable tag fall back
    to their latest materialization's ``mtime`` metadata, read in batches.
    """
    found: dict[str, float] = {}
    rest: list[str] = []
    storage = instance.event_log_storage
    for chunk in chunks(keys):
        tags = storage.get_latest_tags_by_partition(
            asset_key, _MATERIALIZATION, [DATA_VERSION_TAG], asset_partitions=list(chunk)
        )
        for key in chunk:
            try:
                found[key] = float(tags[key][DATA_VERSION_TAG])
            except (KeyError, ValueError):
                rest.append(key)
    if rest:
        found.update(_mtimes_from_metadata(instance, asset_key, rest))
    return found


def latest_records(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Sequence[str]
) -> dict[str, dg.EventLogRecord]:
    """The latest materialization record of each partition in ``keys`` that has one: storage
    ids by partition (one indexed query per 5,000 keys), then the records in batches."""
    ids: list[int] = []
    for chunk in chunks(keys):
        latest = instance.get_latest_storage_id_by_partition(
            asset_key, _MATERIALIZATION, partitions=set(chunk)
        )
        ids.extend(latest.values())
    found: dict[str, dg.EventLogRecord] = {}
    for id_chunk in chunks(ids, RECORDS_CHUNK):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=list(id_chunk)),
            limit=len(id_chunk),
        ).records
        for record in records:
            if record.partition_key is not None:
                found[record.partition_key] = record
    return found


def _mtimes_from_metadata(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Sequence[str]
) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, record in latest_records(instance, asset_key, keys).items():
        event = record.asset_materialization
        mtime = recorded_mtime(event.metadata.get("mtime")) if event is not None else None
        if mtime is not None:
            found[key] = mtime
    return found
