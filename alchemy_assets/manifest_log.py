"""The manifest on an object store: a log of immutable segment objects, Delta Lake's way.

An object store has no append. Each ingest run writes its lines as one new object
``manifests/processed/<20-digit sequence>.jsonl``, created with put-if-absent
(``If-None-Match: *``): two writers that pick the same number cannot both win, and the loser
takes the next number, so no line is lost and no number is claimed twice. A writer only tries
``n + 1`` after it saw ``n`` exist, so segments appear in key order with no gap a reader could
step over; listing is strongly consistent (S3 since 2020, GCS, Azure). The same lines go to
``manifests/processed_YYYY-MM-DD/<sequence>.jsonl`` beside it (the day of ingest, UTC).

A reader's cursor is (segment, bytes of it consumed): it lists the segments from its own on
(``start-after``, paginated), and fetches with ranged GETs only the bytes it has not
consumed: a segment is never read again, a large one is read over several ticks.
Lines are validated as on disk (:func:`~alchemy_assets.manifest_line.parse_line`); a bad one
is a rejection naming the segment's URL and byte offset, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from alchemy_assets.manifest_line import LineError, Rejection, parse_line
from alchemy_assets.manifest_reader import MAX_LINE_BYTES, ManifestCursor, ReadBatch
from alchemy_assets.object_layout import SEGMENTS, SEQUENCE_DIGITS, ObjectLayout
from alchemy_assets.object_store import ObjectInfo, StoreExistsError, StoreMissingError

_SEGMENT_NAME = re.compile(rf"^(\d{{{SEQUENCE_DIGITS}}})\.jsonl$")
# How many numbers a writer tries past the last it saw before it lists again.
_CLAIM_TRIES = 1000
# A reader fetches a segment in ranged GETs from 64 KiB (a tick's 10,000 lines are ~2.5 MiB),
# doubling up to 16 MiB: about 2x what a tick consumes at most, in a few requests.
_FIRST_CHUNK = 64 * 1024
_LAST_CHUNK = 16 * 1024 * 1024


class SegmentClaimError(OSError):
    """No sequence number could be claimed (the log grew faster than this writer)."""


@dataclass(frozen=True)
class Segment:
    """One segment object of the log: its sequence number, key and size."""

    sequence: int
    key: str
    size: int


def segment_name(sequence: int) -> str:
    return f"{sequence:0{SEQUENCE_DIGITS}d}.jsonl"


def sequence_of(name: str) -> int | None:
    """The sequence number of a segment's name (``00000000000000000007.jsonl`` → 7)."""
    match = _SEGMENT_NAME.match(name)
    return int(match.group(1)) if match else None


def list_segments(layout: ObjectLayout, *, after: int | None = None) -> Iterator[Segment]:
    """The segments after sequence ``after`` (all with None), in order; other objects under
    ``manifests/processed/`` are not segments and are skipped."""
    prefix = layout.key(SEGMENTS.rstrip("/")) + "/"
    start = prefix + segment_name(after) if after is not None else None
    for info in layout.store.objects(prefix, start_after=start):
        sequence = sequence_of(info.key[len(prefix) :])
        if sequence is not None:
            yield Segment(sequence, info.key, info.size)


def last_sequence(layout: ObjectLayout, *, after: int | None = None) -> int | None:
    """The highest sequence number in the log (listing from ``after`` on), or None."""
    last = after
    for segment in list_segments(layout, after=after):
        last = segment.sequence
    return last


