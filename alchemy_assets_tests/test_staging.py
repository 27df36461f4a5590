import json

from alchemy_assets.delivery import Delivery
from alchemy_assets.format_options import options_for, parse_rules
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import ManifestEntry, Rejection
from alchemy_assets.manifest_reader import ManifestCursor, ReadBatch
from alchemy_assets.staging import (
    DueFile,
    StagingCursor,
    batches,
    decide,
    due_on_demand,
    latest_by_key,
)
from alchemy_assets_tests.conftest import RawWriter


def _entry(path: str, mtime: float) -> ManifestEntry:
    return ManifestEntry(f"raw/{path}", f"bronze/x--{mtime}", float(mtime))


def test_the_last_line_for_a_file_wins_and_keys_are_encoded() -> None:
    latest = latest_by_key(
        [_entry("env0/a.csv", 1), _entry("env0/b,c.csv", 1), _entry("env0/a.csv", 2)]
    )
    assert list(latest) == ["env0/a.csv", "env0/b%2Cc.csv"]
    assert latest["env0/a.csv"].mtime == 2


def test_only_files_whose_mtime_differs_from_their_sample_are_due() -> None:
    latest = latest_by_key(
        [_entry("env0/new.csv", 5), _entry("env0/same.csv", 1), _entry("env0/changed.csv", 3)]
    )
    due, unchanged = decide(
        latest, {"env0/same.csv": Delivery(1.0), "env0/changed.csv": Delivery(2.0)}
    )
    assert unchanged == 1
    assert [(d.key, d.mtime, d.reason) for d in due] == [
        ("env0/new.csv", 5.0, "new file"),
        ("env0/changed.csv", 3.0, "mtime changed from 2.0 to 3.0"),
    ]


def test_an_older_mtime_is_also_a_change() -> None:
    assert Delivery(2.5).change_from(Delivery(3.0)) == "mtime changed from 3.0 to 2.5"


def test_a_restatement_with_its_mtime_kept_is_due_by_its_size() -> None:
    restated = ManifestEntry("raw/env0/p.csv", "bronze/b2", 1.0, size=27)
    same = ManifestEntry("raw/env0/q.csv", "bronze/b3", 1.0, size=21)
    latest = latest_by_key([restated, same])
    due, unchanged = decide(
        latest, {"env0/p.csv": Delivery(1.0, 21), "env0/q.csv": Delivery(1.0, 21)}
    )
    assert unchanged == 1
    assert [(d.key, d.size, d.reason) for d in due] == [
        ("env0/p.csv", 27, "size changed from 21 to 27 bytes (same mtime 1.0)")
    ]


def test_a_line_without_a_size_keeps_the_mtime_only_rule() -> None:
    latest = latest_by_key([ManifestEntry("raw/env0/p.csv", "bronze/b2", 1.0)])
    assert decide(latest, {"env0/p.csv": Delivery(1.0, 21)}) == ([], 1)
    sized = latest_by_key([ManifestEntry("raw/env0/p.csv", "bronze/b2", 1.0, size=5)])
    assert decide(sized, {"env0/p.csv": Delivery(1.0)}) == ([], 1)


def test_a_checksum_the_sample_does_not_hold_is_a_new_delivery() -> None:
    line = ManifestEntry("raw/env0/p.csv", "bronze/b2", 1.0, size=5, sha256="a" * 64)
    latest = latest_by_key([line])
    assert decide(latest, {"env0/p.csv": Delivery(1.0, 5, "a" * 64)}) == ([], 1)
    (due,), _ = decide(latest, {"env0/p.csv": Delivery(1.0, 5, "b" * 64)})
    assert due.reason.startswith("content changed: sha256 bbbbbbbbbbbb… to aaaaaaaaaaaa…")
    (due,), _ = decide(latest, {"env0/p.csv": Delivery(1.0, 5)})
    assert due.reason.startswith("restated: content checksum recorded")
    assert due.sha256 == "a" * 64


def test_files_whose_configured_format_options_changed_are_due_again() -> None:
    rules = parse_rules({"env0/*.txt": {"delimiter": "|"}})
    fingerprint = options_for(rules, "env0/a.txt").fingerprint
    latest = latest_by_key([_entry("env0/a.txt", 1), _entry("env0/b.csv", 1)])
    sampled = {"env0/a.txt": Delivery(1.0), "env0/b.csv": Delivery(1.0)}
    (due,), unchanged = decide(latest, sampled, rules)
    assert (due.key, due.format, unchanged) == ("env0/a.txt", fingerprint, 1)
    assert due.reason == f"configured format options changed (fingerprint none to {fingerprint})"
    assert decide(latest, {**sampled, "env0/a.txt": due.delivery}, rules) == ([], 2)


