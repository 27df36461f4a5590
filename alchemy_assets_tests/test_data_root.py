"""open_root and the dispatch between a data root on disk and one on a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from alchemy_assets.data_root import (
    RootError,
    discover,
    layout_of,
    manifest_location,
    open_root,
    read_all,
    read_batch,
    root_text,
)
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.manifest_log import write_segment
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import StoreRoot

GICS = DatasetId.parse("sp/gics/1.0")


def test_a_store_url_opens_as_a_store_root(s3_root: str) -> None:
    bucket = s3_root.removesuffix("/fp")
    for text, url in [
        (bucket, bucket),
        (s3_root, s3_root),
        (s3_root + "/", s3_root),
        (f"{s3_root}/deeper/still", f"{s3_root}/deeper/still"),
    ]:
        root = open_root(text)
        assert isinstance(root, StoreRoot) and root.url == url
        assert root_text(root) == url


def test_a_store_url_with_an_empty_segment_is_a_root_error(s3_root: str) -> None:
    with pytest.raises(RootError, match="no empty path segment"):
        open_root(s3_root.replace("/fp", "//fp"))


def test_a_scheme_that_is_no_store_is_a_root_error() -> None:
    with pytest.raises(RootError, match=r"data root ftp://host/fp: ftp:// is not a store"):
        open_root("ftp://host/fp")


def test_a_local_folder_opens_as_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fp").mkdir()
    monkeypatch.chdir(tmp_path)
    root = open_root("fp")
    assert root == tmp_path / "fp" and isinstance(root, Path) and root.is_absolute()
    assert root_text(root) == str(tmp_path / "fp")


def test_a_missing_folder_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RootError, match=f"data root {tmp_path / 'gone'} is not a directory"):
        open_root(str(tmp_path / "gone"))
    assert open_root(str(tmp_path / "gone"), must_exist=False) == tmp_path / "gone"


def _line(name: str) -> bytes:
    return encode_line(f"raw/env0/{name}", f"bronze/{name}", 1.0, 1)


def test_the_same_calls_read_a_manifest_on_disk_and_on_a_store(
    tmp_path: Path, s3_root: str
) -> None:
    disk = open_root(str(tmp_path))
    store = open_root(s3_root)
    disk_layout = layout_of(disk, GICS)
    store_layout = layout_of(store, GICS)
    assert isinstance(disk_layout, DatasetLayout) and isinstance(store_layout, ObjectLayout)
    disk_layout.ensure()
    disk_layout.manifest.write_bytes(_line("a.csv") + _line("b.csv"))
    write_segment(store_layout, [_line("a.csv")], after=None, day_lines={})
    write_segment(store_layout, [_line("b.csv")], after=0, day_lines={})
    for layout in (disk_layout, store_layout):
        assert [
            found.dataset_id for found in discover(disk if layout is disk_layout else store)
        ] == [GICS]
        first = read_batch(layout, None, max_lines=1)
        second = read_batch(layout, first.cursor, max_lines=10)
        assert [e.raw for e in first.entries + second.entries] == [
            "raw/env0/a.csv",
            "raw/env0/b.csv",
        ]
        assert second.at_end
        assert [e.raw for batch in read_all(layout) for e in batch.entries] == [
            "raw/env0/a.csv",
            "raw/env0/b.csv",
        ]
    assert manifest_location(store_layout) == f"{s3_root}/sp/gics/1.0/manifests/processed/"
    assert manifest_location(disk_layout) == str(disk_layout.manifest)
