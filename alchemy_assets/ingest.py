"""The prod side: copy new or changed raw files into bronze and append their manifest lines.

A raw file is copied when its path is not in the manifest yet, or when it is another delivery
than the last manifest line for that path records: its own ``st_mtime`` or its size differs
(rsync's quick check; a line without a size is compared by mtime alone). A dataset with
``compare = "checksum"`` (rsync ``-c``) also compares the SHA-256 of a file that passes the
quick check with the line's (or, for a line without one, with its bronze copy's), and records
the checksum of each file it copies. The line records the raw file's mtime (never the bronze
copy's, which a file system with coarser timestamps truncates) and the bronze file's size.
The manifest line is appended only after the bronze copy is durable, so every line names a
bronze file that exists whole; when the append fails, the copies it would have recorded are
removed again, so no bronze file is left that no line names. Files are committed in groups
(up to 512 files or 256 MiB): their copies are flushed together, then their lines appended
with one write and one fsync per manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alchemy_assets import confined
from alchemy_assets.atomic_copy import (
    MAX_NAME_ATTEMPTS,
    StagedCopy,
    copy_to_temp,
    discard,
    fsync_dir,
    make_durable,
    publish,
    replace_durably,
)
from alchemy_assets.bronze_naming import bronze_relpath, day_of
from alchemy_assets.delivery import Delivery, sha256_of
from alchemy_assets.ingest_temps import SweepError, Swept, TempFolders, sweep
from alchemy_assets.layout import DatasetLayout, LayoutError
from alchemy_assets.manifest_line import ManifestEntry, Rejection, encode_line
from alchemy_assets.manifest_reader import ManifestCursor, read_manifest
from alchemy_assets.manifest_writer import append_lines

NOT_FOLLOWED = "a symlinked folder; it is not followed"
OUTSIDE_ENV = "not inside an env folder (raw/<env>/...); not ingested"

LOCK_NAME = ".ingest.lock"
# The copies a group is about to publish, written (and fsynced) before the first is linked
# under its bronze name and removed once their lines are in the manifest: an ingest killed in
# between leaves it, and the next ingest removes the copies no line names.
PENDING_NAME = ".ingest.pending.json"
# A group commit: copies are flushed together, then their lines appended with one write.
BATCH_FILES = 512
BATCH_BYTES = 256 * 1024 * 1024


class IngestError(OSError):
    """A dataset could not be ingested at all; the message names the path and why."""


@dataclass(frozen=True)
class Copied:
    """One raw file copied to bronze and recorded in the manifest."""

    raw: str
    bronze: str
    mtime: float
    size: int
    sha256: str | None = None
    # The raw object's ETag (without quotes), on an object store.
    etag: str | None = None


@dataclass
class IngestReport:
    """What one ``alchemy ingest`` did for one dataset."""

    copied: list[Copied] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    quarantined: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def last_entries(layout: DatasetLayout) -> tuple[dict[str, ManifestEntry], list[Rejection]]:
    """The last valid manifest line for each raw path, and the bad lines."""
    latest: dict[str, ManifestEntry] = {}
    rejects: list[Rejection] = []
    cursor = ManifestCursor()
    while True:
        batch = read_manifest(layout.manifest, layout.root, cursor, max_lines=200_000)
        for entry in batch.entries:
            latest[entry.raw] = entry
        rejects.extend(batch.rejects)
        cursor = batch.cursor
        if batch.at_end:
            return latest, rejects


def raw_files(layout: DatasetLayout) -> Iterator[tuple[str, str | None]]:
    """Paths (relative to ``R``) of everything under ``raw/``, sorted, each with the reason it
    is not ingested (``None`` for a candidate file under ``raw/<env>/``).

    Hidden names (``.partial`` files an upstream copy is still writing) are left out silently;
    symlinked folders (never followed) and entries directly under ``raw/`` are reported.
    """
    if not layout.raw.is_dir():
        return
    for env in sorted(layout.raw.iterdir()):
        if env.name.startswith("."):
            continue
        if env.is_symlink() and env.is_dir():
            yield layout.relative(env), NOT_FOLLOWED
            continue
        if not env.is_dir() or env.is_symlink():
            yield layout.relative(env), OUTSIDE_ENV
            continue
        for dirpath, dirnames, filenames in os.walk(env):
            folder = Path(dirpath)
            visible = sorted(d for d in dirnames if not d.startswith("."))
            dirnames[:] = [d for d in visible if not (folder / d).is_symlink()]
            linked = {d for d in visible if (folder / d).is_symlink()}
            for name in sorted([*filenames, *linked]):
                if not name.startswith("."):
                    yield layout.relative(folder / name), NOT_FOLLOWED if name in linked else None


def ingest(
    layout: DatasetLayout,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    checksum: bool = False,
) -> IngestReport:
    """Copy every new or changed raw file of ``layout`` into bronze and record it; with
    ``checksum``, a file whose mtime and size are unchanged is compared by content too.

    Runs under an exclusive lock per dataset, so two ingests never copy the same file twice.
    A file that fails is reported and the others go on. Raises :class:`IngestError` when the
    dataset's folders or its lock file cannot be created.
    """
    try:
        layout.ensure()
    except OSError as err:
        raise IngestError(
            f"cannot create the dataset folders under {layout.root}: {err.strerror or err}"
        ) from None
    lock = layout.manifests / LOCK_NAME
    try:
        lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise IngestError(f"cannot create the lock file {lock}: {err.strerror or err}") from None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        return _ingest_locked(layout, clock, checksum)
    finally:
        os.close(lock_fd)


def _bronze_names(layout: DatasetLayout, raw_rel: str, when: datetime) -> Callable[[int], Path]:
    return lambda attempt: layout.root / bronze_relpath(raw_rel, when, attempt)


def _ingest_locked(
    layout: DatasetLayout, clock: Callable[[], datetime], checksum: bool
) -> IngestReport:
    _recover(layout)
    try:
        swept = sweep(layout)
    except SweepError as err:
        raise IngestError(str(err)) from None
    temps = TempFolders(layout)
    known, rejects = last_entries(layout)
    report = IngestReport(quarantined=rejects, notes=_sweep_notes(swept))
    batch: list[_Staged] = []
    batch_bytes = 0
    for raw_rel, skipped in raw_files(layout):
        source = layout.root / raw_rel
        problem = skipped or _not_utf8(raw_rel)
        if problem is not None:
            shown = _printable(raw_rel)
            report.failed.append((shown, f"{layout.root}/{shown}: {problem}"))
            continue
        try:
            info = os.lstat(source)
            if stat.S_ISLNK(info.st_mode):
                raise OSError(f"{source}: a symlink; only regular files are ingested")
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{source}: not a regular file")
            current = Delivery(info.st_mtime, info.st_size)
            if checksum:
                current = Delivery(info.st_mtime, info.st_size, _sha256_of_file(source))
            previous = known.get(raw_rel)
            if previous is not None and _unchanged(layout, previous, current):
                report.unchanged += 1
                continue
            when = clock()
            names = _bronze_names(layout, raw_rel, when)
            temps.note(names(0).parent)
            staged = copy_to_temp(source, names)
        except OSError as err:
            report.failed.append((raw_rel, str(err)))
            continue
        batch.append(_Staged(staged, when, current.sha256))
        batch_bytes += staged.size
        if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
            _commit(layout, batch, report)
            batch, batch_bytes = [], 0
    _commit(layout, batch, report)
    temps.done()
    return report


@dataclass(frozen=True)
class _Staged:
    """A copy staged for the group commit: when it was taken and its content's checksum."""

    copy: StagedCopy
    when: datetime
    sha256: str | None


