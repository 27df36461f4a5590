"""Files under a dataset root opened without following links, whatever is swapped in mid-run.

Resolving a path and then opening it is not containment: a folder can be replaced by a link
in between. Here every component below the root is opened relative to its parent's file
descriptor with ``O_NOFOLLOW``, so a link anywhere below ``R`` is refused, never followed;
writes go to a temp file created in the folder's descriptor and renamed within it. ``R``
itself (``FP_PREFIX/vendor/dataset/version``) is the anchor and may sit behind links.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import posixpath
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from alchemy_assets.layout import LayoutError

NAME_MAX = 255
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = _READ_FLAGS | os.O_DIRECTORY


class ConfinementError(LayoutError):
    """A path below the dataset root that is a link, or not what the layout says it is."""


class MissingError(ConfinementError):
    """A path below the dataset root that does not exist."""


def aux_name(name: str, suffix: str) -> str:
    """The hidden file beside ``name`` holding ``suffix`` (``.x.csv.lock``); a name too long
    for the filesystem is replaced by its hash (``.3f2a….lock``)."""
    candidate = f".{name}{suffix}"
    if len(os.fsencode(candidate)) <= NAME_MAX:
        return candidate
    return f".{hashlib.sha256(os.fsencode(name)).hexdigest()[:32]}{suffix}"


def _explain(err: OSError, shown: str, parent: int, name: str) -> ConfinementError:
    with contextlib.suppress(OSError):
        if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            return ConfinementError(f"{shown} is a symbolic link: staging never follows links")
    if err.errno == errno.ELOOP:
        return ConfinementError(f"{shown} is a symbolic link: staging never follows links")
    if err.errno == errno.ENOTDIR:
        return ConfinementError(f"{shown} is not a folder")
    if err.errno == errno.ENOENT:
        return MissingError(f"{shown} is missing")
    return ConfinementError(f"{shown}: {err.strerror or err}")


def plain_parts(root: Path, relpath: str) -> list[str]:
    """The components of ``relpath``; refuses NUL, ``..``, ``.`` and absolute paths."""
    parts = relpath.split("/")
    if "\x00" in relpath or relpath.startswith("/") or any(p in ("..", ".") for p in parts):
        raise ConfinementError(f"path {relpath!r} is not a plain path relative to {root}")
    return [p for p in parts if p]


@contextlib.contextmanager
def folder(root: Path, relpath: str, *, create: bool = False) -> Iterator[int]:
    """A descriptor of the folder ``root/relpath``, each component opened without following
    links (and created first, with ``create``)."""
    parts = plain_parts(root, relpath)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        walked = ""
        for part in parts:
            walked = f"{walked}/{part}" if walked else part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                raise _explain(err, walked, fd, part) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def open_regular(parent: int, name: str, shown: str) -> IO[bytes]:
    """``name`` in folder ``parent``, opened for reading without following a link; refuses
    anything but a regular file (a FIFO or device planted there must not hang a run)."""
    try:
        fd = os.open(name, _READ_FLAGS | os.O_NONBLOCK, dir_fd=parent)
    except OSError as err:
        raise _explain(err, shown, parent, name) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfinementError(f"{shown}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def lstat(root: Path, relpath: str) -> os.stat_result:
    """The status of ``root/relpath`` itself (a link is not followed, nor any link above it)."""
    plain_parts(root, relpath)
    folder_path, name = posixpath.split(relpath)
    if not name:
        raise ConfinementError(f"path {relpath!r} names no file")
    with folder(root, folder_path) as parent:
        try:
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        except OSError as err:
            raise _explain(err, relpath, parent, name) from None


def read_small(parent: int, name: str) -> bytes | None:
    """The bytes of a small file ``name`` in ``parent`` (not through a link), or None."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=parent)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(1 << 20)


def write_atomically(parent: int, name: str, content: bytes) -> None:
    """Write ``name`` in folder ``parent`` through a temp file there and a rename, so a reader
    sees the old file or the new one, never part of one. The file gets the mode of a new file
    under the umask; a link at ``name`` is replaced, not followed."""
    tmp = aux_name(name, f".{secrets.token_hex(4)}.tmp")
    fd = os.open(
        tmp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o666,
        dir_fd=parent,
    )
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=parent)
        raise


def remove(parent: int, name: str) -> None:
    """Remove ``name`` from folder ``parent`` if it is there (a link is removed, not
    followed)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=parent)


@contextlib.contextmanager
def locked(parent: int, name: str) -> Iterator[None]:
    """An exclusive ``flock`` on the lock file of ``name`` in ``parent`` while the block runs."""
    fd = os.open(
        aux_name(name, ".lock"),
        os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o666,
        dir_fd=parent,
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
