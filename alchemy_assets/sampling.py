"""Take the first N rows of a bronze file and write them, in the file's own format, as its sample.

Only what the first N rows need is read: text formats (CSV, TSV, JSON Lines, and their
gzip-compressed forms) are read as a growing byte prefix that polars parses until it yields
N complete rows; Parquet is read through pyarrow without pre-buffering, so only the footer
and the first pages are fetched. Time and memory do not grow with the size of the file.
The sample is written to a temp file beside its target and renamed into place.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from alchemy_assets.file_formats import FileFormat, Kind, detect_format

DEFAULT_ROWS = 100
MAX_PREFIX_BYTES = 64 * 1024 * 1024
_FIRST_PREFIX = 64 * 1024


class SampleError(Exception):
    """A sample could not be taken; the message names the file and says why."""


@dataclass(frozen=True)
class Sample:
    """The first rows of a file: typed for display, plus what it cost to read them."""

    frame: pl.DataFrame
    bytes_read: int

    @property
    def schema(self) -> list[tuple[str, str]]:
        """Column names and polars type names, in order."""
        return [(name, str(dtype)) for name, dtype in self.frame.schema.items()]


class _ByteSource(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _CountingReader(io.RawIOBase):
    """A read-only file that counts the bytes handed out (seeks are allowed)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)


def _open_regular(path: Path) -> IO[bytes]:
    # O_NONBLOCK: opening a FIFO planted in bronze must not hang the run.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SampleError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def read_sample(
    path: Path,
    rows: int = DEFAULT_ROWS,
    *,
    max_prefix_bytes: int = MAX_PREFIX_BYTES,
    expect_mtime: float | None = None,
) -> tuple[Sample, bytes]:
    """Read the first ``rows`` rows of ``path``; return them and the sample file's bytes.

    With ``expect_mtime``, the opened file must carry that mtime before and after reading,
    so a file rewritten in between is never sampled.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    fmt = detect_format(str(path))
    try:
        with _open_regular(path) as raw:
            _check_mtime(raw, path, expect_mtime)
            result = _read_open(raw, fmt, rows, max_prefix_bytes, path)
            _check_mtime(raw, path, expect_mtime)
            return result
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise SampleError(f"{path}: cannot read: {err}") from err


def _check_mtime(raw: IO[bytes], path: Path, expect_mtime: float | None) -> None:
    if expect_mtime is None:
        return
    actual = os.fstat(raw.fileno()).st_mtime
    if actual != expect_mtime:
        raise SampleError(
            f"{path}: mtime {actual!r} differs from the expected {expect_mtime!r} "
            "(rewritten after ingest, or while being sampled)"
        )


def _read_open(
    raw: IO[bytes], fmt: FileFormat, rows: int, max_prefix_bytes: int, path: Path
) -> tuple[Sample, bytes]:
    counter = _CountingReader(raw)
    if fmt.kind is Kind.PARQUET:
        return _parquet_sample(counter, rows, path)
    with contextlib.ExitStack() as stack:
        stream: _ByteSource = counter
        if fmt.gzip:
            buffered = io.BufferedReader(counter)
            stream = stack.enter_context(gzip.GzipFile(fileobj=buffered, mode="rb"))
        data, complete = _prefix(stream, fmt, rows, max_prefix_bytes, path)
    sample, content = _text_sample(data, complete, fmt, rows, path)
    return Sample(sample.frame, counter.bytes_read), content


def _prefix(
    stream: _ByteSource, fmt: FileFormat, rows: int, max_bytes: int, path: Path
) -> tuple[bytes, bool]:
    """The shortest byte prefix holding ``rows`` complete rows (or the whole stream).

    Returns the prefix cut after its last ``\\n`` and whether the stream ended in it.
    """
    buf = bytearray()
    want = _FIRST_PREFIX
    while True:
        while len(buf) < want:
            chunk = stream.read(want - len(buf))
            if not chunk:
                return bytes(buf), True
            buf += chunk
        cut = bytes(buf[: buf.rfind(b"\n") + 1])
        if cut and _enough_rows(cut, fmt, rows):
            return cut, False
        if want >= max_bytes:
            raise SampleError(
                f"{path}: no {rows} complete rows in the first {max_bytes} bytes "
                "(an unterminated quote, or lines longer than that)"
            )
        want = min(want * 4, max_bytes)


def _enough_rows(data: bytes, fmt: FileFormat, rows: int) -> bool:
    if fmt.kind is Kind.JSONL:
        return sum(1 for line in data.split(b"\n") if line.strip()) >= rows
    try:
        frame = pl.read_csv(
            data, separator=fmt.separator, n_rows=rows + 1, infer_schema=False, quote_char='"'
        )
    except pl.exceptions.PolarsError:
        return False  # a cut inside a quoted field: read more
    return frame.height > rows


def _text_sample(
    data: bytes, complete: bool, fmt: FileFormat, rows: int, path: Path
) -> tuple[Sample, bytes]:
    try:
        if fmt.kind is Kind.JSONL:
            lines = [line for line in data.split(b"\n") if line.strip()][:rows]
            content = b"".join(line + b"\n" for line in lines)
            frame = pl.read_ndjson(content) if lines else pl.DataFrame()
        else:
            if not data.strip():
                frame, content = pl.DataFrame(), b""
            else:
                # Strings keep every value as written ("007" stays "007") in the sample file;
                # the typed frame is for the schema and the preview.
                as_text = pl.read_csv(
                    data, separator=fmt.separator, n_rows=rows, infer_schema=False
                )
                frame = pl.read_csv(
                    data, separator=fmt.separator, n_rows=rows, infer_schema_length=rows
                )
                content = as_text.write_csv(separator=fmt.separator).encode()
    except pl.exceptions.PolarsError as err:
        raise SampleError(f"{path}: cannot parse as {fmt.kind.value}: {err}") from err
    if not complete and frame.height < rows:
        raise SampleError(f"{path}: found {frame.height} rows where {rows} were expected")
    if fmt.gzip:
        content = gzip.compress(content, mtime=0)
    return Sample(frame, 0), content


def _parquet_sample(counter: _CountingReader, rows: int, path: Path) -> tuple[Sample, bytes]:
    try:
        parquet = pq.ParquetFile(counter, pre_buffer=False, buffer_size=64 * 1024)
        batch = next(parquet.iter_batches(batch_size=rows, use_threads=False), None)
        table = (
            pa.Table.from_batches([batch])
            if batch is not None
            else parquet.schema_arrow.empty_table()
        )
    except (pa.ArrowException, OSError) as err:
        raise SampleError(f"{path}: cannot read as parquet: {err}") from err
    table = table.slice(0, rows)
    out = pa.BufferOutputStream()
    pq.write_table(table, out)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return Sample(frame, counter.bytes_read), out.getvalue().to_pybytes()


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