def write_segment(
    layout: ObjectLayout,
    lines: Sequence[bytes],
    *,
    after: int | None,
    day_lines: dict[str, list[bytes]],
) -> int:
    """Create the next segment holding ``lines`` (each one ``\\n``-terminated JSON object),
    trying ``after + 1`` first (``after``: the last sequence the writer saw, None for an empty
    log) and the next number on each put-if-absent it loses; then the daily segments
    (``day_lines``: the lines by day of ingest) under the same number. Returns the number.

    The segment is the source of truth: a daily segment that cannot be written raises
    after it is in place (the caller reports it; the lines are recorded).
    """
    for line in lines:
        if not line.endswith(b"\n") or b"\n" in line[:-1]:
            raise ValueError("a manifest line is exactly one '\\n'-terminated line")
    data = b"".join(lines)
    sequence = 0 if after is None else after + 1
    for _ in range(_CLAIM_TRIES):
        try:
            layout.store.put(layout.segment_key(sequence), data, if_absent=True)
            break
        except StoreExistsError:
            sequence += 1
    else:
        raise SegmentClaimError(
            f"{layout.manifest}: no free sequence number within {_CLAIM_TRIES} of {after}"
        )
    for day, day_data in sorted(day_lines.items()):
        layout.store.put(layout.daily_segment_key(day, sequence), b"".join(day_data))
    return sequence


