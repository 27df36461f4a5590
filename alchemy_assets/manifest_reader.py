"""Read the manifest lines added since a cursor, the way a careful file tailer does.

The cursor is a byte offset plus a fingerprint of the bytes before it (the file's head and
the 4 KiB just before the offset). If the file is now shorter than the offset, or those bytes
changed (truncation, rotation, replacement), reading starts over from 0 rather than skipping
lines: the staging side decides per line whether it is new, so re-reading loses nothing.
A line without its ``\\n`` is never consumed. Memory stays bounded: lines are read one at a
time with a length limit, and a line longer than that is skipped and reported, not loaded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from alchemy_assets.manifest_line import LineError, ManifestEntry, Rejection, parse_line

FINGERPRINT_BYTES = 4096
MAX_LINE_BYTES = 1024 * 1024
_SKIP_CHUNK = 1024 * 1024
# Up to this many bytes after the cursor, the complete lines left are counted exactly
# (a newline count, ~10 ms); a longer backlog is estimated from the mean line length.
COUNT_BACKLOG_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ManifestCursor:
    """Where reading stopped: ``offset`` bytes in, and a fingerprint of the bytes before it.

    For the segment log of a store (:mod:`alchemy_assets.manifest_log`), ``segment`` is the
    name of the last segment read and ``offset`` the bytes of it consumed: (segment, line).
    """

    offset: int = 0
    fingerprint: str = ""
    segment: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"offset": self.offset, "fingerprint": self.fingerprint}
        if self.segment:
            data["segment"] = self.segment
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestCursor:
        offset, fingerprint = data.get("offset"), data.get("fingerprint")
        segment = data.get("segment", "")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"cursor offset must be a non-negative integer, got {offset!r}")
        if not isinstance(fingerprint, str):
            raise ValueError(f"cursor fingerprint must be a string, got {fingerprint!r}")
        if not isinstance(segment, str):
            raise ValueError(f"cursor segment must be a string, got {segment!r}")
        return cls(offset, fingerprint, segment)


@dataclass
class ReadBatch:
    """The lines read in one call, and where the next call starts.

    ``restarted`` says why reading started over from 0 (``None`` if it did not);
    ``at_end`` is true when every complete line of the file was consumed.
    """

    entries: list[ManifestEntry] = field(default_factory=list)
    rejects: list[Rejection] = field(default_factory=list)
    cursor: ManifestCursor = field(default_factory=ManifestCursor)
    start_offset: int = 0
    file_size: int = 0
    restarted: str | None = None
    at_end: bool = True
    counted_backlog_lines: int | None = None
    # Bytes the batch consumed, where they are not ``cursor.offset - start_offset`` (a batch
    # of the segment log spans segments, and its offsets are within one).
    bytes_consumed: int | None = None

    @property
    def lines_read(self) -> int:
        return len(self.entries) + len(self.rejects)

    @property
    def backlog_bytes(self) -> int:
        """Bytes of the file after the cursor (not yet read, or a line not yet complete)."""
        return max(0, self.file_size - self.cursor.offset)

    @property
    def backlog_lines_exact(self) -> bool:
        return self.counted_backlog_lines is not None

    @property
    def backlog_lines(self) -> int:
        """Complete lines left after the cursor: counted when the backlog is at most
        ``COUNT_BACKLOG_BYTES``, else estimated from this batch's mean line length.

        A batch that read nothing stopped at the end: what follows is no complete line.
        """
        if self.counted_backlog_lines is not None:
            return self.counted_backlog_lines
        if not self.backlog_bytes or not self.lines_read:
            return 0
        consumed = self.bytes_consumed
        if consumed is None:
            consumed = self.cursor.offset - self.start_offset
        mean = max(1, consumed) / self.lines_read
        return round(self.backlog_bytes / mean)


def fingerprint(stream: BinaryIO, offset: int) -> str:
    """A digest of the file's head and of the bytes just before ``offset``."""
    if offset == 0:
        return ""
    digest = hashlib.blake2b(digest_size=16)
    stream.seek(0)
    digest.update(stream.read(min(offset, FINGERPRINT_BYTES)))
    tail_start = max(0, offset - FINGERPRINT_BYTES)
    stream.seek(tail_start)
    digest.update(stream.read(offset - tail_start))
    return digest.hexdigest()


