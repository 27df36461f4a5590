"""The asset events recorded for one sampled file: its bronze copy and its sample.

Every event's metadata stays within :data:`~alchemy_assets.metadata_bounds.MAX_EVENT_METADATA`
serialized bytes (:func:`bounded`): a sample lists at most the first 1,000 columns of its
schema (fewer when their names are long) and counts them all in ``columns``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import dagster as dg

from alchemy_assets.dagster_adapters.dagster_internals import serialized_size
from alchemy_assets.dagster_adapters.lookup import DATA_VERSION_TAG
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.delivery import not_data_version
from alchemy_assets.formats.base import JSON
from alchemy_assets.metadata_bounds import (
    MAX_EVENT_METADATA,
    MAX_SCHEMA_COLUMNS,
    MAX_TEXT_CHARS,
    cut_text,
)
from alchemy_assets.preview import markdown_table
from alchemy_assets.schema_drift import SchemaRecord
from alchemy_assets.stage_file import StagedFile
from alchemy_assets.staging import DueFile

COLUMN_SCHEMA = "dagster/column_schema"
COLUMNS = "columns"
COLUMN_SCHEMA_DIGEST = "column_schema_digest"
COLUMN_SCHEMA_NOTE = "column_schema_note"


# A partition whose file is not data: the metadata entry saying why (its data version says
# so too, see delivery.not_data_version).
NOT_SAMPLED = "not_sampled"


def _version(due: DueFile) -> dict[str, str]:
    return {DATA_VERSION_TAG: due.delivery.version()}


def mtime_metadata(mtime: float) -> dg.TimestampMetadataValue:
    """The manifest mtime, shown as a date and time; its ``value`` is the exact float."""
    return dg.MetadataValue.timestamp(mtime)


def entry_size(key: str, value: dg.MetadataValue) -> int:
    """The serialized bytes one metadata entry takes in a stored event."""
    return len(json.dumps(key)) + serialized_size(value) + 4  # ": " and ", "


def bounded(
    metadata: Mapping[str, dg.MetadataValue], limit: int = MAX_EVENT_METADATA
) -> dict[str, dg.MetadataValue]:
    """``metadata``, with its largest entries replaced by a line saying how big they were
    while all of it takes more than ``limit`` serialized bytes: a last resort, as each entry
    is bounded where it is made."""
    kept = dict(metadata)
    sizes = {key: entry_size(key, value) for key, value in kept.items()}
    while sum(sizes.values()) > limit and sizes:
        key = max(sizes, key=lambda k: sizes[k])
        kept[key] = dg.MetadataValue.text(
            f"left out: {sizes[key]:,} bytes, more than the {limit // 1024} KiB an event's "
            "metadata may hold"
        )
        sizes[key] = entry_size(key, kept[key])
    return kept


def bronze_event(spec: DatasetSpec, staged: StagedFile) -> dg.AssetMaterialization:
    """The bronze partition: path, mtime and size of the immutable copy that was sampled."""
    due = staged.due
    return dg.AssetMaterialization(
        asset_key=spec.bronze_key,
        partition=due.key,
        description=f"bronze copy of {due.raw}",
        metadata=bounded(
            {
                "path": dg.MetadataValue.path(str(staged.bronze_path)),
                "bronze": dg.MetadataValue.text(due.bronze),
                "raw": dg.MetadataValue.text(due.raw),
                "mtime": mtime_metadata(due.mtime),
                "size": dg.MetadataValue.int(staged.bronze_size),
            }
        ),
        tags=_version(due),
    )


def column_schema(record: SchemaRecord, budget: int) -> dict[str, dg.MetadataValue]:
    """The schema entries of a sample in ``budget`` serialized bytes: ``dagster/column_schema``
    with the first of ``record.shown`` (at most :data:`MAX_SCHEMA_COLUMNS`) that fit,
    ``columns`` (all of them), ``column_schema_digest`` and, when not all are listed,
    ``column_schema_note`` saying how many are."""
    entries: dict[str, dg.MetadataValue] = {
        COLUMNS: dg.MetadataValue.int(record.columns),
        COLUMN_SCHEMA_DIGEST: dg.MetadataValue.text(record.digest),
        # Room for the longest note it may need.
        COLUMN_SCHEMA_NOTE: _schema_note(record.columns, record.columns),
    }
    columns = [dg.TableColumn(name=name, type=dtype) for name, dtype in record.shown]
    room = budget - sum(entry_size(k, v) for k, v in entries.items())
    room -= entry_size(COLUMN_SCHEMA, dg.MetadataValue.table_schema(dg.TableSchema(columns=[])))
    shown = 0
    for column in columns[:MAX_SCHEMA_COLUMNS]:
        room -= serialized_size(column) + 2
        if room < 0:
            break
        shown += 1
    schema = dg.MetadataValue.table_schema(dg.TableSchema(columns=columns[:shown]))
    if shown == record.columns:
        del entries[COLUMN_SCHEMA_NOTE]
    else:
        entries[COLUMN_SCHEMA_NOTE] = _schema_note(shown, record.columns)
    return {COLUMN_SCHEMA: schema, **entries}


def _schema_note(shown: int, columns: int) -> dg.TextMetadataValue:
    return dg.MetadataValue.text(
        f"first {shown:,} of {columns:,} columns; all are compared by column_schema_digest"
    )


def _json(value: JSON) -> dg.MetadataValue:
    """A format's own metadata entry: JSON where it is an object or a list, else text."""
    if isinstance(value, dict | list):
        return dg.MetadataValue.json(value)
    return dg.MetadataValue.text("" if value is None else str(value))


