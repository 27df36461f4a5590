"""``alchemy status``: how far staging of one dataset is, as plain data, text and JSON.

The figures (also in ``alchemy status --help`` and the README):

- ``files``: distinct raw files (partition keys) named by valid lines of the manifest.
- ``partitions``: the dataset's dynamic partitions in the Dagster instance.
- ``sampled``: files with at least one ``sample`` materialization, at any mtime
  (``up_to_date`` + ``stale``).
- ``up_to_date`` / ``stale`` / ``unsampled``: every file is exactly one of these. Up to date:
  its latest sample holds the delivery of its latest manifest line (mtime, and size and
  checksum where both record them). Stale: it has a sample of another delivery (a
  re-delivery, or a restatement with its mtime kept, not sampled yet). Unsampled: no sample.
- ``not_data``: files recorded as not sampled, because they are not data (a PDF, an image, a
  README, a format no reader here takes), at their latest delivery, with what they look
  like; neither sampled nor failed, not in the backlog, not tried again until re-delivered.
- ``failed``: partitions whose latest sample attempt failed, with the reason; no sample
  materialization has been recorded for them since. A failed file is also stale or unsampled
  (unless an on-demand re-sample of an up-to-date file failed).
- ``backlog``: manifest lines and bytes after the cursor of the consumer that has read the
  furthest (the sensor or ``alchemy stage``): complete lines no one has read yet, and the
  bytes after that cursor (a last line not yet complete included). Each consumer's own
  figures are under ``cursors`` (``null``: it has never run). A cursor whose manifest was
  replaced or truncated counts from the start, as the reader would.
- ``quarantined``: bad lines in the current manifest file, and the last few of them.
- ``left_behind``: runs of ``alchemy stage`` that never finished (NOT_STARTED, QUEUED,
  STARTING or STARTED) and whose process is not running: gone (on this host: the next
  ``alchemy stage`` of the dataset marks them failed), or not judged (another host's, or no
  process recorded). Runs whose process still runs are in progress, not listed; runs the
  daemon or the UI launched are left to Dagster's run monitoring.
"""

from __future__ import annotations

import bisect
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alchemy_assets.delivery import Delivery
from alchemy_assets.format_options import FormatRule, fingerprint_for
from alchemy_assets.manifest_line import ManifestEntry
from alchemy_assets.manifest_log import list_segments, read_segment
from alchemy_assets.manifest_reader import ManifestCursor, fingerprint, read_whole_manifest
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.staging import latest_by_key

STATUS_VERSION = 1
EXAMPLES = 10
LAST_QUARANTINED = 5


@dataclass(frozen=True)
class Backlog:
    """Complete manifest lines after a cursor, and the bytes after it."""

    lines: int
    bytes: int

    def to_dict(self) -> dict[str, int]:
        return {"lines": self.lines, "bytes": self.bytes}


@dataclass
class ManifestScan:
    """The manifest read once from the start: the latest delivery of each partition key (the
    last line wins), the byte offset of every complete line, and its bad lines."""

    path: Path | str
    latest: dict[str, Delivery] = field(default_factory=dict)
    line_starts: list[int] = field(default_factory=list)
    size: int = 0
    quarantined: int = 0
    last_quarantined: list[str] = field(default_factory=list)
    # The segment log of a store: where each segment starts in the log's bytes taken as one
    # (line_starts and size count those), by segment name.
    segment_starts: dict[str, int] | None = None

    def backlog(self, cursor: ManifestCursor | None) -> Backlog:
        """What is left after ``cursor``; all of it when the reader would start over."""
        offset = self._position(cursor) if cursor else 0
        lines = len(self.line_starts) - bisect.bisect_left(self.line_starts, offset)
        return Backlog(lines, max(0, self.size - offset))

    def _position(self, cursor: ManifestCursor) -> int:
        if self.segment_starts is None:
            return cursor.offset if self._still_valid(cursor) else 0
        start = self.segment_starts.get(cursor.segment)
        return 0 if start is None else start + cursor.offset

    def _still_valid(self, cursor: ManifestCursor) -> bool:
        if cursor.offset > self.size or not isinstance(self.path, Path):
            return False
        try:
            with open(self.path, "rb") as stream:
                return fingerprint(stream, cursor.offset) == cursor.fingerprint
        except FileNotFoundError:
            return False


