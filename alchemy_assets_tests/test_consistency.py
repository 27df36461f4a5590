import os

from alchemy_assets.consistency import SampledFile, check_consistency
from alchemy_assets.delivery import Delivery
from alchemy_assets.layout import DatasetLayout

BRONZE = "bronze/2026/01/18/143000--data.csv"


def _bronze(layout: DatasetLayout, data: bytes = b"a\n1\n", mtime: float = 100.0) -> None:
    path = layout.root / BRONZE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_a_sample_of_an_unchanged_bronze_file_at_the_latest_mtime_passes(
    layout: DatasetLayout,
) -> None:
    _bronze(layout)
    verdict = check_consistency(layout, SampledFile(BRONZE, 100.0, 4), Delivery(100.0))
    assert verdict.passed
    assert verdict.compared == {
        "bronze": BRONZE,
        "sample_mtime": 100.0,
        "latest_manifest_mtime": 100.0,
        "recorded_size": 4,
        "bronze_mtime": 100.0,
        "bronze_size": 4,
    }


def test_a_missing_bronze_file_fails_without_raising(layout: DatasetLayout) -> None:
    verdict = check_consistency(layout, SampledFile(BRONZE, 100.0, 4), Delivery(100.0))
    assert verdict.problems == [f"{BRONZE}: bronze file is missing"]


def test_a_changed_size_or_mtime_fails(layout: DatasetLayout) -> None:
    _bronze(layout, b"a\n1\n2\n", 101.0)
    verdict = check_consistency(layout, SampledFile(BRONZE, 100.0, 4), Delivery(100.0))
    assert verdict.problems == [
        f"{BRONZE}: mtime 101.0 differs from the manifest's 100.0 (bronze rewritten after ingest?)",
        f"{BRONZE}: size 6 bytes differs from the 4 bytes recorded when it was sampled",
    ]


def test_without_a_recorded_size_only_existence_and_mtime_are_compared(
    layout: DatasetLayout,
) -> None:
    _bronze(layout, b"a\n1\n2\n")
    assert check_consistency(layout, SampledFile(BRONZE, 100.0), Delivery(100.0)).passed


def test_a_newer_manifest_line_makes_the_sample_stale(layout: DatasetLayout) -> None:
    _bronze(layout)
    verdict = check_consistency(layout, SampledFile(BRONZE, 100.0, 4), Delivery(150.0))
    assert verdict.problems == [
        "stale: the latest manifest line has mtime 150.0, the sample was taken at 100.0"
    ]
    restated = check_consistency(layout, SampledFile(BRONZE, 100.0, 4), Delivery(100.0, 9))
    assert restated.problems == [
        "stale: the latest manifest line is another delivery: size changed from 4 to 9 bytes "
        "(same mtime 100.0)"
    ]
    gone = check_consistency(layout, SampledFile(BRONZE, 100.0, 4), None)
    assert gone.problems == ["no valid manifest line names this file"]


def test_a_path_outside_the_dataset_root_is_refused_not_read(layout: DatasetLayout) -> None:
    verdict = check_consistency(layout, SampledFile("../../etc/passwd", 1.0), Delivery(1.0))
    assert verdict.problems == [
        f"../../etc/passwd: refused: path '../../etc/passwd' is not a plain path relative "
        f"to {layout.root}"
    ]


def test_a_sampling_error_is_a_problem_of_its_own(layout: DatasetLayout) -> None:
    _bronze(layout)
    verdict = check_consistency(layout, SampledFile(BRONZE, 100.0), Delivery(100.0), "corrupt")
    assert verdict.problems == ["not sampled at mtime 100.0: corrupt"]
