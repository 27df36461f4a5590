"""Take the first N records of a bronze file and write them, in its own format, as its sample.

Text formats (CSV, TSV, JSON Lines, and their gzip-compressed forms): the sample is the
file's own bytes from its start through the end of its N-th record (after the header), never
parsed and written back, so encodings, quoting and number formats are kept; only those bytes
(plus a read-ahead chunk) are read, at most ``max_prefix_bytes``. Parquet: exactly min(N, rows)
rows, read from the row groups that hold them without pre-buffering, written with the file's
Arrow schema and key-value metadata. What the sample holds (row count, columns and types,
first rows, oddities) is described from the kept records only. The sample is written to a
temp file beside its target and renamed into place.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from alchemy_assets import confined
from alchemy_assets.describe import (
    Contents,
    describe_delimited,
    describe_json_lines,
    describe_table,
)
from alchemy_assets.file_formats import FileFormat, Kind, detect_format
from alchemy_assets.records import ByteSource, find_records
from alchemy_assets.sample_errors import REWRITTEN, classify
from alchemy_assets.sample_errors import RefusedError as RefusedError  # callers catch these
from alchemy_assets.sample_errors import SampleError as SampleError

DEFAULT_ROWS = 100
MAX_PREFIX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Sample:
    """What a sample holds (see :class:`Contents`) and how many bytes of the file were read."""

    contents: Contents
    bytes_read: int

    @property
    def rows(self) -> int:
        return self.contents.rows

    @property
    def schema(self) -> list[tuple[str, str]]:
        """Column names and type names, in file order."""
        return list(self.contents.columns)

    @property
    def notes(self) -> dict[str, str]:
        return self.contents.notes


class _CountingReader(io.RawIOBase):
    """A read-only file that measures how much of it was read: the union of the byte ranges
    handed out, so a range read twice (Parquet footers) counts once. ``failure`` keeps the
    first error of the file's own reads: the reader may pass it on as something else."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.ranges: list[list[int]] = []
        self.failure: OSError | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _failed(self, err: OSError) -> OSError:
        if self.failure is None:
            self.failure = err
        return err

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return self.inner.seek(offset, whence)
        except OSError as err:
            raise self._failed(err) from None

    def tell(self) -> int:
        try:
            return self.inner.tell()
        except OSError as err:
            raise self._failed(err) from None

    def readinto(self, buffer: Any) -> int:
        start = self.tell()
        try:
            data = self.inner.read(len(buffer))
        except OSError as err:
            raise self._failed(err) from None
        buffer[: len(data)] = data
        if data:
            if self.ranges and self.ranges[-1][1] == start:
                self.ranges[-1][1] += len(data)
            else:
                self.ranges.append([start, start + len(data)])
        return len(data)

    @property
    def bytes_read(self) -> int:
        total, reach = 0, 0
        for start, end in sorted(self.ranges):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total


def _open_regular(path: Path) -> IO[bytes]:
    parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return confined.open_regular(parent, path.name, str(path))
    except confined.ConfinementError as err:
        raise SampleError(str(err)) from None
    finally:
        os.close(parent)


def read_sample(
    path: Path,
    rows: int = DEFAULT_ROWS,
    *,
    max_prefix_bytes: int = MAX_PREFIX_BYTES,
    expect_mtime: float | None = None,
) -> tuple[Sample, bytes]:
    """Read the first ``rows`` records of ``path``; return what they hold and the sample's bytes.

    With ``expect_mtime``, the opened file must carry that mtime before and after reading,
    so a file rewritten in between is never sampled. Any failure, whatever raised it, is a
    :class:`SampleError` naming the file; a :class:`RefusedError` if it would be the same on
    any attempt (:func:`~alchemy_assets.sample_errors.classify`).
    """
    detect_format(str(path))
    with _open_regular(path) as raw:
        return sample_open_file(
            raw, path, rows, max_prefix_bytes=max_prefix_bytes, expect_mtime=expect_mtime
        )


def sample_open_file(
    raw: IO[bytes],
    path: Path | str,
    rows: int = DEFAULT_ROWS,
    *,
    max_prefix_bytes: int = MAX_PREFIX_BYTES,
    expect_mtime: float | None = None,
) -> tuple[Sample, bytes]:
    """:func:`read_sample` of a file already open (``path`` names it: format and messages)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    fmt = detect_format(str(path))
    _check_mtime(raw, path, expect_mtime)
    counter = _CountingReader(raw)
    try:
        result = _read_open(counter, fmt, rows, max_prefix_bytes)
    except BaseException as err:
        # A Rust extension's panic (pyo3's PanicException) is a BaseException; it is this
        # file's failure, not the process's. Interrupts and exits go on up.
        if not isinstance(err, Exception) and type(err).__name__ != "PanicException":
            raise
        raise classify(
            err, str(path), fmt, read_failure=counter.failure, bytes_read=counter.bytes_read
        ) from err
    _check_mtime(raw, path, expect_mtime)
    return result


def _check_mtime(raw: IO[bytes], path: Path | str, expect_mtime: float | None) -> None:
    if expect_mtime is None:
        return
    actual = os.fstat(raw.fileno()).st_mtime
    if actual != expect_mtime:
        raise RefusedError(
            f"{path}: mtime {actual!r} differs from the manifest's {expect_mtime!r} "
            "(rewritten after ingest, or while being sampled)",
            REWRITTEN,
        )


def _read_open(
    counter: _CountingReader, fmt: FileFormat, rows: int, max_prefix_bytes: int
) -> tuple[Sample, bytes]:
    if fmt.kind is Kind.PARQUET:
        table = _parquet_head(counter, rows)
        out = pa.BufferOutputStream()
        pq.write_table(table, out)
        return Sample(describe_table(table), counter.bytes_read), out.getvalue().to_pybytes()
    with contextlib.ExitStack() as stack:
        stream: ByteSource = counter
        if fmt.gzip:
            buffered = io.BufferedReader(counter)
            stream = stack.enter_context(gzip.GzipFile(fileobj=buffered, mode="rb"))
        delimited = fmt.kind is not Kind.JSONL
        prefix = find_records(
            stream,
            rows + 1 if delimited else rows,
            fmt.separator if delimited else None,
            cap=max_prefix_bytes,
            at_least=2 if delimited else 1,
        )
    contents = (
        describe_delimited(prefix.data, fmt.separator)
        if delimited
        else describe_json_lines(prefix.data)
    )
    if prefix.cut_at_cap:
        contents.notes["cut"] = (
            f"only {contents.rows} of the first {rows} records end within the first "
            f"{max_prefix_bytes} bytes; the sample holds those"
        )
    content = gzip.compress(prefix.data, mtime=0) if fmt.gzip else prefix.data
    return Sample(contents, counter.bytes_read), content


def _parquet_head(source: io.RawIOBase, rows: int) -> pa.Table:
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


def write_atomically(target: Path, content: bytes) -> None:
    """Write ``content`` to ``target`` through a temp file in its folder and a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def take_sample(
    source: Path, target: Path, rows: int = DEFAULT_ROWS, *, expect_mtime: float | None = None
) -> Sample:
    """Write the first ``rows`` rows of ``source`` to ``target`` in the same format."""
    sample, content = read_sample(source, rows, expect_mtime=expect_mtime)
    write_atomically(target, content)
    return sample