def read_log(
    layout: ObjectLayout,
    cursor: ManifestCursor | None = None,
    *,
    max_lines: int = 100_000,
    max_bytes: int = 64 * 1024 * 1024,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ReadBatch:
    """At most ``max_lines`` lines (or about ``max_bytes``) of the log after ``cursor``.

    A cursor whose segment is gone (the log was replaced) starts over from the first
    segment, saying so in ``restarted``: re-reading loses nothing.
    """
    cursor = cursor or ManifestCursor()
    current = sequence_of(cursor.segment) if cursor.segment else None
    restarted = None
    if cursor.segment and current is None:
        restarted = f"cursor segment {cursor.segment!r} is not a segment name"
    segments: list[Segment] = []
    if current is not None:
        # Listed from the cursor's own segment on: its listed size says whether any is left.
        segments = list(list_segments(layout, after=current - 1 if current else None))
        if not segments or segments[0].sequence != current:
            restarted = f"segment {cursor.segment} is gone from {layout.manifest} (log replaced?)"
    if current is None or restarted:
        segments = list(list_segments(layout))
    offset = 0 if restarted or current is None else cursor.offset
    batch = ReadBatch(start_offset=offset, restarted=restarted)
    position = ManifestCursor(offset, "", "" if restarted else cursor.segment)
    root = Path(layout.root)
    consumed = remaining = 0
    for segment in segments:
        start = offset if segment.sequence == current and not restarted else 0
        if batch.lines_read >= max_lines or consumed >= max_bytes:
            remaining += max(0, segment.size - start)
            batch.at_end = False
            continue
        if start >= segment.size:
            position = ManifestCursor(segment.size, "", segment_name(segment.sequence))
            continue
        try:
            end = _read_from(
                layout, segment, start, root, batch, max_lines, max_bytes - consumed, max_line_bytes
            )
        except StoreMissingError:
            batch.restarted = batch.restarted or f"segment {segment.key} vanished while read"
            continue
        consumed += end - start
        position = ManifestCursor(end, "", segment_name(segment.sequence))
        if end < segment.size:
            remaining += segment.size - end
            batch.at_end = False
    batch.cursor = position
    batch.bytes_consumed = consumed
    batch.file_size = position.offset + remaining
    if batch.at_end:
        batch.counted_backlog_lines = 0
    return batch


def _read_from(
    layout: ObjectLayout,
    segment: Segment,
    start: int,
    root: Path,
    batch: ReadBatch,
    max_lines: int,
    max_bytes: int,
    max_line_bytes: int,
) -> int:
    """Parse the lines of one segment from byte ``start`` on, fetched in ranged GETs of
    growing size (a segment never changes once written), until ``max_lines`` lines are read,
    about ``max_bytes`` consumed or the segment ends; return where consuming stopped. A tick
    that stops inside a large segment has fetched little past its stop, and the next starts
    there: each byte of the log is fetched about once."""
    pos, chunk = start, _FIRST_CHUNK
    while pos < segment.size and batch.lines_read < max_lines and pos - start < max_bytes:
        end = min(segment.size, pos + chunk)
        data = layout.store.get_range(segment.key, pos, end)
        if len(data) != end - pos:  # an object shorter than listed: it was replaced
            raise StoreMissingError(f"segment {segment.key} changed while read")
        stopped = _consume(data, pos, segment, layout, root, batch, max_lines, max_line_bytes)
        if stopped == pos and end - pos > max_line_bytes:
            # Not one whole line in a window longer than a line may be: one too long, whose
            # end is found in the windows after. (A shorter window without a whole line is
            # read again twice as long.)
            batch.rejects.append(
                Rejection(
                    layout.store.location(segment.key),
                    pos,
                    f"line of more than {end - pos} bytes exceeds {max_line_bytes} bytes",
                )
            )
            stopped = _skip_line(layout, segment, end)
        pos = stopped
        chunk = min(chunk * 2, max(_LAST_CHUNK, max_line_bytes + 1))
    return pos


def _skip_line(layout: ObjectLayout, segment: Segment, start: int) -> int:
    """Where the line that runs past ``start`` ends (after its newline, or the segment's end)."""
    pos = start
    while pos < segment.size:
        end = min(segment.size, pos + _LAST_CHUNK)
        newline = layout.store.get_range(segment.key, pos, end).find(b"\n")
        if newline >= 0:
            return pos + newline + 1
        pos = end
    return segment.size


def _consume(
    data: bytes,
    base: int,
    segment: Segment,
    layout: ObjectLayout,
    root: Path,
    batch: ReadBatch,
    max_lines: int,
    max_line_bytes: int,
) -> int:
    """Parse the whole lines of ``data``, bytes of the segment from offset ``base``; return the
    segment offset where consuming stopped. Its last line without a newline counts only where
    ``data`` reaches the segment's end (a segment is written whole, so such a line is complete
    there)."""
    shown = layout.store.location(segment.key)
    at_end = base + len(data) >= segment.size
    pos = 0
    while pos < len(data):
        if batch.lines_read >= max_lines:
            break
        end = data.find(b"\n", pos)
        if end < 0:
            if not at_end:
                break
            end = len(data)
        line = data[pos:end]
        if len(line) > max_line_bytes:
            batch.rejects.append(
                Rejection(
                    shown, base + pos, f"line of {len(line)} bytes exceeds {max_line_bytes} bytes"
                )
            )
        else:
            try:
                batch.entries.append(parse_line(line, root, base + pos))
            except LineError as err:
                batch.rejects.append(Rejection(shown, base + pos, str(err)))
        pos = end + 1
    return base + min(pos, len(data))


def read_segment(
    layout: ObjectLayout, segment: Segment, *, max_line_bytes: int = MAX_LINE_BYTES
) -> ReadBatch:
    """Every line of one segment (one GET); a segment gone meanwhile reads as empty."""
    batch = ReadBatch()
    try:
        data = layout.store.get(segment.key)
    except StoreMissingError:
        batch.restarted = f"segment {segment.key} vanished while read"
        return batch
    end = _consume(data, 0, segment, layout, Path(layout.root), batch, 2**62, max_line_bytes)
    batch.cursor = ManifestCursor(end, "", segment_name(segment.sequence))
    batch.file_size = batch.bytes_consumed = end
    batch.counted_backlog_lines = 0
    return batch


def read_whole_log(layout: ObjectLayout, *, max_lines: int = 200_000) -> Iterator[ReadBatch]:
    """Every line of the log from its first segment, in batches of at most ``max_lines``."""
    cursor = ManifestCursor()
    while True:
        batch = read_log(layout, cursor, max_lines=max_lines)
        yield batch
        cursor = batch.cursor
        if batch.at_end:
            return


def segment_infos(layout: ObjectLayout) -> list[ObjectInfo]:
    """Every object under ``manifests/processed/`` (status and tests)."""
    return list(layout.store.objects(layout.key(SEGMENTS.rstrip("/")) + "/"))
