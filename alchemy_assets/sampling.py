"""Take the first N records of a bronze file and write them, in its own format, as its sample.

The orchestrator of :mod:`alchemy_assets.formats`: it opens the file, counts the bytes read,
peeks at its first bytes, asks the registry which format it is in (content first, then the
name), opens the decompressing stream of a compressed file, and hands the rest to that
format's reader (see each module for what its sample is). A file that is not data (a PDF, an
image, a format no reader here takes) raises :class:`NotDataError`; any other failure is a
:class:`SampleError` naming the file. The mtime is checked before and after reading, and the
sample is written to a temp file beside its target and renamed into place.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from alchemy_assets import confined
from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats import registry
from alchemy_assets.formats.base import JSON, Contents, NoReaderError, Options
from alchemy_assets.formats.records import read_up_to
from alchemy_assets.sample_errors import FIRST_BYTES, REWRITTEN, classify
from alchemy_assets.sample_errors import NotDataError as NotDataError  # callers catch these
from alchemy_assets.sample_errors import RefusedError as RefusedError
from alchemy_assets.sample_errors import SampleError as SampleError

DEFAULT_ROWS = 100
MAX_PREFIX_BYTES = 64 * 1024 * 1024
# The first bytes every file's format is judged from (magic bytes, NUL bytes).
HEAD_BYTES = registry.HEAD_BYTES


@dataclass(frozen=True)
class Sample:
    """What a sample holds (see :class:`Contents`) and how many bytes of the file were read."""

    contents: Contents
    bytes_read: int
    kind: str = ""
    compression: str | None = None

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

    @property
    def metadata(self) -> dict[str, JSON]:
        """Entries only some formats have (``dialect`` for delimited text), as JSON."""
        return self.contents.metadata


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
    format_options: FormatOptions | None = None,
) -> tuple[Sample, bytes]:
    """Read the first ``rows`` records of ``path``; return what they hold and the sample's bytes.

    With ``expect_mtime``, the opened file must carry that mtime before and after reading,
    so a file rewritten in between is never sampled. ``format_options``: what is configured
    for the file's pattern; each key set beats what is detected. Any failure, whatever
    raised it, is a :class:`SampleError` naming the file; a :class:`RefusedError` if it would
    be the same on any attempt (:func:`~alchemy_assets.sample_errors.classify`), a
    :class:`NotDataError` if the file is not data a reader here takes.
    """
    with _open_regular(path) as raw:
        return sample_open_file(
            raw,
            path,
            rows,
            max_prefix_bytes=max_prefix_bytes,
            expect_mtime=expect_mtime,
            format_options=format_options,
        )


def sample_open_file(
    raw: IO[bytes],
    path: Path | str,
    rows: int = DEFAULT_ROWS,
    *,
    max_prefix_bytes: int = MAX_PREFIX_BYTES,
    expect_mtime: float | None = None,
    format_options: FormatOptions | None = None,
) -> tuple[Sample, bytes]:
    """:func:`read_sample` of a file already open (``path`` names it: format and messages)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    _check_mtime(raw, path, expect_mtime)
    counter = _CountingReader(raw)
    kind = "file"
    try:
        head = read_up_to(counter, HEAD_BYTES)
        counter.seek(0)
        configured = format_options.format if format_options else None
        forced = registry.CONFIGURED_KINDS.get(configured) if configured else None
        found = registry.detect(head, str(path), kind=forced)
        if isinstance(found, registry.NotData):
            raise NotDataError(path, found.kind, found.reason, _size(raw), head[:FIRST_BYTES])
        kind = found.kind
        options = Options(extension=found.data_extension, configured=format_options)
        first = head[:FIRST_BYTES]
        result = _read_open(counter, raw, path, found, rows, max_prefix_bytes, options, first)
    except NotDataError:
        raise
    except BaseException as err:
        # A Rust extension's panic (pyo3's PanicException) is a BaseException; it is this
        # file's failure, not the process's. Interrupts and exits go on up.
        if not isinstance(err, Exception) and type(err).__name__ != "PanicException":
            raise
        raise classify(
            err, str(path), kind, read_failure=counter.failure, bytes_read=counter.bytes_read
        ) from err
    _check_mtime(raw, path, expect_mtime)
    return result


def _size(raw: IO[bytes]) -> int:
    try:
        return os.fstat(raw.fileno()).st_size
    except (OSError, io.UnsupportedOperation):
        return raw.seek(0, io.SEEK_END)


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
    counter: _CountingReader,
    raw: IO[bytes],
    path: Path | str,
    found: registry.Detected,
    rows: int,
    max_prefix_bytes: int,
    options: Options,
    first: bytes,
) -> tuple[Sample, bytes]:
    """The sample of a file in the ``found`` format, read through ``counter``; ``first``:
    its first bytes, for the record of a file that turns out not to be data."""
    try:
        taken = registry.sample_detected(
            found, counter, rows, max_bytes=max_prefix_bytes, options=options
        )
    except registry.NotDataInsideError as err:
        inside = err.found
        raise NotDataError(path, inside.kind, inside.reason, _size(raw), first) from err
    except NoReaderError as err:
        raise NotDataError(path, found.kind, str(err), _size(raw), first) from err
    sample = Sample(taken.contents, counter.bytes_read, found.kind, found.compression)
    return sample, taken.data


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
    source: Path,
    target: Path,
    rows: int = DEFAULT_ROWS,
    *,
    expect_mtime: float | None = None,
    format_options: FormatOptions | None = None,
) -> Sample:
    """Write the first ``rows`` rows of ``source`` to ``target`` in the same format."""
    sample, content = read_sample(
        source, rows, expect_mtime=expect_mtime, format_options=format_options
    )
    write_atomically(target, content)
    return sample
