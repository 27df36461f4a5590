"""The bronze folders an ingest in progress copies into, so an ingest killed mid-copy leaves
no temp file behind for good.

An ingest copies each raw file into a temp file (``.alchemy-XXXXXXXX.tmp``) in its bronze day
folder, then links it under its bronze name. Killed before that (mid-copy, or with a group
of copies not yet published), it leaves the temp files: up to a group (512 files or
256 MiB), or a partial copy of a file of any size. The folders are recorded in
``manifests/.ingest.folders.json`` (a JSON list of paths relative to the dataset root,
fsynced) before the first copy into each, and the file is removed when the ingest ends; the
next ingest (under the same lock) finds it and removes every ``.alchemy-*.tmp`` in the
folders it names. No other writer creates such files in bronze.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path, PurePosixPath

from alchemy_assets.atomic_copy import fsync_dir, replace_durably
from alchemy_assets.layout import DatasetLayout, LayoutError

FOLDERS_NAME = ".ingest.folders.json"
TEMP_PREFIX, TEMP_SUFFIX = ".alchemy-", ".tmp"


class TempFolders:
    """The bronze folders one ingest has copied into, kept on disk while it runs."""

    def __init__(self, layout: DatasetLayout) -> None:
        self._layout = layout
        self._folders: list[str] = []

    @property
    def path(self) -> Path:
        return self._layout.manifests / FOLDERS_NAME

    def note(self, folder: Path) -> None:
        """Record ``folder`` (under the dataset's bronze) before the first copy into it."""
        relative = self._layout.relative(folder)
        if relative in self._folders:
            return
        self._folders.append(relative)
        self._layout.manifests.mkdir(parents=True, exist_ok=True)
        replace_durably(self.path, json.dumps(self._folders, ensure_ascii=False).encode())

    def done(self) -> None:
        """The ingest ended: every copy it made is published or removed."""
        if self._folders:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def sweep(layout: DatasetLayout) -> int:
    """Remove the temp copies a killed ingest left in the folders it recorded; how many.

    Call only under the dataset's ingest lock. A record that cannot be read, or that names a
    folder outside the dataset's bronze, raises ``ValueError`` naming the file.
    """
    path = layout.manifests / FOLDERS_NAME
    try:
        folders = json.loads(path.read_bytes())
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: left by an interrupted ingest and unreadable ({err})") from None
    if not isinstance(folders, list) or not all(_in_bronze(f) for f in folders):
        raise ValueError(f"{path}: names a folder outside bronze/: {folders!r}")
    removed = 0
    for relative in folders:
        try:
            folder = layout.resolve(relative)  # a link in the tree that leads out: not swept
            entries = list(os.scandir(folder))
        except (FileNotFoundError, LayoutError):
            continue
        here = 0
        for entry in entries:
            if (
                entry.name.startswith(TEMP_PREFIX)
                and entry.name.endswith(TEMP_SUFFIX)
                and entry.is_file(follow_symlinks=False)
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    here += 1
        if here:
            fsync_dir(folder)
        removed += here
    path.unlink()
    fsync_dir(layout.manifests)
    return removed


def _in_bronze(relative: object) -> bool:
    if not isinstance(relative, str):
        return False
    parts = PurePosixPath(relative).parts
    return len(parts) >= 2 and parts[0] == "bronze" and ".." not in parts and "." not in parts
