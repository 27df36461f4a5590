"""The staging decision: which manifest lines call for a new sample, and how to batch them.

A partition (one raw file) is due when its latest manifest line names another delivery than
its latest sample holds (:class:`~alchemy_assets.delivery.Delivery`: mtime, size where both
record it, checksum where the line has one); several lines for one file in a batch: the last
wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from alchemy_assets.delivery import Delivery
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import ManifestEntry
from alchemy_assets.manifest_reader import (
    ManifestCursor,
    ReadBatch,
    read_whole_manifest,
)
from alchemy_assets.partition_keys import encode_key

CURSOR_VERSION = 1
# Quarantine reasons the cursor carries across cycles (for the manifest observation), and the
# length each is cut to, so the cursor Dagster stores stays small.
LAST_REJECTS = 5
REJECT_CHARS = 300


@dataclass(frozen=True)
class DueFile:
    """A file to sample: its partition key, manifest line and why it is due."""

    key: str
    raw: str
    bronze: str
    mtime: float
    reason: str
    size: int | None = None  # the bronze file's size, where the manifest line records it
    sha256: str | None = None  # its content's SHA-256, where the manifest line records it

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.mtime, self.size, self.sha256)

    @classmethod
    def of(cls, key: str, entry: ManifestEntry, reason: str) -> DueFile:
        """The file of manifest line ``entry`` (partition ``key``), due for ``reason``."""
        return cls(key, entry.raw, entry.bronze, entry.mtime, reason, entry.size, entry.sha256)

    def to_dict(self) -> dict[str, str | float | int | None]:
        """Plain data for run config (``dataclasses.asdict`` is ~10x slower)."""
        return {
            "key": self.key,
            "raw": self.raw,
            "bronze": self.bronze,
            "mtime": self.mtime,
            "reason": self.reason,
            "size": self.size,
            "sha256": self.sha256,
        }


def latest_by_key(entries: Iterable[ManifestEntry]) -> dict[str, ManifestEntry]:
    """The last line per partition key, in order of each key's first appearance."""
    latest: dict[str, ManifestEntry] = {}
    for entry in entries:
        latest[encode_key(entry.env_path)] = entry
    return latest


def decide(
    latest: Mapping[str, ManifestEntry], sampled: Mapping[str, Delivery]
) -> tuple[list[DueFile], int]:
    """The files whose manifest line names another delivery than their latest sample holds
    (``sampled``, by partition key), and how many do not."""
    due: list[DueFile] = []
    for key, entry in latest.items():
        previous = sampled.get(key)
        delivery = entry.delivery
        if previous is None or not delivery.same_as(previous):
            due.append(DueFile.of(key, entry, delivery.change_from(previous)))
    return due, len(latest) - len(due)


def batches(
    due: Sequence[DueFile], order: Mapping[str, int], max_per_batch: int
) -> list[list[DueFile]]:
    """Split ``due`` into runs of consecutive partitions (by ``order``), each ≤ ``max_per_batch``.

    A Dagster run covers a contiguous partition range, so a batch never spans a gap.
    """
    ranked = sorted(due, key=lambda d: order[d.key])
    out: list[list[DueFile]] = []
    for item in ranked:
        current = out[-1] if out else None
        if (
            current is not None
            and len(current) < max_per_batch
            and order[item.key] == order[current[-1].key] + 1
        ):
            current.append(item)
        else:
            out.append([item])
    return out


def due_on_demand(layout: DatasetLayout, keys: Iterable[str]) -> tuple[list[DueFile], list[str]]:
    """The latest manifest line of each key, as files due "on demand", and the keys with none.

    Reads the whole manifest (in bounded chunks): this is for a person re-materializing a
    few partitions, not for the sensor, which passes what it read to the run.
    """
    wanted = set(keys)
    latest: dict[str, ManifestEntry] = {}
    for batch in read_whole_manifest(layout.manifest, layout.root):
        if batch.restarted:
            latest.clear()
        for key, entry in latest_by_key(batch.entries).items():
            if key in wanted:
                latest[key] = entry
    due = [
        DueFile.of(key, found, "on demand")
        for key in sorted(wanted)
        if (found := latest.get(key)) is not None
    ]
    return due, sorted(wanted - latest.keys())


@dataclass(frozen=True)
class StagingCursor:
    """Where staging of one manifest stands: the reader's cursor, how many lines (and bad
    lines among them) have been consumed from the current manifest file, and the last few bad
    lines (``file:offset: reason``, newest last). The counts and reasons start again when the
    file is read from the start (truncated, rotated or replaced)."""

    manifest: ManifestCursor = field(default_factory=ManifestCursor)
    lines: int = 0
    quarantined: int = 0
    last_rejects: tuple[str, ...] = ()

    def advanced(self, batch: ReadBatch) -> StagingCursor:
        """The cursor after ``batch`` was consumed."""
        base = StagingCursor() if batch.restarted else self
        new = tuple(str(r)[:REJECT_CHARS] for r in batch.rejects[-LAST_REJECTS:])
        return StagingCursor(
            batch.cursor,
            base.lines + batch.lines_read,
            base.quarantined + len(batch.rejects),
            (base.last_rejects + new)[-LAST_REJECTS:],
        )

    def encode(self) -> str:
        """Versioned JSON, as stored by Dagster (sensor cursor) or the instance (stage)."""
        doc = {
            "v": CURSOR_VERSION,
            "manifest": self.manifest.to_dict(),
            "lines": self.lines,
            "quarantined": self.quarantined,
            "last_quarantined": list(self.last_rejects),
        }
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> tuple[StagingCursor, str | None]:
        """The cursor in ``text``; an unreadable one starts over, and the note says why.

        Starting over loses nothing: lines already sampled at their mtime are skipped.
        """
        if not text:
            return cls(), None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
                version = data.get("v") if isinstance(data, dict) else data
                raise ValueError(f"unsupported cursor version {version!r}")
            lines, quarantined = data.get("lines", 0), data.get("quarantined", 0)
            counts = [lines, quarantined]
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
                raise ValueError(f"bad counts {counts!r}")
            last = data.get("last_quarantined", [])  # absent in cursors written before it
            if not isinstance(last, list) or not all(isinstance(r, str) for r in last):
                last = []  # display only: not worth re-reading the manifest for
            manifest = ManifestCursor.from_dict(data["manifest"])
            return cls(manifest, lines, quarantined, tuple(last[-LAST_REJECTS:])), None
        except (ValueError, KeyError, TypeError) as err:
            note = f"cursor {text[:80]!r} unreadable ({err}); reading from the start"
            return cls(), note
