"""Parquet (``.parquet .pq``, magic ``PAR1``): exactly min(N, rows) rows, read from only
the row groups that hold them, without pre-buffering.

The sample is written with the file's Arrow schema and key-value metadata; its columns are
described with their Arrow types.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from alchemy_assets.file_formats import data_extension
from alchemy_assets.formats.base import (
    CERTAIN,
    HEAD_ROWS,
    NO,
    Contents,
    Options,
    Source,
    Taken,
    binary_after,
    display,
)

# An encrypted file's footer ends in PARE; it starts with it too.
MAGIC = (b"PAR1", b"PARE")


class ParquetReader:
    """Parquet: the first N rows, with the file's schema and key-value metadata."""

    kind = "parquet"
    extensions = (".parquet", ".pq")
    magic = MAGIC
    streams = False

    def recognise(self, head: bytes, name: str) -> float:
        if not head.startswith(MAGIC):
            return NO
        # PAR1 is text: a file not named Parquet must have binary data after it.
        named = data_extension(name)[0] in self.extensions
        return CERTAIN if named or binary_after(head, 4) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        table = parquet_head(source, rows)
        out = pa.BufferOutputStream()
        pq.write_table(table, out)
        return Taken(out.getvalue().to_pybytes(), describe_table(table))


def parquet_head(source: Source, rows: int) -> pa.Table:
    """The first ``rows`` rows of a Parquet file, from only the row groups that hold them."""
    parquet = pq.ParquetFile(source, pre_buffer=False, buffer_size=64 * 1024)
    schema = parquet.schema_arrow
    groups, total = [], 0
    for index in range(parquet.metadata.num_row_groups):
        if total >= rows:
            break
        groups.append(index)
        total += parquet.metadata.row_group(index).num_rows
    batches: list[pa.RecordBatch] = []
    taken = 0
    if groups:
        # Batches do not cross row groups (nor, for some encodings, pages): gather them.
        for batch in parquet.iter_batches(batch_size=rows, row_groups=groups, use_threads=False):
            batches.append(batch.slice(0, rows - taken))
            taken += batches[-1].num_rows
            if taken >= rows:
                break
    return pa.Table.from_batches(batches, schema=schema)


def describe_table(table: pa.Table) -> Contents:
    """A Parquet sample: its Arrow types, and its first rows as text."""
    notes: dict[str, str] = {}
    head_table = table.slice(0, HEAD_ROWS)
    cells: list[list[str]] = []
    for field_, column in zip(table.schema, head_table.columns, strict=True):
        try:
            cells.append([display(v) for v in column.to_pylist()])
        except Exception as err:  # a type pyarrow cannot turn into Python values
            notes.setdefault("unshown", f"column {field_.name!r} ({field_.type}) not shown: {err}")
            cells.append(["?"] * head_table.num_rows)
    head = tuple(zip(*cells, strict=True)) if cells else ()
    columns = tuple((f.name, str(f.type)) for f in table.schema)
    return Contents(table.num_rows, columns, head, notes)
