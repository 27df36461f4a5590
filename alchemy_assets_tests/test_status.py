import json
from pathlib import Path

from alchemy_assets.delivery import Delivery
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.manifest_reader import read_manifest
from alchemy_assets.status import (
    Backlog,
    DatasetStatus,
    LeftBehindRun,
    backlog_of,
    classify,
    format_status,
    scan_manifest,
    status_document,
)


def _line(name: str, mtime: float) -> bytes:
    return encode_line(f"raw/env0/{name}", f"bronze/{name}", mtime)


def test_the_scan_keeps_the_latest_mtime_per_file_and_the_bad_lines(tmp_path: Path) -> None:
    manifest = tmp_path / "processed.jsonl"
    manifest.write_bytes(_line("a.csv", 1) + b"{bad\n" + _line("a.csv", 2) + _line("b.csv", 3))
    scan = scan_manifest(manifest, tmp_path)
    assert scan.latest == {"env0/a.csv": Delivery(2.0), "env0/b.csv": Delivery(3.0)}
    assert (len(scan.line_starts), scan.size, scan.quarantined) == (4, manifest.stat().st_size, 1)
    (reject,) = scan.last_quarantined
    assert reject.startswith(f"{manifest}:{len(_line('a.csv', 1))}: invalid JSON")


def test_backlog_counts_complete_lines_after_a_cursor_and_all_of_a_replaced_file(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "processed.jsonl"
    manifest.write_bytes(_line("a.csv", 1) + _line("b.csv", 1))
    cursor = read_manifest(manifest, tmp_path, max_lines=1).cursor
    with manifest.open("ab") as f:
        f.write(_line("c.csv", 1) + b'{"raw": "partial')
    scan = scan_manifest(manifest, tmp_path)
    assert scan.backlog(cursor) == Backlog(2, scan.size - len(_line("a.csv", 1)))
    assert scan.backlog(None) == Backlog(3, scan.size)
    manifest.write_bytes(_line("z.csv", 9) * 3)
    assert scan_manifest(manifest, tmp_path).backlog(cursor) == Backlog(3, manifest.stat().st_size)


def test_the_consumer_that_read_furthest_sets_the_backlog(tmp_path: Path) -> None:
    manifest = tmp_path / "processed.jsonl"
    manifest.write_bytes(_line("a.csv", 1) + _line("b.csv", 1))
    one = read_manifest(manifest, tmp_path, max_lines=1).cursor
    scan = scan_manifest(manifest, tmp_path)
    each, backlog, by = backlog_of(scan, {"sensor": None, "stage": one})
    assert (each["sensor"], backlog, by) == (None, Backlog(1, scan.size - one.offset), "stage")
    assert backlog_of(scan, {"sensor": None})[1:] == (Backlog(2, scan.size), None)


def test_every_file_is_up_to_date_stale_or_unsampled() -> None:
    latest = {"a": Delivery(1.0), "b": Delivery(2.0), "c": Delivery(3.0)}
    sampled = {"a": Delivery(1.0), "b": Delivery(1.5), "x": Delivery(9.0)}
    assert classify(latest, sampled) == (1, ["b"], ["c"])


def test_a_restatement_that_kept_its_mtime_but_not_its_size_is_stale() -> None:
    latest = {"kept": Delivery(1.0, 27), "same": Delivery(1.0, 21), "other": Delivery(1.0, 9)}
    sampled = {"kept": Delivery(1.0, 21), "same": Delivery(1.0, 21), "other": Delivery(1.0)}
    assert classify(latest, sampled) == (2, ["kept"], [])


def _status() -> DatasetStatus:
    return DatasetStatus(
        dataset="sp/x/1",
        manifest="/fp/sp/x/1/manifests/processed.jsonl",
        manifest_lines=6,
        manifest_bytes=600,
        files=4,
        partitions=3,
        up_to_date=1,
        stale=["env0/b.csv"],
        unsampled=["env0/c.csv", "env0/d.csv"],
        failed={"env0/c.csv": "unknown format"},
        cursors={"sensor": None, "stage": Backlog(1, 100)},
        backlog=Backlog(1, 100),
        backlog_by="stage",
        quarantined=1,
        last_quarantined=["m:0: invalid JSON"],
    )


def test_the_text_form_has_one_aligned_line_per_figure() -> None:
    assert format_status(_status()).splitlines() == [
        "sp/x/1",
        "  manifest     6 lines, 600 bytes",
        "  files        4 in the manifest, 3 partitions",
        "  sampled      2 (1 up to date, 1 stale), 2 unsampled",
        "    stale: env0/b.csv",
        "    unsampled: env0/c.csv, env0/d.csv",
        "  failed       1",
        "    env0/c.csv: unknown format",
        "  backlog      1 line, 100 bytes (after the stage cursor; sensor: never ran, "
        "stage: 1 line)",
        "  quarantined  1 line",
        "    m:0: invalid JSON",
    ]


def test_the_json_form_has_stable_keys_and_bounded_examples() -> None:
    status = _status()
    status.unsampled = [f"k{i:02}" for i in range(25)]
    doc = json.loads(json.dumps(status_document(Path("/fp"), [status])))
    assert (doc["version"], doc["root"]) == (1, "/fp")
    (dataset,) = doc["datasets"]
    assert list(dataset) == [
        "dataset",
        "manifest",
        "files",
        "partitions",
        "sampled",
        "up_to_date",
        "stale",
        "unsampled",
        "failed",
        "not_data",
        "backlog",
        "cursors",
        "quarantined",
        "examples",
        "left_behind",
    ]
    assert dataset["unsampled"] == 25 and len(dataset["examples"]["unsampled"]) == 10
    assert dataset["backlog"] == {"lines": 1, "bytes": 100, "cursor": "stage"}
    assert dataset["cursors"] == {"sensor": None, "stage": {"lines": 1, "bytes": 100}}
    assert dataset["examples"]["failed"] == {"env0/c.csv": "unknown format"}
    assert dataset["left_behind"] == []


def test_runs_left_behind_are_listed_last_with_state_since_and_why() -> None:
    status = _status()
    status.left_behind = [
        LeftBehindRun("r1", "STARTED", 1_790_000_000.5, True, "its process 7 on h is gone"),
        LeftBehindRun("r2", "NOT_STARTED", 1_790_000_060.0, False, "run by process 8 on g"),
    ]
    assert format_status(status).splitlines()[-3:] == [
        "  left behind  2 runs",
        "    run r1, STARTED since 2026-09-21T14:13:20+00:00: its process 7 on h is gone; the "
        "next 'alchemy stage' marks it failed",
        "    run r2, NOT_STARTED since 2026-09-21T14:14:20+00:00: run by process 8 on g",
    ]
    assert format_status(_status()).splitlines()[-1] == "    m:0: invalid JSON"  # none: no line
    (dataset,) = status_document(Path("/fp"), [status])["datasets"]
    assert dataset["left_behind"][0] == {
        "run_id": "r1",
        "status": "STARTED",
        "since": "2026-09-21T14:13:20+00:00",
        "gone": True,
        "reason": "its process 7 on h is gone",
    }
