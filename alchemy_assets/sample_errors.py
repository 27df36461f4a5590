"""Why a bronze file could not be sampled, and whether trying again can change that.

A bronze file is immutable once ingested, so whatever its bytes decide (a record over the
read cap, a UTF-16 header, a quote open to the end, a file no reader takes as its format)
comes out the same on every attempt: a :class:`RefusedError`. What lies outside the bytes
can change between attempts (a read that fails with an I/O error, a file not there yet on a
lagging shared filesystem, a lock, memory): a plain :class:`SampleError`. Readers raise what
they raise; :func:`classify` is the one place that sorts it.
"""

from __future__ import annotations

import lzma
import zlib
from pathlib import Path

import pyarrow as pa

from alchemy_assets.formats.compression import CompressionError
from alchemy_assets.formats.records import RecordError

# What makes a refusal the same on every attempt (RefusedError.because).
BYTES = "depends only on the bronze file's bytes"
REWRITTEN = "the bronze file is not the one ingested, and bronze is never rewritten back"
# What a not-data file's record keeps of its first bytes.
FIRST_BYTES = 64


class SampleError(Exception):
    """A sample could not be taken; the message names the file and says why. Raised as
    such, the cause lies outside the file's bytes (an I/O error, a missing file): another
    attempt may succeed."""


class RefusedError(SampleError):
    """The bronze file cannot be sampled, and would not be on any attempt: ``because`` says
    what decides it (its bytes, or that it differs from its manifest line)."""

    def __init__(self, message: str, because: str = BYTES) -> None:
        super().__init__(message)
        self.because = because


class NotDataError(RefusedError):
    """A file that is not data a reader here takes (a PDF, an image, a binary, a format with
    no reader yet): ``kind`` is what it looks like, ``reason`` why it is not sampled, with its
    ``size`` and ``first_bytes``. The same every time for the same bytes: not retried."""

    def __init__(
        self, path: Path | str, kind: str, reason: str, size: int, first_bytes: bytes
    ) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.kind, self.reason = str(path), kind, reason
        self.size, self.first_bytes = size, first_bytes


def what(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def classify(
    err: BaseException,
    path: str,
    kind: str,
    *,
    read_failure: OSError | None,
    bytes_read: int,
) -> SampleError:
    """The error to raise for ``err``, raised while a reader of format ``kind`` sampled
    ``path``: a refusal, unless the file's own reads failed (``read_failure``, whatever the
    reader made of it) or memory ran out. ``bytes_read``: of the file, before it failed.

    A reader's ``OSError`` is not I/O by its type: gzip's ``BadGzipFile`` and Parquet's
    "Couldn't deserialize thrift" are ``OSError`` too, yet are about the bytes; an I/O
    error shows as the failed read of the file itself, which only ``read_failure`` knows.
    """
    if read_failure is not None:
        return SampleError(f"{path}: cannot read after {bytes_read} bytes: {read_failure}")
    if isinstance(err, MemoryError):
        return SampleError(f"{path}: out of memory while reading: {what(err)}")
    if isinstance(err, RecordError | CompressionError):
        return RefusedError(f"{path}: {err}")
    if isinstance(err, pa.ArrowException):
        return RefusedError(f"{path}: cannot read as {kind}: {err}")
    if isinstance(err, OSError | EOFError | zlib.error | lzma.LZMAError):
        # Corrupt content a reader reports as I/O: gzip.BadGzipFile, Parquet's "Couldn't
        # deserialize thrift", a truncated or corrupt compressed stream.
        return RefusedError(f"{path}: cannot read as {kind}: {err}")
    if not isinstance(err, Exception):
        # A Rust extension's panic (pyo3's PanicException) is a BaseException.
        return RefusedError(f"{path}: reader crashed on it: {what(err)}")
    return RefusedError(f"{path}: cannot read as {kind}: {what(err)}")
