"""The prod side: copy new or changed raw files into bronze and append their manifest lines.

A raw file is copied when its path is not in the manifest yet, or when its mtime differs from
the mtime of the last manifest line for that path. The manifest line is appended only after
the bronze copy is durable, so every line names a bronze file that exists whole. Files are
committed in groups (up to 512 files or 256 MiB): their copies are flushed together, then
their lines appended with one write and one fsync per manifest.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alchemy_assets.atomic_copy import (
    StagedCopy,
    copy_to_temp,
    discard,
    fsync_dir,
    make_durable,
    publish,
)
from alchemy_assets.bronze_naming import bronze_relpath, day_of
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import Rejection, encode_line
from alchemy_assets.manifest_reader import ManifestCursor, read_manifest
from alchemy_assets.manifest_writer import append_lines

LOCK_NAME = ".ingest.lock"
# A group commit: copies are flushed together, then their lines appended with one write.
BATCH_FILES = 512
BATCH_BYTES = 256 * 1024 * 1024


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
    batch: list[tuple[StagedCopy, datetime]] = []
    batch_bytes = 0
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
            staged = copy_to_temp(source, _bronze_names(layout, raw_rel, when))
        except OSError as err:
            report.failed.append((raw_rel, str(err)))
            continue
        batch.append((staged, when))
        batch_bytes += staged.size
        if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
            _commit(layout, batch, report)
            batch, batch_bytes = [], 0
    _commit(layout, batch, report)
    return report


def _commit(
    layout: DatasetLayout, batch: list[tuple[StagedCopy, datetime]], report: IngestReport
) -> None:
    """Make a batch of copies durable, publish them, then append their lines (group commit).

    Each file's line is appended only after its bronze copy is durable and in place; a file
    reported copied has its line, fsynced, in both manifests.
    """
    if not batch:
        return
    try:
        make_durable([staged for staged, _ in batch])
    except OSError as err:
        for staged, _ in batch:
            discard(staged)
            report.failed.append((layout.relative(staged.source), str(err)))
        return
    published: list[tuple[Copied, datetime]] = []
    for staged, when in batch:
        raw_rel = layout.relative(staged.source)
        try:
            target = publish(staged)
        except OSError as err:
            report.failed.append((raw_rel, str(err)))
            continue
        mtime = target.stat().st_mtime
        published.append((Copied(raw_rel, layout.relative(target), mtime), when))
    for folder in sorted({(layout.root / c.bronze).parent for c, _ in published}):
        fsync_dir(folder)
    lines = [encode_line(c.raw, c.bronze, c.mtime) for c, _ in published]
    try:
        append_lines(layout.manifest, lines)
    except OSError as err:
        report.failed += [(c.raw, str(err)) for c, _ in published]
        return
    for day in sorted({day_of(when) for _, when in published}):
        day_lines = [
            line for line, (_, when) in zip(lines, published, strict=True) if day_of(when) == day
        ]
        try:
            append_lines(layout.daily_manifest(day), day_lines)
        except OSError as err:
            # The cumulative manifest, the source of truth, has these lines: report, go on.
            report.failed += [
                (c.raw, f"day manifest: {err}") for c, w in published if day_of(w) == day
            ]
    report.copied += [c for c, _ in published]