def _unchanged(layout: DatasetLayout, previous: ManifestEntry, current: Delivery) -> bool:
    """Whether ``current`` is the delivery ``previous`` recorded: the quick check (mtime, and
    size where the line has it), then, if ``current`` carries a checksum, the content: the
    line's checksum, or for a line without one its bronze copy's (rsync ``-c`` reads both
    sides too). A bronze copy that cannot be read counts as changed: the file is copied."""
    if not Delivery(current.mtime, current.size).same_as(previous.delivery):
        return False
    if current.sha256 is None:
        return True
    held = previous.sha256 or _bronze_sha256(layout, previous.bronze)
    return held == current.sha256


def _sha256_of_file(path: Path) -> str:
    with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as stream:
        return sha256_of(stream)


def _bronze_sha256(layout: DatasetLayout, bronze: str) -> str | None:
    folder, name = os.path.split(bronze)
    try:
        with (
            confined.folder(layout.root, folder) as parent,
            confined.open_regular(parent, name, bronze) as stream,
        ):
            return sha256_of(stream)
    except (OSError, LayoutError):
        return None


def _sweep_notes(swept: Swept) -> list[str]:
    notes = []
    if swept.removed:
        notes.append(f"removed {swept.removed} temp copies left by an interrupted ingest")
    notes += [f"not swept for temp copies: {folder}" for folder in swept.not_swept]
    return notes


def _not_utf8(raw_rel: str) -> str | None:
    # A name that is not UTF-8 cannot be written into a JSON manifest line losslessly (the
    # readers, partition keys and UI all expect text): it fails alone, before any copy.
    try:
        raw_rel.encode("utf-8")
    except UnicodeEncodeError as err:
        byte = os.fsencode(raw_rel[err.start])[0]
        return f"the name is not valid UTF-8 (byte 0x{byte:02x}); rename the file to ingest it"
    return None


