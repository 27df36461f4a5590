"""Copy files the way rsync would, but safely: whole or not at all, never overwriting.

The bytes go to a temp file in the target folder and get the source's mtime; they are
fsynced (a batch of copies at once), given the source's permission bits, then hard-linked
under the final name (``link`` fails if the name exists, so nothing is ever overwritten, even
by a racing writer); the temp name is removed and the folder fsynced. The temp name is short
and fixed in length (``.alchemy-XXXXXXXX.tmp``), so any final name the file system accepts
can be staged.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 8 * 1024 * 1024
MAX_NAME_ATTEMPTS = 1000


class CopyError(OSError):
    """The source could not be copied; the message says which file and why."""


def fsync_dir(path: Path) -> None:
    """Make a rename or link inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(path: Path, data: bytes) -> None:
    """Write ``data`` as the whole of ``path``, atomically and durably (temp, fsync, rename)."""
    tmp = path.with_name(f"{path.name}.tmp")
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _copy_bytes(src_fd: int, dst_fd: int, size: int) -> None:
    offset = 0
    try:
        while offset < size:
            sent = os.sendfile(dst_fd, src_fd, offset, min(_CHUNK, size - offset))
            if sent == 0:
                break
            offset += sent
    except OSError as err:
        # sendfile is refused on some file systems; plain reads and writes always work.
        if offset or err.errno not in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP
            raise
        os.lseek(src_fd, 0, os.SEEK_SET)
        while chunk := os.read(src_fd, _CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(dst_fd, view) :]


@dataclass(frozen=True)
class StagedCopy:
    """A whole copy of a source in a temp file beside its final name, not yet published."""

    source: Path
    temp: Path
    name_for: Callable[[int], Path]
    size: int
    mtime: float
    """The source's own ``st_mtime`` (the copy keeps it as far as its file system can)."""
    mode: int
    """The source's permission bits (``rwx`` for user, group, others), given to the copy."""


def copy_to_temp(src: Path, name_for: Callable[[int], Path]) -> StagedCopy:
    """Copy ``src`` into a temp file in the folder of ``name_for(0)``, keeping its mtime.

    The staged copy records the source's own mtime and permission bits: a file system with
    coarser timestamps may truncate the copy's mtime, so callers record the source's.

    Not durable yet (see :func:`make_durable`) and not published (see :func:`publish`).
    Raises :class:`CopyError` if ``src`` is not a regular file or changes while being copied;
    no temp file is left behind then.
    """
    first = name_for(0)
    folder = first.parent
    folder.mkdir(parents=True, exist_ok=True)
    src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        before = os.fstat(src_fd)
        if not stat.S_ISREG(before.st_mode):
            raise CopyError(f"{src}: not a regular file")
        tmp_fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".alchemy-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            try:
                _copy_bytes(src_fd, tmp_fd, before.st_size)
            finally:
                os.close(tmp_fd)
            after = os.fstat(src_fd)
            written = tmp.stat().st_size
            if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size) or (
                written != before.st_size
            ):
                raise CopyError(f"{src}: changed while being copied; it will be copied next run")
            os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return StagedCopy(
            src,
            tmp,
            name_for,
            before.st_size,
            before.st_mtime,
            stat.S_IMODE(before.st_mode) & 0o777,
        )
    finally:
        os.close(src_fd)


def make_durable(copies: Sequence[StagedCopy]) -> None:
    """Flush the temp files' bytes to disk, several at once.

    Concurrent fsyncs share the file system's journal commits, so a batch costs about as
    much as a few single fsyncs rather than one each.
    """
    if len(copies) <= 1:
        for copy in copies:
            _fsync_path(copy.temp)
        return
    with ThreadPoolExecutor(max_workers=min(16, len(copies))) as pool:
        list(pool.map(_fsync_path, [copy.temp for copy in copies]))


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(copy: StagedCopy) -> Path:
    """Link the (durable) temp file to the first free name and remove the temp name.

    The copy gets the source's permission bits first (set here, after the fsync, so a
    write-only or unreadable mode cannot stop the flush). The caller fsyncs the folder
    afterwards (:func:`fsync_dir`), once per batch.
    """
    try:
        os.chmod(copy.temp, copy.mode)
        return _link_to_free_name(copy.temp, copy.name_for)
    finally:
        discard(copy)


def discard(copy: StagedCopy) -> None:
    """Remove a temp copy that will not be published."""
    with contextlib.suppress(FileNotFoundError):
        copy.temp.unlink()


def copy_new_file(src: Path, name_for: Callable[[int], Path]) -> Path:
    """Copy ``src`` to the first free name ``name_for(0)``, ``name_for(1)``, …; return it.

    All candidate names must lie in one folder (created if missing). The copy keeps the
    source's mtime and is durable when this returns. Raises :class:`CopyError` if ``src`` is
    not a regular file, changes while being copied, or no free name is found; no temp file
    is left behind on any failure.
    """
    staged = copy_to_temp(src, name_for)
    try:
        make_durable([staged])
    except BaseException:
        discard(staged)
        raise
    target = publish(staged)
    fsync_dir(target.parent)
    return target


def _link_to_free_name(tmp: Path, name_for: Callable[[int], Path]) -> Path:
    for attempt in range(MAX_NAME_ATTEMPTS):
        target = name_for(attempt)
        if target.parent != tmp.parent:
            raise CopyError(f"{target}: not in the folder of the first name {tmp.parent}")
        try:
            os.link(tmp, target)
        except FileExistsError:
            continue
        return target
    raise CopyError(f"{name_for(0)}: no free name after {MAX_NAME_ATTEMPTS} attempts")
