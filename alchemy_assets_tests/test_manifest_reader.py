import os
import tracemalloc
from pathlib import Path

import pytest

from alchemy_assets.manifest_line import encode_line
from alchemy_assets.manifest_reader import ManifestCursor, read_manifest, read_whole_manifest


def _line(name: str, mtime: float = 1.0) -> bytes:
    return encode_line(f"raw/env0/{name}", f"bronze/2026/01/18/000000--{name}", mtime)


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifests" / "processed.jsonl"
    path.parent.mkdir()
    return path


def test_reading_from_the_start_returns_every_line_and_a_cursor_at_the_end(
    manifest: Path,
) -> None:
    manifest.write_bytes(_line("a") + _line("b"))
    batch = read_manifest(manifest, manifest.parent.parent)
    assert [e.raw for e in batch.entries] == ["raw/env0/a", "raw/env0/b"]
    assert [e.offset for e in batch.entries] == [0, len(_line("a"))]
    assert batch.cursor.offset == manifest.stat().st_size
    assert batch.at_end and batch.restarted is None and batch.backlog_bytes == 0


def test_a_later_read_returns_only_the_new_lines(manifest: Path) -> None:
    manifest.write_bytes(_line("a"))
    first = read_manifest(manifest, manifest.parent.parent)
    with manifest.open("ab") as f:
        f.write(_line("b"))
    second = read_manifest(manifest, manifest.parent.parent, first.cursor)
    assert [e.raw for e in second.entries] == ["raw/env0/b"]
    assert second.start_offset == first.cursor.offset


def test_a_partial_last_line_is_not_consumed_until_its_newline_arrives(manifest: Path) -> None:
    whole = _line("b")
    manifest.write_bytes(_line("a") + whole[:10])
    first = read_manifest(manifest, manifest.parent.parent)
    assert [e.raw for e in first.entries] == ["raw/env0/a"]
    assert first.cursor.offset == len(_line("a"))
    assert first.backlog_bytes == 10
    with manifest.open("ab") as f:
        f.write(whole[10:])
    second = read_manifest(manifest, manifest.parent.parent, first.cursor)
    assert [e.raw for e in second.entries] == ["raw/env0/b"]
    assert second.rejects == []


def test_truncation_starts_over_from_zero(manifest: Path) -> None:
    manifest.write_bytes(_line("a") + _line("b"))
    cursor = read_manifest(manifest, manifest.parent.parent).cursor
    manifest.write_bytes(_line("c"))  # copy-truncate, then a new line
    batch = read_manifest(manifest, manifest.parent.parent, cursor)
    assert batch.restarted is not None and "shorter than the cursor" in batch.restarted
    assert [e.raw for e in batch.entries] == ["raw/env0/c"]


def test_a_same_size_replacement_is_noticed_and_read_from_zero(manifest: Path) -> None:
    manifest.write_bytes(_line("a") + _line("b"))
    cursor = read_manifest(manifest, manifest.parent.parent).cursor
    manifest.write_bytes(_line("x") + _line("y") + _line("z"))
    batch = read_manifest(manifest, manifest.parent.parent, cursor)
    assert batch.restarted is not None and "changed" in batch.restarted
    assert [e.raw for e in batch.entries] == ["raw/env0/x", "raw/env0/y", "raw/env0/z"]


def test_rename_and_recreate_is_read_from_zero(manifest: Path) -> None:
    manifest.write_bytes(_line("a") + _line("b"))
    cursor = read_manifest(manifest, manifest.parent.parent).cursor
    manifest.rename(manifest.with_name("processed.jsonl.1"))
    missing = read_manifest(manifest, manifest.parent.parent, cursor)
    assert missing.entries == [] and missing.cursor == cursor
    manifest.write_bytes(_line("c") + _line("d") + _line("e"))
    batch = read_manifest(manifest, manifest.parent.parent, cursor)
    assert batch.restarted is not None
    assert [e.raw for e in batch.entries] == ["raw/env0/c", "raw/env0/d", "raw/env0/e"]


def test_bad_lines_come_back_with_file_offset_and_reason_and_the_rest_flows(
    manifest: Path,
) -> None:
    manifest.write_bytes(_line("a") + b"not json\n" + b'{"mtime": true}\n' + _line("b"))
    batch = read_manifest(manifest, manifest.parent.parent)
    assert [e.raw for e in batch.entries] == ["raw/env0/a", "raw/env0/b"]
    assert [(r.file, r.offset) for r in batch.rejects] == [
        (str(manifest), len(_line("a"))),
        (str(manifest), len(_line("a")) + 9),
    ]
    assert "invalid JSON" in batch.rejects[0].reason
    assert batch.rejects[1].reason == "missing fields raw, bronze"
    assert str(batch.rejects[0]).startswith(f"{manifest}:{len(_line('a'))}: invalid JSON")


