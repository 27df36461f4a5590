"""ObjectLayout: the keys of a dataset root on a store, and nothing outside it."""

from __future__ import annotations

import pytest

from alchemy_assets.layout import DatasetId, LayoutError
from alchemy_assets.object_layout import ObjectLayout, datasets_with_raw, discover_object_datasets
from alchemy_assets.object_store import StoreRoot


@pytest.fixture
def store(s3_root: str) -> StoreRoot:
    return StoreRoot.open(s3_root)


@pytest.fixture
def layout(store: StoreRoot) -> ObjectLayout:
    return ObjectLayout(DatasetId.parse("sp/gics/1.0"), store)


def test_the_layout_names_the_dataset_root_under_the_store_prefix(
    layout: ObjectLayout, s3_root: str
) -> None:
    assert layout.prefix == "sp/gics/1.0"
    assert layout.root == f"{s3_root}/sp/gics/1.0"
    assert layout.raw == "sp/gics/1.0/raw/"
    assert layout.manifest == f"{s3_root}/sp/gics/1.0/manifests/processed/"
    assert layout.key("raw/env0/a.csv") == "sp/gics/1.0/raw/env0/a.csv"
    assert layout.describe("raw/env0/a.csv") == f"{s3_root}/sp/gics/1.0/raw/env0/a.csv"


@pytest.mark.parametrize(
    "relpath",
    ["../other/raw/a", "raw/../../x", "raw/./a", ".", "a//b", "raw/", "", "/etc/passwd"],
)
def test_a_key_outside_the_root_or_with_an_empty_segment_is_refused(
    layout: ObjectLayout, relpath: str
) -> None:
    with pytest.raises(LayoutError, match="is not a plain key relative to s3://"):
        layout.key(relpath)


def test_a_key_with_a_nul_byte_is_refused(layout: ObjectLayout) -> None:
    with pytest.raises(LayoutError, match="holds a NUL byte"):
        layout.key("raw/env0/a\x00.csv")


def test_relative_undoes_key_and_refuses_a_key_of_another_dataset(layout: ObjectLayout) -> None:
    assert layout.relative(layout.key("bronze/a.csv")) == "bronze/a.csv"
    with pytest.raises(LayoutError, match="is not under s3://"):
        layout.relative("sp/gics/1.01/bronze/a.csv")


def test_segment_keys_sort_in_sequence_order(layout: ObjectLayout) -> None:
    assert layout.segment_key(7) == "sp/gics/1.0/manifests/processed/00000000000000000007.jsonl"
    assert layout.daily_segment_key("2025-01-02", 7) == (
        "sp/gics/1.0/manifests/processed_2025-01-02/00000000000000000007.jsonl"
    )
    keys = [layout.segment_key(n) for n in (10, 9, 100, 0)]
    assert sorted(keys) == [layout.segment_key(n) for n in (0, 9, 10, 100)]


def test_discovery_finds_the_datasets_with_a_manifest_log_and_those_with_raw(
    store: StoreRoot,
) -> None:
    logged = ObjectLayout(DatasetId.parse("sp/gics/1.0"), store)
    store.put(logged.segment_key(0), b"")
    store.put("acme/prices/2/raw/env0/a.csv", b"x")
    store.put("acme/prices/2/manifests/other.txt", b"x")  # no segment log: not discovered
    store.put("bad/na me/1/manifests/processed/00000000000000000000.jsonl", b"")
    assert [layout.dataset_id for layout in discover_object_datasets(store)] == [
        DatasetId.parse("sp/gics/1.0")
    ]
    assert datasets_with_raw(store) == [DatasetId.parse("acme/prices/2")]
