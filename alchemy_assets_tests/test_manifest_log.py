"""The manifest segment log on a store: segments claimed in order by racing writers, read
once each by a cursor of (segment, offset)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any

import pytest

from alchemy_assets.layout import DatasetId
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.manifest_log import (
    last_sequence,
    list_segments,
    read_log,
    read_whole_log,
    segment_infos,
    segment_name,
    sequence_of,
    write_segment,
)
from alchemy_assets.manifest_reader import ManifestCursor
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import StoreRoot
from alchemy_assets_tests.s3 import FaultProxy

GICS = DatasetId.parse("sp/gics/1.0")
SEGMENT_GETS = "/manifests/processed/0"  # a GET of one segment object (not the listing)


def _line(name: str) -> bytes:
    return encode_line(f"raw/env0/{name}", f"bronze/{name}", 1.0, 1)


def _lines(prefix: str, count: int) -> list[bytes]:
    return [_line(f"{prefix}-{i}.csv") for i in range(count)]


@pytest.fixture
def layout(s3_root: str) -> ObjectLayout:
    return ObjectLayout(GICS, StoreRoot.open(s3_root))


def _raws(layout: ObjectLayout) -> list[str]:
    return [e.raw for batch in read_whole_log(layout) for e in batch.entries]


def test_segment_names_hold_their_sequence_number() -> None:
    assert segment_name(7) == "00000000000000000007.jsonl"
    assert sequence_of(segment_name(7)) == 7
    assert sequence_of("7.jsonl") is None and sequence_of("00000000000000000007.json") is None


def test_segments_are_numbered_in_order_and_a_stale_writer_takes_the_next(
    layout: ObjectLayout,
) -> None:
    assert last_sequence(layout) is None
    assert write_segment(layout, _lines("a", 2), after=None, day_lines={}) == 0
    assert write_segment(layout, _lines("b", 1), after=0, day_lines={}) == 1
    # A writer that saw nothing tries 0, loses, and goes on to the first free number.
    assert write_segment(layout, _lines("c", 1), after=None, day_lines={}) == 2
    assert [s.sequence for s in list_segments(layout)] == [0, 1, 2]
    assert [s.sequence for s in list_segments(layout, after=0)] == [1, 2]
    assert last_sequence(layout) == 2
    assert _raws(layout) == [f"raw/env0/{n}.csv" for n in ("a-0", "a-1", "b-0", "c-0")]


def test_the_daily_segment_holds_the_lines_of_its_day_under_the_same_number(
    layout: ObjectLayout,
) -> None:
    lines = _lines("a", 2)
    seq = write_segment(layout, lines, after=None, day_lines={"2025-01-02": lines[1:]})
    assert layout.store.get(layout.daily_segment_key("2025-01-02", seq)) == lines[1]


def test_a_line_that_is_not_one_terminated_line_is_refused(layout: ObjectLayout) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        write_segment(layout, [b'{"raw": 1}'], after=None, day_lines={})
    with pytest.raises(ValueError, match="exactly one"):
        write_segment(layout, [b"a\nb\n"], after=None, day_lines={})
    assert segment_infos(layout) == []


def test_other_objects_in_the_log_folder_are_not_segments(layout: ObjectLayout) -> None:
    write_segment(layout, _lines("a", 1), after=None, day_lines={})
    layout.store.put(layout.key("manifests/processed/notes.txt"), b"x")
    assert [s.sequence for s in list_segments(layout)] == [0]
    assert len(segment_infos(layout)) == 2


def test_a_cursor_gets_each_segment_once(s3_root: str, s3_proxy: FaultProxy) -> None:
    layout = ObjectLayout(GICS, StoreRoot.open(s3_root))
    after = None
    for name in "abc":
        after = write_segment(layout, _lines(name, 2), after=after, day_lines={})
    first = read_log(layout)
    assert len(first.entries) == 6 and first.at_end
    assert first.cursor == ManifestCursor(len(b"".join(_lines("c", 2))), "", segment_name(2))
    assert s3_proxy.count("GET", SEGMENT_GETS) == 3
    for name in "de":
        after = write_segment(layout, _lines(name, 2), after=after, day_lines={})
    second = read_log(layout, first.cursor)
    assert [e.raw for e in second.entries] == [
        f"raw/env0/{n}.csv" for n in ("d-0", "d-1", "e-0", "e-1")
    ]
    assert s3_proxy.count("GET", SEGMENT_GETS) == 5  # d and e, not c again
    third = read_log(layout, second.cursor)
    assert third.entries == [] and third.at_end and third.cursor == second.cursor
    assert s3_proxy.count("GET", SEGMENT_GETS) == 5


def test_a_partly_read_segment_resumes_at_its_offset(layout: ObjectLayout) -> None:
    lines = _lines("a", 3)
    write_segment(layout, lines, after=None, day_lines={})
    first = read_log(layout, max_lines=2)
    assert [e.offset for e in first.entries] == [0, len(lines[0])]
    assert first.cursor == ManifestCursor(len(lines[0] + lines[1]), "", segment_name(0))
    assert not first.at_end and first.backlog_bytes == len(lines[2])
    second = read_log(layout, first.cursor)
    assert [(e.raw, e.offset) for e in second.entries] == [
        ("raw/env0/a-2.csv", len(lines[0] + lines[1]))
    ]
    assert second.at_end and second.restarted is None


def test_a_large_segment_read_over_many_ticks_is_fetched_about_once(
    s3_root: str, s3_proxy: FaultProxy
) -> None:
    """One ingest run of 30,000 lines (one segment of ~3 MiB) drained 2,000 lines a tick: every
    line once, in order, and the segment's bytes fetched about once (ranged GETs from the
    cursor on), not once a tick."""
    layout = ObjectLayout(GICS, StoreRoot.open(s3_root))
    lines = [
        encode_line(f"raw/env0/{i:05d}.csv", f"bronze/{i:05d}.csv", 1.0, i) for i in range(30_000)
    ]
    write_segment(layout, lines, after=None, day_lines={})
    size = len(b"".join(lines))
    cursor, raws, ticks = None, [], 0
    while True:
        batch = read_log(layout, cursor, max_lines=2_000)
        raws += [e.raw for e in batch.entries]
        assert batch.rejects == []
        cursor, ticks = batch.cursor, ticks + 1
        if batch.at_end:
            break
    assert raws == [f"raw/env0/{i:05d}.csv" for i in range(30_000)] and ticks == 15
    fetched = s3_proxy.bytes_of(SEGMENT_GETS)
    assert size <= fetched <= size + ticks * 1024 * 1024, (fetched, size)
    assert fetched < 3 * size, (fetched, size)  # whole-segment GETs a tick: 15x


def test_lines_too_long_are_rejected_and_the_next_read(layout: ObjectLayout) -> None:
    """A line too long inside one ranged GET, and one longer than the GETs (3 MiB): each
    rejected at its offset, the lines after them read."""
    lines = [
        _line("a"),
        b'{"raw": "' + b"x" * 3000 + b'"}\n',
        b'{"raw": "' + b"y" * 3 * 1024 * 1024 + b'"}\n',
        _line("b"),
    ]
    write_segment(layout, lines, after=None, day_lines={})
    batch = read_log(layout, max_line_bytes=1000)
    assert [e.raw for e in batch.entries] == ["raw/env0/a", "raw/env0/b"]
    assert [r.offset for r in batch.rejects] == [len(lines[0]), len(lines[0] + lines[1])]
    assert all("exceeds 1000 bytes" in r.reason for r in batch.rejects), batch.rejects
    assert batch.at_end and batch.cursor.offset == len(b"".join(lines))


def test_max_lines_holds_across_segments(layout: ObjectLayout) -> None:
    after = None
    for name in "abc":
        after = write_segment(layout, _lines(name, 3), after=after, day_lines={})
    cursor = None
    read: list[list[str]] = []
    while True:
        batch = read_log(layout, cursor, max_lines=4)
        assert batch.lines_read <= 4
        read.append([e.raw.removeprefix("raw/env0/") for e in batch.entries])
        cursor = batch.cursor
        if batch.at_end:
            break
    assert read == [
        ["a-0.csv", "a-1.csv", "a-2.csv", "b-0.csv"],
        ["b-1.csv", "b-2.csv", "c-0.csv", "c-1.csv"],
        ["c-2.csv"],
    ]


def test_a_bad_line_is_rejected_with_the_segment_url_and_offset(layout: ObjectLayout) -> None:
    good = _line("a.csv")
    bad = b'{"raw": "raw/env0/b.csv", "bronze": 3, "mtime": 1.0}\n'
    outside = _line("../../x.csv")
    write_segment(layout, [good, bad, outside, good], after=None, day_lines={})
    batch = read_log(layout)
    assert [e.offset for e in batch.entries] == [0, len(good + bad + outside)]
    url = layout.store.location(layout.segment_key(0))
    assert [(r.file, r.offset) for r in batch.rejects] == [
        (url, len(good)),
        (url, len(good + bad)),
    ]
    assert "bronze must be a string" in batch.rejects[0].reason
    assert str(batch.rejects[0]).startswith(f"{url}:{len(good)}: ")


def test_a_cursor_whose_segment_is_gone_starts_over_saying_so(layout: ObjectLayout) -> None:
    write_segment(layout, _lines("a", 2), after=None, day_lines={})
    write_segment(layout, _lines("b", 1), after=0, day_lines={})
    batch = read_log(layout, ManifestCursor(5, "", segment_name(9)))
    assert batch.restarted is not None and segment_name(9) in batch.restarted
    assert "is gone from" in batch.restarted and layout.manifest in batch.restarted
    assert len(batch.entries) == 3 and batch.entries[0].offset == 0
    renamed = read_log(layout, ManifestCursor(5, "", "processed.jsonl"))
    assert renamed.restarted == "cursor segment 'processed.jsonl' is not a segment name"
    assert len(renamed.entries) == 3
    # The segment the cursor is in deleted: reading goes on from the first there is.
    partial = read_log(layout, max_lines=1)
    layout.store.delete(layout.segment_key(0))
    after = read_log(layout, partial.cursor)
    assert after.restarted is not None and [e.raw for e in after.entries] == ["raw/env0/b-0.csv"]


def _write_many(layout: ObjectLayout, writer: str, segments: int, lines: int) -> list[int]:
    """Write ``segments`` segments of ``lines`` lines, each after the last this writer saw."""
    claimed: list[int] = []
    seen = last_sequence(layout)
    for i in range(segments):
        seen = write_segment(layout, _lines(f"{writer}-{i}", lines), after=seen, day_lines={})
        claimed.append(seen)
    return claimed


def _assert_log_complete(layout: ObjectLayout, claimed: list[int], expected: set[str]) -> None:
    assert len(claimed) == len(set(claimed)), "a sequence number claimed twice"
    assert sorted(claimed) == list(range(len(claimed))), "segments not contiguous from 0"
    assert [s.sequence for s in list_segments(layout)] == list(range(len(claimed)))
    raws = _raws(layout)
    assert len(raws) == len(set(raws)) and set(raws) == expected


def test_racing_writer_threads_claim_each_number_once_and_lose_no_line(
    layout: ObjectLayout,
) -> None:
    writers, segments, lines = 6, 8, 3
    barrier = threading.Barrier(writers)
    results: dict[str, list[int]] = {}

    def run(name: str) -> None:
        barrier.wait()
        results[name] = _write_many(layout, name, segments, lines)

    threads = [threading.Thread(target=run, args=(f"w{n}",)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == writers
    claimed = [seq for seqs in results.values() for seq in seqs]
    expected = {
        f"raw/env0/w{n}-{i}-{j}.csv"
        for n in range(writers)
        for i in range(segments)
        for j in range(lines)
    }
    _assert_log_complete(layout, claimed, expected)


def _process_writer(
    url: str, writer: str, segments: int, barrier: Any, results: Any
) -> None:  # pragma: no cover (runs in a child process)
    layout = ObjectLayout(GICS, StoreRoot.open(url))
    barrier.wait(timeout=60)
    results.put((writer, _write_many(layout, writer, segments, 2)))


def test_racing_writer_processes_claim_each_number_once_and_lose_no_line(
    layout: ObjectLayout, s3_root: str
) -> None:
    # spawn, not fork: obstore's runtime threads do not survive a fork.
    context = multiprocessing.get_context("spawn")
    writers, segments = 3, 6
    barrier = context.Barrier(writers)
    results = context.Queue()
    children = [
        context.Process(target=_process_writer, args=(s3_root, f"p{n}", segments, barrier, results))
        for n in range(writers)
    ]
    assert os.environ["AWS_ENDPOINT_URL"]  # the children inherit the server's variables
    for child in children:
        child.start()
    found = dict(results.get(timeout=120) for _ in children)
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    claimed = [seq for seqs in found.values() for seq in seqs]
    expected = {
        f"raw/env0/p{n}-{i}-{j}.csv"
        for n in range(writers)
        for i in range(segments)
        for j in range(2)
    }
    _assert_log_complete(layout, claimed, expected)
