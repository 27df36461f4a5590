"""The staging decision: which manifest lines call for a new sample, and how to batch them.

A partition (one raw file) is due when its latest manifest line names another delivery than
its latest sample holds (:class:`~alchemy_assets.delivery.Delivery`: mtime, size where both
record it, checksum where the line has one); several lines for one file in a batch: the last
wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from alchemy_assets.data_root import Layout, read_all
from alchemy_assets.delivery import Delivery
from alchemy_assets.format_options import FormatRule, fingerprint_for
from alchemy_assets.manifest_line import ManifestEntry
from alchemy_assets.manifest_reader import ManifestCursor, ReadBatch
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
    format: str | None = None  # the fingerprint of the format options configured for it
    etag: str | None = None  # the raw object's ETag, on an object store

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.mtime, self.size, self.sha256, self.format, self.etag)

    @property
    def env_path(self) -> str:
        """The raw path relative to ``R/raw``, e.g. ``env0/data.csv``."""
        return self.raw[len("raw/") :]

    @classmethod
    def of(
        cls, key: str, entry: ManifestEntry, reason: str, rules: Sequence[FormatRule] = ()
    ) -> DueFile:
        """The file of manifest line ``entry`` (partition ``key``), due for ``reason``, with
        the fingerprint of the format options ``rules`` configure for it."""
        fmt = fingerprint_for(rules, entry.env_path)
        return cls(
            key,
            entry.raw,
            entry.bronze,
            entry.mtime,
            reason,
            entry.size,
            entry.sha256,
            fmt,
            entry.etag,
        )

    def under(self, rules: Sequence[FormatRule]) -> DueFile:
        """This file with the fingerprint of the options ``rules`` configure for it now (what
        its sample records, whatever the decision that made it due saw)."""
        fmt = fingerprint_for(rules, self.env_path)
        return self if fmt == self.format else replace(self, format=fmt)

    def to_dict(self) -> dict[str, str | float | int | None]:
        """Plain data for run config (``dataclasses.asdict`` is ~10x slower); ``etag`` only
        where there is one (on an object store)."""
        data: dict[str, str | float | int | None] = {
            "key": self.key,
            "raw": self.raw,
            "bronze": self.bronze,
            "mtime": self.mtime,
            "reason": self.reason,
            "size": self.size,
            "sha256": self.sha256,
            "format": self.format,
        }
        if self.etag is not None:
            data["etag"] = self.etag
        return data


def latest_by_key(entries: Iterable[ManifestEntry]) -> dict[str, ManifestEntry]:
    """The last line per partition key, in order of each key's first appearance."""
    latest: dict[str, ManifestEntry] = {}
    for entry in entries:
        latest[encode_key(entry.env_path)] = entry
    return latest


def decide(
    latest: Mapping[str, ManifestEntry],
    sampled: Mapping[str, Delivery],
    rules: Sequence[FormatRule] = (),
) -> tuple[list[DueFile], int]:
    """The files whose manifest line names another delivery than their latest sample holds
    (``sampled``, by partition key), or whose configured format options (``rules``) changed,
    and how many do not."""
    due: list[DueFile] = []
    for key, entry in latest.items():
        previous = sampled.get(key)
        fmt = fingerprint_for(rules, entry.env_path)
        if previous is not None and previous.holds(
            entry.mtime, entry.size, entry.sha256, fmt, entry.etag
        ):
            continue
        reason = (
            "new file"
            if previous is None
            else Delivery(entry.mtime, entry.size, entry.sha256, fmt, entry.etag).change_from(
                previous
            )
        )
        due.append(
            DueFile(
                key,
                entry.raw,
                entry.bronze,
                entry.mtime,
                reason,
                entry.size,
                entry.sha256,
                fmt,
                entry.etag,
            )
        )
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


def due_on_demand(
    layout: Layout, keys: Iterable[str], rules: Sequence[FormatRule] = ()
) -> tuple[list[DueFile], list[str]]:
    """The latest manifest line of each key, as files due "on demand", and the keys with none.

    Reads the whole manifest (in bounded chunks): this is for a person re-materializing a
    few partitions, not for the sensor, which passes what it read to the run.
    """
    wanted = set(keys)
    latest: dict[str, ManifestEntry] = {}
    for batch in read_all(layout):
        if batch.restarted:
            latest.clear()
        for key, entry in latest_by_key(batch.entries).items():
            if key in wanted:
                latest[key] = entry
    due = [
        DueFile.of(key, found, "on demand", rules)
        for key in sorted(wanted)
        if (found := latest.get(key)) is not None
    ]
    return due, sorted(wanted - latest.keys())


@dataclass(frozen=True)
class StagingCursor:
    """Where staging of one manifest stands: the reader's cursor, how many lines (and bad
    lines among them) have been consumed from the current manifest file, and the last few bad
    lines (``file:offset: reason``, newest last). The counts and reasons start again when the
    file is read from the start (truncated, rotated or replaced). ``formats``: the fingerprint
    of the dataset's format rules the lines were decided with (None: none); other rules
    make the manifest be read again from the start (:meth:`for_formats`)."""

    manifest: ManifestCursor = field(default_factory=ManifestCursor)
    lines: int = 0
    quarantined: int = 0
    last_rejects: tuple[str, ...] = ()
    formats: str | None = None

    def for_formats(self, formats: str | None) -> tuple[StagingCursor, str | None]:
        """The cursor to read from under format rules of fingerprint ``formats``, and a note
        when they changed: then from the start, so every file they touch is decided again
        (files whose sample holds their delivery and options are skipped, as always)."""
        if formats == self.formats:
            return self, None
        note = (
            f"format options changed (rules {self.formats or 'none'} to {formats or 'none'}): "
            "the manifest is read again from the start to re-sample the files they touch"
        )
        return StagingCursor(formats=formats), note

    def advanced(self, batch: ReadBatch) -> StagingCursor:
        """The cursor after ``batch`` was consumed."""
        base = StagingCursor(formats=self.formats) if batch.restarted else self
        new = tuple(str(r)[:REJECT_CHARS] for r in batch.rejects[-LAST_REJECTS:])
        return StagingCursor(
            batch.cursor,
            base.lines + batch.lines_read,
            base.quarantined + len(batch.rejects),
            (base.last_rejects + new)[-LAST_REJECTS:],
            self.formats,
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
        if self.formats is not None:
            doc["formats"] = self.formats
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
            formats = data.get("formats")  # absent: written without format rules
            if formats is not None and not isinstance(formats, str):
                raise ValueError(f"bad formats fingerprint {formats!r}")
            cursor = cls(manifest, lines, quarantined, tuple(last[-LAST_REJECTS:]), formats)
            return cursor, None
        except (ValueError, KeyError, TypeError) as err:
            note = f"cursor {text[:80]!r} unreadable ({err}); reading from the start"
            return cls(), note
