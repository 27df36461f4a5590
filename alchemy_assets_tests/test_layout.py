import os
from pathlib import Path

import pytest

from alchemy_assets.layout import (
    DatasetId,
    DatasetLayout,
    LayoutError,
    discover_datasets,
    normalize_relpath,
)


def test_dataset_id_parses_vendor_dataset_version() -> None:
    assert DatasetId.parse("sp/gics_cwiq_pipe/1.0") == DatasetId("sp", "gics_cwiq_pipe", "1.0")
    assert str(DatasetId.parse("/sp/gics/1.0/")) == "sp/gics/1.0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sp/gics", "expected VENDOR/DATASET/VERSION (three parts), got 2"),
        ("sp/gics/1.0/x", "expected VENDOR/DATASET/VERSION (three parts), got 4"),
        ("sp/../1.0", "dataset 'sp/../1.0': dataset '..' must start with a letter or digit"),
        ("sp//1.0", "dataset 'sp//1.0': dataset '' must start with a letter or digit"),
        ("sp/gi cs/1.0", "dataset 'sp/gi cs/1.0': dataset 'gi cs' must start"),
    ],
)
def test_a_bad_dataset_id_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(LayoutError) as err:
        DatasetId.parse(text)
    assert message in str(err.value)


def test_layout_has_the_six_layers_under_the_dataset_root(tmp_path: Path) -> None:
    layout = DatasetLayout.under(tmp_path, DatasetId("sp", "gics", "1.0"))
    layout.ensure()
    assert layout.root == tmp_path / "sp" / "gics" / "1.0"
    assert sorted(p.name for p in layout.root.iterdir()) == [
        "bronze",
        "gold",
        "manifests",
        "raw",
        "samples",
        "silver",
    ]
    assert layout.manifest == layout.root / "manifests" / "processed.jsonl"
    assert layout.daily_manifest("2026-01-18").name == "processed_2026-01-18.jsonl"


def test_a_relative_prefix_gives_an_absolute_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    layout = DatasetLayout.under("fp", DatasetId("sp", "x", "1"))
    assert layout.root == tmp_path / "fp" / "sp" / "x" / "1"


def test_resolve_keeps_paths_inside_the_root(tmp_path: Path) -> None:
    layout = DatasetLayout.under(tmp_path, DatasetId("a", "b", "c"))
    layout.ensure()
    assert layout.resolve("bronze/x.csv") == Path(os.path.realpath(layout.root)) / "bronze/x.csv"


@pytest.mark.parametrize(
    ("relpath", "message"),
    [
        ("../outside.csv", "is not a plain path relative to"),
        ("/etc/passwd", "is not a plain path relative to"),
        ("bronze/\x00x", "holds a NUL byte"),
        ("bronze/escape/secret", "leads outside"),
    ],
)
def test_resolve_refuses_paths_that_leave_the_root(
    tmp_path: Path, relpath: str, message: str
) -> None:
    layout = DatasetLayout.under(tmp_path / "fp", DatasetId("a", "b", "c"))
    layout.ensure()
    (tmp_path / "secret").mkdir()
    (layout.bronze / "escape").symlink_to(tmp_path)
    with pytest.raises(LayoutError, match=message):
        layout.resolve(relpath)


def test_normalize_relpath_accepts_an_absolute_path_inside_the_root(tmp_path: Path) -> None:
    assert normalize_relpath(f"{tmp_path}/raw/env0/a.csv", tmp_path) == "raw/env0/a.csv"
    assert normalize_relpath("raw/./env0//a.csv", tmp_path) == "raw/env0/a.csv"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/elsewhere/raw/env0/a.csv", "is outside the dataset root"),
        ("raw/../../x", "contains '..'"),
        ("", "path is empty"),
        (".", "names no file"),
        ("raw/\x00", "NUL byte"),
    ],
)
def test_normalize_relpath_rejects_paths_outside_the_root(
    tmp_path: Path, path: str, message: str
) -> None:
    with pytest.raises(LayoutError, match=message):
        normalize_relpath(path, tmp_path)


def test_discover_finds_every_dataset_with_a_manifest(tmp_path: Path) -> None:
    for name in ("sp/gics/1.0", "acme/prices/2"):
        layout = DatasetLayout.under(tmp_path, DatasetId.parse(name))
        layout.ensure()
        layout.manifest.touch()
    DatasetLayout.under(tmp_path, DatasetId.parse("no/manifest/1")).ensure()
    found = [str(layout.dataset_id) for layout in discover_datasets(tmp_path)]
    assert found == ["acme/prices/2", "sp/gics/1.0"]
