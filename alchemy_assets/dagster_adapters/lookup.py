"""Batched look-ups of what the Dagster instance already holds for many partitions at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import dagster as dg

from alchemy_assets.dagster_adapters.dagster_internals import latest_materialization_tags
from alchemy_assets.delivery import Delivery, not_data_kind

# SQLite allows 32,766 bound variables per statement; stay well below it.
CHUNK = 5_000
RECORDS_CHUNK = 500
# The data version Dagster indexes per partition; ours is the sampled delivery
# (Delivery.version: the repr of the mtime, then the size and checksum where known).
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


@dataclass(frozen=True)
class Sampled:
    """What the latest sample of each partition holds: its delivery, and for those recorded
    as not data, the file's kind."""

    deliveries: dict[str, Delivery]
    not_data: dict[str, str]


def latest_sampled(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Sequence[str]
) -> Sampled:
    """The delivery (mtime, size, checksum) the latest materialization of each partition in
    ``keys`` holds, for those that have one recorded by a run, and which of them recorded
    their file as not data.

    One indexed query per 5,000 keys reads the data version tag (the delivery's version; its
    mtime equal to the metadata ``mtime``) and the run id, without loading any event. A
    materialization reported without a run (anyone who reaches the webserver can report one,
    with any data version) is not a sample: its partition counts as not sampled. Partitions
    without a usable tag fall back to their latest materialization's ``mtime`` metadata, read
    in batches (mtime only).
    """
    found: dict[str, Delivery] = {}
    not_data: dict[str, str] = {}
    rest: list[str] = []
    for chunk in chunks(keys):
        latest = latest_materialization_tags(instance, asset_key, chunk, DATA_VERSION_TAG)
        for key in chunk:
            run_id, version = latest.get(key, ("", None))
            if not run_id:
                continue
            try:
                found[key] = Delivery.parse(version)  # type: ignore[arg-type]  # None: raises
            except (AttributeError, ValueError):
                rest.append(key)
                continue
            kind = not_data_kind(version)  # type: ignore[arg-type]  # parsed: a str
            if kind:
                not_data[key] = kind
    if rest:
        found.update(_mtimes_from_metadata(instance, asset_key, rest))
    return Sampled(found, not_data)


def latest_sampled_deliveries(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Sequence[str]
) -> dict[str, Delivery]:
    """The deliveries of :func:`latest_sampled`."""
    return latest_sampled(instance, asset_key, keys).deliveries


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
) -> dict[str, Delivery]:
    found: dict[str, Delivery] = {}
    for key, record in latest_records(instance, asset_key, keys).items():
        if not record.run_id:
            continue
        event = record.asset_materialization
        mtime = recorded_mtime(event.metadata.get("mtime")) if event is not None else None
        if mtime is not None:
            found[key] = Delivery(mtime)
    return found