def read_manifest(
    path: Path,
    root: Path,
    cursor: ManifestCursor | None = None,
    *,
    max_lines: int = 100_000,
    max_bytes: int = 64 * 1024 * 1024,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ReadBatch:
    """Read at most ``max_lines`` complete lines (or about ``max_bytes``) after ``cursor``.

    Valid lines come back as entries, bad ones as rejections naming the file, byte offset
    and reason; nothing raises for bad content. A missing manifest reads as empty and
    keeps the cursor.
    """
    cursor = cursor or ManifestCursor()
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except FileNotFoundError:
        return ReadBatch(cursor=cursor, start_offset=cursor.offset)
    try:
        size = os.fstat(stream.fileno()).st_size
        restarted = None
        if cursor.offset > size:
            restarted = f"manifest is {size} bytes, shorter than the cursor at {cursor.offset}"
        elif cursor.offset and fingerprint(stream, cursor.offset) != cursor.fingerprint:
            restarted = f"the bytes before offset {cursor.offset} changed (replaced or rotated)"
        start = 0 if restarted else cursor.offset
        batch = ReadBatch(start_offset=start, restarted=restarted)
        pos = _read_lines(stream, path, root, start, batch, max_lines, max_bytes, max_line_bytes)
        batch.file_size = max(size, os.fstat(stream.fileno()).st_size)
        if batch.file_size - pos <= COUNT_BACKLOG_BYTES:
            batch.counted_backlog_lines = _count_lines(stream, pos, batch.file_size)
            if batch.counted_backlog_lines == 0:  # the cap fell on the last complete line
                batch.at_end = True
        batch.cursor = ManifestCursor(pos, fingerprint(stream, pos))
        return batch
    finally:
        stream.close()


def _read_lines(
    stream: BinaryIO,
    path: Path,
    root: Path,
    start: int,
    batch: ReadBatch,
    max_lines: int,
    max_bytes: int,
    max_line_bytes: int,
) -> int:
    """Fill ``batch`` from ``start``; return the offset after the last consumed line."""
    stream.seek(start)
    pos = start
    name = str(path)
    while True:
        if batch.lines_read >= max_lines or pos - start >= max_bytes:
            batch.at_end = False
            return pos
        line = stream.readline(max_line_bytes + 1)
        if not line.endswith(b"\n"):
            if len(line) <= max_line_bytes:
                return pos  # end of file, or a line not yet complete: never consumed
            skipped = _skip_to_newline(stream)
            if skipped is None:
                return pos  # an overlong line that is not complete yet
            length = len(line) + skipped
            batch.rejects.append(
                Rejection(name, pos, f"line of {length} bytes exceeds {max_line_bytes} bytes")
            )
            pos += length
            continue
        try:
            batch.entries.append(parse_line(line[:-1], root, pos))
        except LineError as err:
            batch.rejects.append(Rejection(name, pos, str(err)))
        pos += len(line)


def _count_lines(stream: BinaryIO, start: int, end: int) -> int:
    """The ``\\n``-terminated lines between byte offsets ``start`` and ``end``."""
    stream.seek(start)
    count, left = 0, end - start
    while left > 0:
        chunk = stream.read(min(left, _SKIP_CHUNK))
        if not chunk:
            break
        count += chunk.count(b"\n")
        left -= len(chunk)
    return count


def _skip_to_newline(stream: BinaryIO) -> int | None:
    """Skip to just after the next ``\\n``; return the bytes skipped, or None at end of file."""
    skipped = 0
    while True:
        chunk = stream.readline(_SKIP_CHUNK)
        if not chunk:
            return None
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            return skipped


WHOLE_FILE_BATCH_LINES = 200_000


def read_whole_manifest(
    path: Path, root: Path, *, max_lines: int = WHOLE_FILE_BATCH_LINES
) -> Iterator[ReadBatch]:
    """Every complete line of the manifest from its start, in batches of at most
    ``max_lines`` (bounded memory). A batch with ``restarted`` set means the file was
    truncated or replaced while being read: what the earlier batches said is void."""
    cursor = ManifestCursor()
    while True:
        batch = read_manifest(path, root, cursor, max_lines=max_lines)
        yield batch
        cursor = batch.cursor
        if batch.at_end:
            return
