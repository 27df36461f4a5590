"""The record of the bronze folders an ingest copies into, and the sweep of its temp files."""

import json
from pathlib import Path

import pytest

from alchemy_assets.ingest_temps import FOLDERS_NAME, SweepError, TempFolders, sweep
from alchemy_assets.layout import DatasetLayout


def _day(layout: DatasetLayout, day: str) -> Path:
    folder = layout.bronze / day
    folder.mkdir(parents=True)
    return folder


def test_each_folder_is_recorded_once_before_its_first_copy_and_the_record_goes_at_the_end(
    layout: DatasetLayout,
) -> None:
    temps = TempFolders(layout)
    for day in ("2026/01/18", "2026/01/18", "2026/01/19"):
        temps.note(layout.bronze / day)
    assert json.loads((layout.manifests / FOLDERS_NAME).read_text()) == [
        "bronze/2026/01/18",
        "bronze/2026/01/19",
    ]
    temps.done()
    assert not (layout.manifests / FOLDERS_NAME).exists()


def test_the_sweep_removes_only_temp_copies_in_the_recorded_folders(
    layout: DatasetLayout,
) -> None:
    recorded, other = _day(layout, "2026/01/18"), _day(layout, "2026/01/19")
    for folder in (recorded, other):
        (folder / ".alchemy-abcd1234.tmp").write_bytes(b"partial")
        (folder / "143000--data.csv").write_bytes(b"a,b\n")
        (folder / ".alchemy-notes.txt").write_bytes(b"not ours")
    (recorded / ".alchemy-dir.tmp").mkdir()
    TempFolders(layout).note(recorded)
    assert sweep(layout).removed == 1
    assert sorted(p.name for p in recorded.iterdir()) == [
        ".alchemy-dir.tmp",
        ".alchemy-notes.txt",
        "143000--data.csv",
    ]
    assert (other / ".alchemy-abcd1234.tmp").exists()  # not recorded by the killed ingest
    assert not (layout.manifests / FOLDERS_NAME).exists()
    assert sweep(layout).removed == 0  # nothing recorded: nothing to do


def test_a_recorded_folder_that_is_gone_or_reached_through_a_link_is_not_swept(
    layout: DatasetLayout, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / ".alchemy-abcd1234.tmp").write_bytes(b"someone else's")
    inside = layout.samples / "env0"  # a link that stays inside the root is refused too
    inside.mkdir(parents=True)
    (inside / ".alchemy-sample.csv.x1.tmp").write_bytes(b"a live sample being written")
    (layout.bronze / "2026").mkdir(parents=True)
    (layout.bronze / "2026" / "01").symlink_to(outside)
    (layout.bronze / "2026" / "02").symlink_to(inside)
    temps = TempFolders(layout)
    (layout.bronze / "2026" / "03").write_bytes(b"a file where a folder was recorded")
    for day in ("2026/01/18", "2026/02", "2025/12/31", "2026/03"):
        temps.note(layout.bronze / day)
    swept = sweep(layout)
    assert swept.removed == 0
    assert [folder.split(":")[0] for folder in swept.not_swept] == [
        "bronze/2026/01/18",
        "bronze/2026/02",
        "bronze/2026/03",
    ]
    assert "symbolic link" in swept.not_swept[0]
    assert (outside / ".alchemy-abcd1234.tmp").exists()
    assert (inside / ".alchemy-sample.csv.x1.tmp").exists()


def test_a_folder_whose_record_cannot_be_written_stays_unrecorded(
    layout: DatasetLayout,
) -> None:
    temps = TempFolders(layout)
    temps.note(layout.bronze / "2026/01/18")
    (layout.manifests / f"{FOLDERS_NAME}.tmp").mkdir()  # the record's temp name is taken
    for _ in range(2):  # the second file into the folder must try again, not skip
        with pytest.raises(OSError):
            temps.note(layout.bronze / "2026/01/19")
    assert json.loads((layout.manifests / FOLDERS_NAME).read_text()) == ["bronze/2026/01/18"]


@pytest.mark.parametrize(
    "text, says",
    [
        ("{not json", "unreadable"),
        ('["../../etc"]', "outside bronze/"),
        ('["bronze/../raw/env0"]', "outside bronze/"),
        ('{"bronze/2026": 1}', "outside bronze/"),
        ('["raw/env0"]', "outside bronze/"),
    ],
)
def test_a_record_that_is_unreadable_or_names_a_folder_outside_bronze_is_refused(
    layout: DatasetLayout, text: str, says: str
) -> None:
    layout.manifests.mkdir(parents=True, exist_ok=True)
    (layout.manifests / FOLDERS_NAME).write_text(text)
    with pytest.raises(SweepError, match=f"{FOLDERS_NAME}.*{says}.*-delete\\), then "):
        sweep(layout)
    assert (layout.manifests / FOLDERS_NAME).exists()  # left for a person to look at
