"""The bronze folders an ingest in progress copies into, so an ingest killed mid-copy leaves
no temp file behind for good.

An ingest copies each raw file into a temp file (``.alchemy-XXXXXXXX.tmp``) in its bronze day
folder, then links it under its bronze name. Killed before that (mid-copy, or with a group
of copies not yet published), it leaves the temp files: up to a group (512 files or
256 MiB), or a partial copy of a file of any size. The folders are recorded in
``manifests/.ingest.folders.json`` (a JSON list of paths relative to the dataset root,
fsynced) before the first copy into each, and the file is removed when the ingest ends; the
next ingest (under the same lock) finds it and removes every ``.alchemy-*.tmp`` in the
folders it names, reached without following a link. No other writer creates such files in
bronze. The ingest lock (``manifests/.ingest.lock``) must never be removed by hand: a second
ingest would then take the record of a live one for a dead one's.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from alchemy_assets import confined
from alchemy_assets.atomic_copy import fsync_dir, replace_durably
from alchemy_assets.confined import ConfinementError, MissingError
from alchemy_assets.layout import DatasetLayout

FOLDERS_NAME = ".ingest.folders.json"
TEMP_PREFIX, TEMP_SUFFIX = ".alchemy-", ".tmp"


@dataclass
class Swept:
    """What a sweep did: temp copies removed, and recorded folders it could not look into."""

    removed: int = 0
    not_swept: list[str] = field(default_factory=list)


class TempFolders:
    """The bronze folders one ingest has copied into, kept on disk while it runs."""

    def __init__(self, layout: DatasetLayout) -> None:
        self._layout = layout
        self._folders: list[str] = []

    @property
    def path(self) -> Path:
        return self._layout.manifests / FOLDERS_NAME

    def note(self, folder: Path) -> None:
        """Record ``folder`` (under the dataset's bronze) before the first copy into it.

        Raises ``OSError`` if the record cannot be written; the folder then stays unrecorded
        (the next file into it tries again), so no copy is made into an unrecorded folder.
        """
        relative = self._layout.relative(folder)
        if relative in self._folders:
            return
        folders = [*self._folders, relative]
        self._layout.manifests.mkdir(parents=True, exist_ok=True)
        replace_durably(self.path, json.dumps(folders, ensure_ascii=False).encode())
        self._folders = folders

    def done(self) -> None:
        """The ingest ended: every copy it made is published or removed."""
        if self._folders:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def sweep(layout: DatasetLayout) -> Swept:
    """Remove the temp copies a killed ingest left in the folders it recorded.

    Call only under the dataset's ingest lock (a live ingest's record looks like a dead
    one's). Each folder is opened component by component without following a link (a folder
    that is a link, or has one above it, is not swept and is named in ``not_swept``). Raises
    :class:`SweepError`, naming the record and what to do, when the record cannot be read,
    names a folder outside ``bronze/``, or a folder cannot be swept.
    """
    path = layout.manifests / FOLDERS_NAME
    by_hand = (
        f"with no ingest of this dataset running, delete the temp copies by hand "
        f"(find {layout.bronze} -name '{TEMP_PREFIX}*{TEMP_SUFFIX}' -delete), then {path}"
    )
    try:
        folders = json.loads(path.read_bytes())
    except FileNotFoundError:
        return Swept()
    except (OSError, ValueError) as err:
        raise SweepError(
            f"{path}: left by an interrupted ingest and unreadable ({err}); {by_hand}"
        ) from None
    if not isinstance(folders, list) or not all(_in_bronze(layout.root, f) for f in folders):
        raise SweepError(f"{path}: names a folder outside bronze/ ({folders!r}); {by_hand}")
    swept = Swept()
    for relative in folders:
        try:
            swept.removed += _sweep_folder(layout.root, relative)
        except MissingError:
            continue  # recorded before its first copy, never created
        except ConfinementError as err:
            swept.not_swept.append(f"{relative}: {err}")
        except OSError as err:
            raise SweepError(f"{path}: cannot sweep {relative} ({err}); {by_hand}") from None
    path.unlink()
    fsync_dir(layout.manifests)
    return swept


class SweepError(OSError):
    """The temp copies of a killed ingest could not be looked for; the message says what to do."""


def _sweep_folder(root: Path, relative: str) -> int:
    removed = 0
    with confined.folder(root, relative) as fd:
        for entry in os.scandir(fd):
            if (
                entry.name.startswith(TEMP_PREFIX)
                and entry.name.endswith(TEMP_SUFFIX)
                and entry.is_file(follow_symlinks=False)
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=fd)
                    removed += 1
        if removed:
            os.fsync(fd)
    return removed


def _in_bronze(root: Path, relative: object) -> bool:
    if not isinstance(relative, str):
        return False
    try:
        parts = confined.plain_parts(root, relative)  # refuses NUL, `..`, `.`, absolute paths
    except ConfinementError:
        return False
    return len(parts) >= 2 and parts[0] == "bronze"