def test_new_format_rules_read_the_manifest_again_from_the_start() -> None:
    cursor = StagingCursor(ManifestCursor(100, "ab"), lines=3)
    same, note = cursor.for_formats(None)
    assert (same, note) == (cursor, None)
    fresh, note = cursor.for_formats("abc123")
    assert fresh == StagingCursor(formats="abc123")
    assert note == (
        "format options changed (rules none to abc123): the manifest is read again from the "
        "start to re-sample the files they touch"
    )
    decoded, _ = StagingCursor.decode(fresh.encode())
    assert decoded.formats == "abc123"
    assert decoded.for_formats("abc123")[1] is None


def _due(key: str) -> DueFile:
    return DueFile(key, f"raw/{key}", "bronze/x", 1.0, "new file")


def test_batches_are_contiguous_partition_ranges_capped_in_size() -> None:
    order = {k: i for i, k in enumerate("abcdefghij")}
    due = [_due(k) for k in "jabcdfgh"]
    assert [[d.key for d in run] for run in batches(due, order, 3)] == [
        ["a", "b", "c"],
        ["d"],
        ["f", "g", "h"],
        ["j"],
    ]


def test_the_cursor_is_versioned_json_and_round_trips() -> None:
    cursor = StagingCursor(ManifestCursor(123, "abc"), 7, 2, ("m:0: bad", "m:9: worse"))
    text = cursor.encode()
    assert json.loads(text) == {
        "v": 1,
        "manifest": {"offset": 123, "fingerprint": "abc"},
        "lines": 7,
        "quarantined": 2,
        "last_quarantined": ["m:0: bad", "m:9: worse"],
    }
    assert StagingCursor.decode(text) == (cursor, None)
    assert StagingCursor.decode(None) == (StagingCursor(), None)
    # Written before last_quarantined existed (session 1's sensor cursors): still read.
    older = '{"v": 1, "manifest": {"offset": 5, "fingerprint": "x"}, "lines": 3, "quarantined": 1}'
    assert StagingCursor.decode(older) == (StagingCursor(ManifestCursor(5, "x"), 3, 1), None)


def test_a_malformed_display_field_keeps_the_position() -> None:
    text = '{"v": 1, "manifest": {"offset": 5, "fingerprint": "x"}, "last_quarantined": [1]}'
    assert StagingCursor.decode(text) == (StagingCursor(ManifestCursor(5, "x")), None)


def test_an_unreadable_cursor_starts_over_and_says_why() -> None:
    for text in (
        "garbage",
        '{"v": 9}',
        '{"v": 1, "manifest": {"offset": -4}}',
        '{"v": 1, "manifest": {"offset": 0, "fingerprint": ""}, "lines": -1}',
    ):
        cursor, note = StagingCursor.decode(text)
        assert cursor == StagingCursor()
        assert note is not None and "unreadable" in note and "reading from the start" in note


def test_counts_add_up_and_start_again_when_the_manifest_is_read_from_the_start() -> None:
    batch = ReadBatch(
        entries=[_entry("env0/a.csv", 1)],
        rejects=[Rejection("m", 0, "bad")],
        cursor=ManifestCursor(10, "f"),
    )
    cursor = StagingCursor(ManifestCursor(5, "e"), lines=4, quarantined=1).advanced(batch)
    assert (cursor.manifest.offset, cursor.lines, cursor.quarantined) == (10, 6, 2)
    batch.restarted = "truncated"
    assert StagingCursor(lines=4, quarantined=1).advanced(batch) == StagingCursor(
        ManifestCursor(10, "f"), 2, 1, ("m:0: bad",)
    )


def test_the_last_five_reasons_are_kept_across_cycles_and_dropped_on_a_restart() -> None:
    def rejecting(*offsets: int) -> ReadBatch:
        rejects = [Rejection("m", offset, "x" * 400) for offset in offsets]
        return ReadBatch(rejects=rejects, cursor=ManifestCursor(99, "f"))

    cursor = StagingCursor().advanced(rejecting(1, 2, 3)).advanced(ReadBatch())
    cursor = cursor.advanced(rejecting(4, 5, 6))
    assert [r.split(":")[1] for r in cursor.last_rejects] == ["2", "3", "4", "5", "6"]
    assert {len(r) for r in cursor.last_rejects} == {300}
    assert StagingCursor.decode(cursor.encode()) == (cursor, None)
    restart = rejecting(7)
    restart.restarted = "truncated"
    assert [r.split(":")[1] for r in cursor.advanced(restart).last_rejects] == ["7"]


def test_on_demand_takes_the_latest_manifest_line_of_each_key(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"a\n1\n", 1.0)
    ingest(layout)
    write_raw("env0/a.csv", b"a\n2\n", 2.0)
    ingest(layout)
    due, unknown = due_on_demand(layout, ["env0/a.csv", "env9/none.csv"])
    assert [(d.key, d.mtime, d.reason) for d in due] == [("env0/a.csv", 2.0, "on demand")]
    assert unknown == ["env9/none.csv"]