def _delivery(entry: ManifestEntry, rules: Sequence[FormatRule]) -> Delivery:
    delivery = entry.delivery
    return delivery._replace(format=fingerprint_for(rules, entry.env_path)) if rules else delivery


def scan_manifest(path: Path, root: Path, rules: Sequence[FormatRule] = ()) -> ManifestScan:
    """Read the whole manifest in bounded batches (~12 µs a line); each file's delivery with
    the fingerprint of the format options ``rules`` configure for it."""
    scan = ManifestScan(path)
    for batch in read_whole_manifest(path, root):
        if batch.restarted:  # replaced while being read: read the new file instead
            scan = ManifestScan(path)
        scan.latest.update(
            (key, _delivery(entry, rules)) for key, entry in latest_by_key(batch.entries).items()
        )
        starts = [e.offset for e in batch.entries] + [r.offset for r in batch.rejects]
        scan.line_starts += sorted(starts)
        scan.quarantined += len(batch.rejects)
        scan.last_quarantined = (scan.last_quarantined + [str(r) for r in batch.rejects])[
            -LAST_QUARANTINED:
        ]
        scan.size = batch.file_size
    return scan


def scan_log(layout: ObjectLayout, rules: Sequence[FormatRule] = ()) -> ManifestScan:
    """:func:`scan_manifest` of a store's segment log: every segment GET once, in order."""
    scan = ManifestScan(layout.manifest, segment_starts={})
    starts: dict[str, int] = {}
    for segment in list_segments(layout):
        name = segment.key.rsplit("/", 1)[-1]
        starts[name] = scan.size
        batch = read_segment(layout, segment)
        scan.latest.update(
            (key, _delivery(entry, rules)) for key, entry in latest_by_key(batch.entries).items()
        )
        found = [e.offset for e in batch.entries] + [r.offset for r in batch.rejects]
        scan.line_starts += [scan.size + offset for offset in sorted(found)]
        scan.quarantined += len(batch.rejects)
        scan.last_quarantined = (scan.last_quarantined + [str(r) for r in batch.rejects])[
            -LAST_QUARANTINED:
        ]
        scan.size += segment.size
    scan.segment_starts = starts
    return scan


def classify(
    latest: Mapping[str, Delivery], sampled: Mapping[str, Delivery]
) -> tuple[int, list[str], list[str]]:
    """(up to date, stale keys, unsampled keys) of the files in ``latest`` (the deliveries
    of their latest manifest lines), given the delivery each partition's latest sample holds."""
    up_to_date, stale, unsampled = 0, [], []
    for key, delivery in latest.items():
        previous = sampled.get(key)
        if previous is None:
            unsampled.append(key)
        elif delivery.same_as(previous):
            up_to_date += 1
        else:
            stale.append(key)
    return up_to_date, sorted(stale), sorted(unsampled)


@dataclass(frozen=True)
class LeftBehindRun:
    """A run of ``alchemy stage`` that never finished and whose process is not running:
    ``gone`` (judged on this host) or not judged, and why."""

    run_id: str
    status: str
    since: float  # when it started (or was created, if it never started), POSIX seconds
    gone: bool
    reason: str

    @property
    def since_text(self) -> str:
        """``since`` in UTC, to the second (ISO 8601)."""
        moment = datetime.datetime.fromtimestamp(self.since, datetime.UTC)
        return moment.isoformat(timespec="seconds")

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "since": self.since_text,
            "gone": self.gone,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        then = "; the next 'alchemy stage' marks it failed" if self.gone else ""
        return f"run {self.run_id}, {self.status} since {self.since_text}: {self.reason}{then}"