def test_a_huge_line_is_rejected_without_being_loaded(manifest: Path) -> None:
    huge = b'{"raw": "' + b"x" * (10 * 1024 * 1024) + b'"}\n'
    manifest.write_bytes(_line("a") + huge + _line("b"))
    tracemalloc.start()
    try:
        batch = read_manifest(manifest, manifest.parent.parent)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e.raw for e in batch.entries] == ["raw/env0/a", "raw/env0/b"]
    assert [r.reason for r in batch.rejects] == [
        f"line of {len(huge)} bytes exceeds {1024 * 1024} bytes"
    ]
    assert peak < len(huge) // 2  # the 10 MB line never sits in memory whole


def test_a_huge_line_still_being_written_is_not_consumed(manifest: Path) -> None:
    manifest.write_bytes(_line("a") + b"x" * (3 * 1024 * 1024))
    batch = read_manifest(manifest, manifest.parent.parent)
    assert batch.rejects == [] and batch.cursor.offset == len(_line("a"))


def test_max_lines_caps_one_read_and_the_next_read_goes_on(manifest: Path) -> None:
    manifest.write_bytes(b"".join(_line(f"f{i}") for i in range(10)))
    first = read_manifest(manifest, manifest.parent.parent, max_lines=4)
    assert len(first.entries) == 4 and not first.at_end
    assert first.backlog_bytes == 6 * len(_line("f0"))
    assert first.backlog_lines == 6
    rest = read_manifest(manifest, manifest.parent.parent, first.cursor, max_lines=100)
    assert [e.raw for e in rest.entries] == [f"raw/env0/f{i}" for i in range(4, 10)]


def test_a_cap_that_falls_on_the_last_complete_line_is_the_end(manifest: Path) -> None:
    manifest.write_bytes(b"".join(_line(f"f{i}") for i in range(4)) + b'{"raw": "raw/en')
    batch = read_manifest(manifest, manifest.parent.parent, max_lines=4)
    assert len(batch.entries) == 4 and batch.at_end
    assert (batch.backlog_lines, batch.backlog_bytes) == (0, len(b'{"raw": "raw/en'))


def test_a_missing_manifest_reads_as_empty(tmp_path: Path) -> None:
    batch = read_manifest(tmp_path / "none.jsonl", tmp_path)
    assert batch.entries == [] and batch.cursor == ManifestCursor()


def test_a_cursor_survives_a_round_trip_through_a_dict(manifest: Path) -> None:
    manifest.write_bytes(_line("a"))
    cursor = read_manifest(manifest, manifest.parent.parent).cursor
    assert ManifestCursor.from_dict(cursor.to_dict()) == cursor
    with pytest.raises(ValueError, match="offset must be a non-negative integer"):
        ManifestCursor.from_dict({"offset": -1, "fingerprint": ""})
    with pytest.raises(ValueError, match="fingerprint must be a string"):
        ManifestCursor.from_dict({"offset": 0})


def test_an_unchanged_file_gives_the_same_cursor_twice(manifest: Path) -> None:
    manifest.write_bytes(_line("a"))
    first = read_manifest(manifest, manifest.parent.parent)
    again = read_manifest(manifest, manifest.parent.parent, first.cursor)
    assert again.cursor == first.cursor and again.entries == []
    os.utime(manifest, (0, 0))
    assert read_manifest(manifest, manifest.parent.parent, first.cursor).restarted is None


def test_a_short_backlog_is_counted_and_a_long_one_estimated(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest.write_bytes(_line("a") + _line("b" * 200) + _line("c") + b'{"raw"')
    counted = read_manifest(manifest, tmp_path, max_lines=1)
    assert (counted.backlog_lines, counted.backlog_lines_exact) == (2, True)
    monkeypatch.setattr("alchemy_assets.manifest_reader.COUNT_BACKLOG_BYTES", 0)
    estimated = read_manifest(manifest, tmp_path, max_lines=1)
    mean_estimate = round(estimated.backlog_bytes / len(_line("a")))
    assert (estimated.backlog_lines, estimated.backlog_lines_exact) == (mean_estimate, False)
    assert mean_estimate == 7


def test_the_whole_manifest_is_read_in_bounded_batches(manifest: Path) -> None:
    manifest.write_bytes(b"".join(_line(f"f{i}") for i in range(7)) + b"not json\n")
    batches = list(read_whole_manifest(manifest, manifest.parent.parent, max_lines=3))
    assert [len(b.entries) + len(b.rejects) for b in batches] == [3, 3, 2]
    assert [e.raw for b in batches for e in b.entries] == [f"raw/env0/f{i}" for i in range(7)]
    assert [b.at_end for b in batches] == [False, False, True]


def test_a_manifest_replaced_while_read_whole_says_so(manifest: Path) -> None:
    manifest.write_bytes(b"".join(_line(f"f{i}") for i in range(4)))
    batches = read_whole_manifest(manifest, manifest.parent.parent, max_lines=2)
    assert [e.raw for e in next(batches).entries] == ["raw/env0/f0", "raw/env0/f1"]
    manifest.write_bytes(_line("new"))  # copy-truncate between two batches
    rest = list(batches)
    assert rest[0].restarted is not None
    assert [e.raw for b in rest for e in b.entries] == ["raw/env0/new"]
