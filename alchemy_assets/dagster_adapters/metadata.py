"""The asset events recorded for one sampled file: its bronze copy and its sample."""

from __future__ import annotations

import dagster as dg

from alchemy_assets.dagster_adapters.lookup import DATA_VERSION_TAG
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.preview import markdown_table
from alchemy_assets.stage_file import StagedFile
from alchemy_assets.staging import DueFile


def _version(due: DueFile) -> dict[str, str]:
    return {DATA_VERSION_TAG: due.delivery.version()}


def mtime_metadata(mtime: float) -> dg.TimestampMetadataValue:
    """The manifest mtime, shown as a date and time; its ``value`` is the exact float."""
    return dg.MetadataValue.timestamp(mtime)


def bronze_event(spec: DatasetSpec, staged: StagedFile) -> dg.AssetMaterialization:
    """The bronze partition: path, mtime and size of the immutable copy that was sampled."""
    due = staged.due
    return dg.AssetMaterialization(
        asset_key=spec.bronze_key,
        partition=due.key,
        description=f"bronze copy of {due.raw}",
        metadata={
            "path": dg.MetadataValue.path(str(staged.bronze_path)),
            "bronze": due.bronze,
            "raw": due.raw,
            "mtime": mtime_metadata(due.mtime),
            "size": dg.MetadataValue.int(staged.bronze_size),
        },
        tags=_version(due),
    )


def sample_event(spec: DatasetSpec, staged: StagedFile) -> dg.AssetMaterialization:
    """The sample partition: the mtime it was taken at, where it is, and what it holds."""
    due, sample = staged.due, staged.sample
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=dtype) for name, dtype in sample.schema]
    )
    odd = f"; odd: {', '.join(sample.notes)}" if sample.notes else ""
    return dg.AssetMaterialization(
        asset_key=spec.sample_key,
        partition=due.key,
        description=f"first {sample.rows} records of {due.raw}{odd}",
        metadata={
            "mtime": mtime_metadata(due.mtime),
            "reason": due.reason,
            "raw": due.raw,
            "bronze": due.bronze,
            "bronze_size": dg.MetadataValue.int(staged.bronze_size),
            "sample": staged.sample_relpath,
            "sample_path": dg.MetadataValue.path(str(staged.sample_path)),
            "dagster/row_count": dg.MetadataValue.int(sample.rows),
            "dagster/column_schema": dg.MetadataValue.table_schema(schema),
            "preview": dg.MetadataValue.md(
                markdown_table([name for name, _ in sample.schema], sample.contents.head)
            ),
            "bytes_read": dg.MetadataValue.int(sample.bytes_read),
            # The content checksum of the delivery, where its manifest line records one.
            **({"sha256": dg.MetadataValue.text(due.sha256)} if due.sha256 else {}),
            # What is odd about the kept records, by topic (encoding, ragged, header, ...).
            **{topic: dg.MetadataValue.text(note) for topic, note in sample.notes.items()},
        },
        tags=_version(due),
    )
