"""The prod side: copy new or changed raw files into bronze and append their manifest lines.

A raw file is copied when its path is not in the manifest yet, or when its mtime differs from
the mtime of the last manifest line for that path. The manifest line is appended only after
the bronze copy is durable, so every line names a bronze file that exists whole.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alchemy_assets.atomic_copy import copy_new_file
from alchemy_assets.bronze_naming import bronze_relpath, day_of
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import Rejection, encode_line
from alchemy_assets.manifest_reader import ManifestCursor, read_manifest
from alchemy_assets.manifest_writer import append_line

LOCK_NAME = ".ingest.lock"


@dataclass(frozen=True)
class Copied:
    """One raw file copied to bronze and recorded in the manifest."""

    raw: str
    bronze: str
    mtime: float


@dataclass
class IngestReport:
    """What one ``alchemy ingest`` did for one dataset."""

    copied: list[Copied] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    quarantined: list[Rejection] = field(default_factory=list)


def last_mtimes(layout: DatasetLayout) -> tuple[dict[str, float], list[Rejection]]:
    """The mtime of the last valid manifest line for each raw path, and the bad lines."""
    mtimes: dict[str, float] = {}
    rejects: list[Rejection] = []
    cursor = ManifestCursor()
    while True:
        batch = read_manifest(layout.manifest, layout.root, cursor, max_lines=200_000)
        for entry in batch.entries:
            mtimes[entry.raw] = entry.mtime
        rejects.extend(batch.rejects)
        cursor = batch.cursor
        if batch.at_end:
            return mtimes, rejects


def raw_files(layout: DatasetLayout) -> Iterator[str]:
    """Paths (relative to ``R``) of everything under ``raw/<env>/``, sorted.

    Hidden names (``.partial`` files an upstream copy is still writing) are left out.
    """
    if not layout.raw.is_dir():
        return
    for env in sorted(layout.raw.iterdir()):
        if env.name.startswith(".") or not env.is_dir() or env.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(env):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith("."):
                    yield layout.relative(Path(dirpath) / name)


def ingest(
    layout: DatasetLayout,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestReport:
    """Copy every new or changed raw file of ``layout`` into bronze and record it.

    Runs under an exclusive lock per dataset, so two ingests never copy the same file twice.
    A file that fails is reported and the others go on.
    """
    layout.ensure()
    lock_fd = os.open(layout.manifests / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        return _ingest_locked(layout, clock)
    finally:
        os.close(lock_fd)


def _bronze_names(layout: DatasetLayout, raw_rel: str, when: datetime) -> Callable[[int], Path]:
    return lambda attempt: layout.root / bronze_relpath(raw_rel, when, attempt)


def _ingest_locked(layout: DatasetLayout, clock: Callable[[], datetime]) -> IngestReport:
    known, rejects = last_mtimes(layout)
    report = IngestReport(quarantined=rejects)
    for raw_rel in raw_files(layout):
        source = layout.root / raw_rel
        try:
            info = os.lstat(source)
            if stat.S_ISLNK(info.st_mode):
                raise OSError(f"{source}: a symlink; only regular files are ingested")
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{source}: not a regular file")
            if known.get(raw_rel) == info.st_mtime:
                report.unchanged += 1
                continue
            when = clock()
            target = copy_new_file(source, _bronze_names(layout, raw_rel, when))
            mtime = target.stat().st_mtime
            line = encode_line(raw_rel, layout.relative(target), mtime)
            append_line(layout.manifest, line)
            append_line(layout.daily_manifest(day_of(when)), line)
        except OSError as err:
            report.failed.append((raw_rel, str(err)))
            continue
        report.copied.append(Copied(raw_rel, layout.relative(target), mtime))
    return report