@dataclass
class DatasetStatus:
    """Where staging of one dataset stands (see the module docstring for each figure)."""

    dataset: str
    manifest: str
    manifest_lines: int
    manifest_bytes: int
    files: int
    partitions: int
    up_to_date: int
    stale: list[str]
    unsampled: list[str]
    failed: dict[str, str]
    cursors: dict[str, Backlog | None]
    backlog: Backlog
    backlog_by: str | None
    quarantined: int
    last_quarantined: list[str]
    left_behind: list[LeftBehindRun] = field(default_factory=list)
    not_data: dict[str, str] = field(default_factory=dict)  # key -> what the file looks like

    @property
    def sampled(self) -> int:
        """Files with a sample at any mtime: up to date or stale."""
        return self.up_to_date + len(self.stale)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: counts, plus the first few keys of each list (sorted)."""
        failed = sorted(self.failed.items())[:EXAMPLES]
        return {
            "dataset": self.dataset,
            "manifest": {
                "path": self.manifest,
                "lines": self.manifest_lines,
                "bytes": self.manifest_bytes,
            },
            "files": self.files,
            "partitions": self.partitions,
            "sampled": self.sampled,
            "up_to_date": self.up_to_date,
            "stale": len(self.stale),
            "unsampled": len(self.unsampled),
            "failed": len(self.failed),
            "not_data": len(self.not_data),
            "backlog": {**self.backlog.to_dict(), "cursor": self.backlog_by},
            "cursors": {
                name: backlog.to_dict() if backlog else None
                for name, backlog in self.cursors.items()
            },
            "quarantined": {"lines": self.quarantined, "last": self.last_quarantined},
            "examples": {
                "stale": self.stale[:EXAMPLES],
                "unsampled": self.unsampled[:EXAMPLES],
                "failed": dict(failed),
                "not_data": dict(sorted(self.not_data.items())[:EXAMPLES]),
            },
            "left_behind": [run.to_dict() for run in self.left_behind],
        }


def backlog_of(
    scan: ManifestScan, cursors: Mapping[str, ManifestCursor | None]
) -> tuple[dict[str, Backlog | None], Backlog, str | None]:
    """Each consumer's backlog, and the smallest of them (the whole manifest if none ran)."""
    each = {name: scan.backlog(c) if c is not None else None for name, c in cursors.items()}
    ran = [(b.bytes, name, b) for name, b in each.items() if b is not None]
    if not ran:
        return each, scan.backlog(None), None
    _, name, smallest = min(ran)
    return each, smallest, name


def status_document(root: Path | str, statuses: list[DatasetStatus]) -> dict[str, Any]:
    """The ``--json`` document: ``{"version": 1, "root": ..., "datasets": [...]}``."""
    return {
        "version": STATUS_VERSION,
        "root": str(root),
        "datasets": [s.to_dict() for s in statuses],
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _keys(label: str, keys: list[str]) -> list[str]:
    if not keys:
        return []
    shown = ", ".join(keys[:EXAMPLES])
    more = f" and {len(keys) - EXAMPLES} more" if len(keys) > EXAMPLES else ""
    return [f"    {label}: {shown}{more}"]


def _not_data(not_data: dict[str, str]) -> list[str]:
    if not not_data:
        return []
    shown = sorted(not_data.items())[:EXAMPLES]
    more = f" and {len(not_data) - EXAMPLES} more" if len(not_data) > EXAMPLES else ""
    listed = ", ".join(f"{key} ({kind})" for key, kind in shown)
    return [f"  not data     {len(not_data)} (not sampled, not failed)", f"    {listed}{more}"]


def format_status(status: DatasetStatus) -> str:
    """The text form: one block of aligned lines per dataset."""
    s = status
    consumers = ", ".join(
        f"{name}: {_plural(b.lines, 'line')}" if b else f"{name}: never ran"
        for name, b in s.cursors.items()
    )
    by = f"after the {s.backlog_by} cursor" if s.backlog_by else "nothing staged yet"
    lines = [
        f"{s.dataset}",
        f"  manifest     {_plural(s.manifest_lines, 'line')}, {s.manifest_bytes} bytes",
        f"  files        {s.files} in the manifest, {s.partitions} partitions",
        f"  sampled      {s.sampled} ({s.up_to_date} up to date, {len(s.stale)} stale), "
        f"{len(s.unsampled)} unsampled",
        *_keys("stale", s.stale),
        *_keys("unsampled", s.unsampled),
        *_not_data(s.not_data),
        f"  failed       {len(s.failed)}",
        *[f"    {key}: {reason}" for key, reason in sorted(s.failed.items())[:EXAMPLES]],
        *([f"    ... and {len(s.failed) - EXAMPLES} more"] if len(s.failed) > EXAMPLES else []),
        f"  backlog      {_plural(s.backlog.lines, 'line')}, {s.backlog.bytes} bytes ({by}; "
        f"{consumers})",
        f"  quarantined  {_plural(s.quarantined, 'line')}",
        *[f"    {reject}" for reject in s.last_quarantined],
        *([f"  left behind  {_plural(len(s.left_behind), 'run')}"] if s.left_behind else []),
        *[f"    {run}" for run in s.left_behind],
    ]
    return "\n".join(lines)