def _printable(raw_rel: str) -> str:
    return os.fsencode(raw_rel).decode("utf-8", "backslashreplace")


def _commit(layout: DatasetLayout, batch: list[_Staged], report: IngestReport) -> None:
    """Make a batch of copies durable, publish them, then append their lines (group commit).

    Each file's line is appended only after its bronze copy is durable and in place; a file
    reported copied has its line, fsynced, in both manifests.
    """
    if not batch:
        return
    try:
        make_durable([item.copy for item in batch])
    except OSError as err:
        for item in batch:
            discard(item.copy)
            report.failed.append((layout.relative(item.copy.source), str(err)))
        return
    published: list[tuple[Copied, datetime]] = []
    recorded = False
    _write_pending(layout, batch)
    try:
        for item in batch:
            staged = item.copy
            raw_rel = layout.relative(staged.source)
            try:
                target = publish(staged)
            except OSError as err:
                report.failed.append((raw_rel, str(err)))
                continue
            copied = Copied(
                raw_rel, layout.relative(target), staged.mtime, staged.size, item.sha256
            )
            published.append((copied, item.when))
        for folder in sorted({(layout.root / c.bronze).parent for c, _ in published}):
            fsync_dir(folder)
        lines = [encode_line(c.raw, c.bronze, c.mtime, c.size, c.sha256) for c, _ in published]
        try:
            append_lines(layout.manifest, lines)
        except OSError as err:
            report.failed += [(c.raw, str(err)) for c, _ in published]
            return
        recorded = True
    finally:
        if not recorded:
            _remove_unrecorded(layout, [c for c, _ in published])
        with contextlib.suppress(OSError):
            (layout.manifests / PENDING_NAME).unlink()
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


def _remove_unrecorded(layout: DatasetLayout, published: list[Copied]) -> None:
    """Remove the bronze copies of a group whose lines did not reach the manifest.

    A copy is kept if the manifest names it after all (a failed write whose cut-back failed
    too): a line must never name a missing bronze file; an unnamed copy is only clutter.
    """
    if not published:
        return
    named = _bronze_named_after(layout, {c.bronze for c in published})
    for copied in published:
        if copied.bronze not in named:
            with contextlib.suppress(FileNotFoundError):
                (layout.root / copied.bronze).unlink()
    for folder in sorted({(layout.root / c.bronze).parent for c in published}):
        with contextlib.suppress(OSError):
            fsync_dir(folder)


def _write_pending(layout: DatasetLayout, batch: list[_Staged]) -> None:
    """Record, durably, which names the group's copies may be published under."""
    pending = [
        {"raw": layout.relative(item.copy.source), "when": item.when.isoformat()} for item in batch
    ]
    data = json.dumps(pending, ensure_ascii=False).encode("utf-8", "surrogateescape")
    replace_durably(layout.manifests / PENDING_NAME, data)


def _recover(layout: DatasetLayout) -> None:
    """Remove the bronze copies an ingest killed mid-group published without their lines.

    Every name each pending file could have been published under (attempt 0, 1, … up to the
    first free one) is checked; a copy that no manifest line names is removed. A journal that
    cannot be read is left in place (and said so) rather than guessed at.
    """
    path = layout.manifests / PENDING_NAME
    try:
        pending = json.loads(path.read_bytes())
        candidates: list[str] = []
        for item in pending:
            when = datetime.fromisoformat(item["when"])
            for attempt in range(MAX_NAME_ATTEMPTS):
                name = bronze_relpath(item["raw"], when, attempt)
                if not os.path.lexists(layout.root / name):
                    break
                candidates.append(name)
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise IngestError(
            f"{path}: left by an interrupted ingest and unreadable ({err}); check the bronze "
            "copies it names against the manifest, then remove it"
        ) from None
    named = _bronze_named_after(layout, set(candidates))
    published = [Copied("", name, 0.0, 0) for name in candidates if name not in named]
    _remove_unrecorded(layout, published)
    path.unlink()
    fsync_dir(layout.manifests)


def _bronze_named_after(layout: DatasetLayout, candidates: set[str]) -> set[str]:
    # Only names this group just published can be in question; one scan of the manifest
    # (read in full: a failure path, and rare) says which of them a line names.
    try:
        data = layout.manifest.read_bytes()
    except FileNotFoundError:
        return set()
    except OSError:
        return candidates  # cannot tell: keep every copy rather than risk a dangling line
    return {name for name in candidates if _json_string(name) in data}


def _json_string(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()
