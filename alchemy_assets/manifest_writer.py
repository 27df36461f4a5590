"""Append one line to a manifest so that several writers on one host never tear or mix lines.

Each append opens the file with ``O_APPEND``, takes an exclusive ``flock``, terminates a torn
tail left by a crashed writer with ``\\n`` (so the fragment becomes a line of its own that
readers quarantine, never glued to the next line), writes the whole line with one ``write``,
fsyncs, and unlocks. A short write (file size limit, disk full) is cut back to the last
``\\n`` and raised.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from alchemy_assets.atomic_copy import fsync_dir


class ManifestWriteError(OSError):
    """A line could not be appended; the manifest was left ending at its last ``\\n``."""


def append_line(path: Path, line: bytes) -> None:
    """Append ``line`` (one JSON object ending in ``\\n``) to the manifest at ``path``."""
    append_lines(path, [line])


def append_lines(path: Path, lines: Sequence[bytes]) -> None:
    """Append whole lines with one ``write`` and one fsync (a group commit): all or none."""
    for line in lines:
        if not line.endswith(b"\n") or b"\n" in line[:-1]:
            raise ValueError("a manifest line is exactly one '\\n'-terminated line")
    if not lines:
        return
    line = b"".join(lines)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            _append_locked(fd, path, line)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


def _append_locked(fd: int, path: Path, line: bytes) -> None:
    size = os.fstat(fd).st_size
    payload = line
    if size and _last_byte(path, size) != b"\n":
        payload = b"\n" + line
    try:
        written = os.write(fd, payload)
        if written != len(payload):
            raise ManifestWriteError(
                f"{path}: short write ({written} of {len(payload)} bytes); lines not appended"
            )
        os.fsync(fd)
    except OSError as err:
        # Leave the file ending at the last '\n' so the next line is never glued to a fragment.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        if isinstance(err, ManifestWriteError):
            raise
        raise ManifestWriteError(f"{path}: {err.strerror or err}; lines not appended") from err


def _last_byte(path: Path, size: int) -> bytes:
    # The O_APPEND descriptor is write-only; read the tail through a second descriptor.
    rfd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(rfd, 1, size - 1)
    finally:
        os.close(rfd)
