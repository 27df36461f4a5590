"""The asset events recorded for one sampled file: its bronze copy and its sample."""

from __future__ import annotations

import dagster as dg
import polars as pl

from alchemy_assets.defs.lookup import DATA_VERSION_TAG
from alchemy_assets.defs.spec import DatasetSpec
from alchemy_assets.stage_file import StagedFile

PREVIEW_ROWS = 20


def preview_markdown(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """The first ``rows`` rows as a Markdown table (the types are in the column schema)."""
    if frame.width == 0:
        return "_no columns_"
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_rows=rows,
        tbl_cols=-1,
        fmt_str_lengths=60,
        tbl_width_chars=10_000,
    ):
        return str(_escaped(frame.head(rows)))


def _escaped(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells with ``|`` escaped and line breaks folded, so they stay inside their cell."""
    return frame.with_columns(
        pl.col(pl.String)
        .str.replace_all("|", "\\|", literal=True)
        .str.replace_all("\n", " ", literal=True)
    )


def _version(mtime: float) -> dict[str, str]:
    return {DATA_VERSION_TAG: repr(mtime)}


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
            "mtime": dg.MetadataValue.float(due.mtime),
            "size": dg.MetadataValue.int(staged.bronze_size),
        },
        tags=_version(due.mtime),
    )


def sample_event(spec: DatasetSpec, staged: StagedFile) -> dg.AssetMaterialization:
    """The sample partition: the mtime it was taken at, where it is, and what it holds."""
    due, sample = staged.due, staged.sample
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=dtype) for name, dtype in sample.schema]
    )
    return dg.AssetMaterialization(
        asset_key=spec.sample_key,
        partition=due.key,
        description=f"first {sample.frame.height} rows of {due.raw}",
        metadata={
            "mtime": dg.MetadataValue.float(due.mtime),
            "reason": due.reason,
            "raw": due.raw,
            "bronze": due.bronze,
            "bronze_size": dg.MetadataValue.int(staged.bronze_size),
            "sample": staged.sample_relpath,
            "sample_path": dg.MetadataValue.path(str(staged.sample_path)),
            "dagster/row_count": dg.MetadataValue.int(sample.frame.height),
            "dagster/column_schema": dg.MetadataValue.table_schema(schema),
            "preview": dg.MetadataValue.md(preview_markdown(sample.frame)),
            "bytes_read": dg.MetadataValue.int(sample.bytes_read),
        },
        tags=_version(due.mtime),
    )
