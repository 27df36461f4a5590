"""The compressions a text file may come in: gzip, bzip2, xz and zstd.

Each is recognised by its magic bytes (the name's suffix only says what is inside), read
through a decompressing stream only as far as the sample needs (the decompressed bytes are
capped by the sampler, the compressed bytes read with them), and put around the sample again
so the sample is in the file's own format. A stream that ends before its end-of-stream marker
(a truncated file) fails with a clear error when the cut lies within what the sample reads,
even if whole records came before it: a file cut short is a broken delivery, and a sample of
it would pass for a good one. A cut further on is not seen, as nothing past the sample is read.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

if sys.version_info >= (3, 14):
    from compression import zstd as zstd
else:
    from backports import zstd as zstd


class _Stream(Protocol):
    """A decompressing file object, read front to back."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class CompressionError(ValueError):
    """A compressed stream that cannot be read: truncated, corrupt, or hostile."""


@dataclass(frozen=True)
class Compression:
    """One compression: its name, file suffix, how its streams start, how to open a
    decompressing stream over a file object, and how to compress a sample."""

    name: str
    suffix: str
    magic: re.Pattern[bytes]
    opener: Callable[[IO[bytes]], _Stream]
    compress: Callable[[bytes], bytes]

    def recognise(self, head: bytes) -> bool:
        """Whether ``head`` (a file's first bytes) starts a stream of this compression."""
        return self.magic.match(head) is not None

    def open(self, source: io.RawIOBase, *, max_input: int) -> io.RawIOBase:
        """The decompressed bytes of ``source``, read on demand; at most ``max_input``
        compressed bytes are read (a stream that yields little or nothing for its input
        cannot make the sampler read the whole file)."""
        capped = io.BufferedReader(_Capped(source, max_input, self.name))
        return _Decompressing(self.name, self.opener(capped))


def _gzip_open(raw: IO[bytes]) -> _Stream:
    return gzip.GzipFile(fileobj=raw, mode="rb")


def _bz2_open(raw: IO[bytes]) -> _Stream:
    return bz2.BZ2File(raw, mode="rb")


def _xz_open(raw: IO[bytes]) -> _Stream:
    return lzma.LZMAFile(raw, mode="rb", format=lzma.FORMAT_XZ)


def _zstd_open(raw: IO[bytes]) -> _Stream:
    return zstd.ZstdFile(raw, mode="rb")


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)  # no timestamp: the same sample, the same bytes


def _xz(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ)


def _zstd(data: bytes) -> bytes:
    return zstd.compress(data)


# In the order they are tried; no magic is a prefix of another.
COMPRESSIONS = (
    Compression("gzip", ".gz", re.compile(rb"\x1f\x8b"), _gzip_open, _gzip),
    # "BZh" is text: the block size digit and the first block's (or the end-of-stream) magic
    # that follow make it bzip2 and not a text file that starts so.
    Compression(
        "bz2",
        ".bz2",
        re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)"),
        _bz2_open,
        bz2.compress,
    ),
    Compression("xz", ".xz", re.compile(rb"\xfd7zXZ\x00"), _xz_open, _xz),
    Compression("zstd", ".zst", re.compile(rb"\x28\xb5\x2f\xfd"), _zstd_open, _zstd),
)


def compression_of(head: bytes) -> Compression | None:
    """The compression whose stream ``head`` starts, if any."""
    return next((c for c in COMPRESSIONS if c.recognise(head)), None)


class _Capped(io.RawIOBase):
    """A read-only view of ``inner`` that refuses to hand out more than ``cap`` bytes."""

    def __init__(self, inner: io.RawIOBase, cap: int, name: str) -> None:
        self.inner, self.cap, self.name, self.given = inner, cap, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.given >= self.cap:
            raise CompressionError(
                f"cannot read: {self.given} bytes of {self.name} data read and the sample's "
                "records have not ended (the stream yields too little for its size)"
            )
        view = memoryview(buffer)[: self.cap - self.given]
        count = self.inner.readinto(view) or 0
        self.given += count
        return count


class _Decompressing(io.RawIOBase):
    """The decompressed stream, with the libraries' errors in our words."""

    def __init__(self, name: str, inner: _Stream) -> None:
        self.name, self.inner, self.out = name, inner, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.inner.read(len(buffer))
        except EOFError as err:
            raise CompressionError(
                f"cannot read: the {self.name} stream ends before its end-of-stream marker, "
                f"after {self.out} decompressed bytes (the file is cut short); a truncated "
                "file is not sampled"
            ) from err
        except (OSError, zlib.error, lzma.LZMAError, zstd.ZstdError) as err:
            raise CompressionError(
                f"cannot read: corrupt {self.name} data after {self.out} decompressed bytes: {err}"
            ) from err
        buffer[: len(data)] = data
        self.out += len(data)
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()