def _delivery_entries(staged: StagedFile) -> dict[str, dg.MetadataValue]:
    """What every sample partition's event says of the delivery it was taken from."""
    due = staged.due
    return {
        "mtime": mtime_metadata(due.mtime),
        "reason": dg.MetadataValue.text(cut_text(due.reason)),
        "raw": dg.MetadataValue.text(due.raw),
        "bronze": dg.MetadataValue.text(due.bronze),
        "bronze_size": dg.MetadataValue.int(staged.bronze_size),
    }


def not_sampled_event(spec: DatasetSpec, staged: StagedFile) -> dg.AssetMaterialization:
    """The sample partition of a file that is not data (a PDF, an image, a README): recorded
    as not sampled, with what it looks like, its size and first bytes; no sample exists."""
    due, err = staged.due, staged.not_data
    assert err is not None
    metadata: dict[str, dg.MetadataValue] = {
        **_delivery_entries(staged),
        NOT_SAMPLED: dg.MetadataValue.text(cut_text(err.reason)),
        "kind": dg.MetadataValue.text(err.kind),
        "first_bytes": dg.MetadataValue.text(repr(err.first_bytes)),
    }
    return dg.AssetMaterialization(
        asset_key=spec.sample_key,
        partition=due.key,
        description=cut_text(f"not sampled: {due.raw} is not data: {err.reason}"),
        metadata=bounded(metadata),
        tags={DATA_VERSION_TAG: not_data_version(due.delivery, err.kind)},
    )


def sample_event(spec: DatasetSpec, staged: StagedFile) -> dg.AssetMaterialization:
    """The sample partition: the mtime it was taken at, where it is, and what it holds."""
    due, sample = staged.due, staged.sample
    # What is odd about the kept records, by topic (encoding, ragged, header, ...).
    notes = {topic: cut_text(note) for topic, note in sample.notes.items()}
    odd = f"; odd: {', '.join(notes)}" if notes else ""
    before: dict[str, dg.MetadataValue] = {
        **_delivery_entries(staged),
        "sample": dg.MetadataValue.text(staged.sample_relpath),
        "sample_path": dg.MetadataValue.path(str(staged.sample_path)),
        "dagster/row_count": dg.MetadataValue.int(sample.rows),
    }
    after: dict[str, dg.MetadataValue] = {
        "preview": dg.MetadataValue.md(
            markdown_table([name for name, _ in sample.schema], sample.contents.head)
        ),
        "bytes_read": dg.MetadataValue.int(sample.bytes_read),
        # What the file is: its kind and compression, and what only some formats have (a
        # delimited file's dialect, as JSON, to read the sample the same way).
        "kind": dg.MetadataValue.text(sample.kind),
        **(
            {"compression": dg.MetadataValue.text(sample.compression)} if sample.compression else {}
        ),
        **{key: _json(value) for key, value in sample.contents.metadata.items()},
        # The content checksum of the delivery, where its manifest line records one.
        **({"sha256": dg.MetadataValue.text(due.sha256)} if due.sha256 else {}),
        **{topic: dg.MetadataValue.text(note) for topic, note in notes.items()},
    }
    record = SchemaRecord.of(tuple(sample.schema), MAX_SCHEMA_COLUMNS)
    used = sum(entry_size(k, v) for k, v in (*before.items(), *after.items()))
    schema = column_schema(record, MAX_EVENT_METADATA - used)
    return dg.AssetMaterialization(
        asset_key=spec.sample_key,
        partition=due.key,
        description=cut_text(f"first {sample.rows} records of {due.raw}{odd}", 2 * MAX_TEXT_CHARS),
        metadata=bounded({**before, **schema, **after}),
        tags=_version(due),
    )
