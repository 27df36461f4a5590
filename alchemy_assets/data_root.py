"""The data root ``FP_PREFIX``: a folder on disk or a prefix on an object store, and the one
place that tells them apart.

``open_root("s3://lake/fp")`` is a :class:`~alchemy_assets.object_store.StoreRoot`, anything
else a :class:`~pathlib.Path`. Each function below takes either kind of dataset layout and
calls the disk or the store implementation: the rest of the platform (the sensor's tick,
staging, status, discovery) reads the manifest through :func:`read_batch` and
:func:`read_all` without knowing which.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from alchemy_assets.layout import DatasetId, DatasetLayout, discover_datasets
from alchemy_assets.manifest_log import read_log, read_whole_log
from alchemy_assets.manifest_reader import (
    ManifestCursor,
    ReadBatch,
    read_manifest,
    read_whole_manifest,
)
from alchemy_assets.object_layout import ObjectLayout, discover_object_datasets
from alchemy_assets.object_store import StoreError, StoreMissingError, StoreRoot, is_store_url
from alchemy_assets.options import OPTIONS_NAME, OptionsError, StagingOptions

DataRoot = Path | StoreRoot
Layout = DatasetLayout | ObjectLayout


class RootError(ValueError):
    """A data root that cannot be used; the message names it and says why."""


def open_root(text: str, *, must_exist: bool = True) -> DataRoot:
    """``text`` as a data root: a store URL, or a folder (made absolute; with ``must_exist``,
    it must be a folder). Raises :class:`RootError`."""
    if is_store_url(text):
        try:
            return StoreRoot.open(text)
        except StoreError as err:
            raise RootError(str(err)) from None
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise RootError(
            f"data root {text}: {scheme}:// is not a store this platform reads "
            "(s3://, gs:// and az:// are; anything else is a local folder)"
        )
    path = Path(text)
    if must_exist and not path.is_dir():
        raise RootError(f"data root {path} is not a directory")
    return path.absolute()


def root_text(root: DataRoot) -> str:
    """The root as ``FP_PREFIX`` spells it (a URL, or an absolute path)."""
    return root.url if isinstance(root, StoreRoot) else str(root)


def layout_of(root: DataRoot, dataset_id: DatasetId) -> Layout:
    """The layout of dataset ``dataset_id`` under ``root``."""
    if isinstance(root, StoreRoot):
        return ObjectLayout(dataset_id, root)
    return DatasetLayout.under(root, dataset_id)


def discover(root: DataRoot) -> list[Layout]:
    """Every dataset under ``root`` that has a manifest, sorted by id."""
    if isinstance(root, StoreRoot):
        return list(discover_object_datasets(root))
    return list(discover_datasets(root))


def read_batch(layout: Layout, cursor: ManifestCursor | None, *, max_lines: int) -> ReadBatch:
    """At most ``max_lines`` manifest lines after ``cursor`` (file or segment log)."""
    if isinstance(layout, ObjectLayout):
        return read_log(layout, cursor, max_lines=max_lines)
    return read_manifest(layout.manifest, layout.root, cursor, max_lines=max_lines)


def read_all(layout: Layout) -> Iterator[ReadBatch]:
    """Every manifest line from the start, in bounded batches."""
    if isinstance(layout, ObjectLayout):
        return read_whole_log(layout)
    return read_whole_manifest(layout.manifest, layout.root)


def manifest_location(layout: Layout) -> str:
    """The manifest's path or URL, as metadata and messages show it."""
    return str(layout.manifest)


def load_options(base: StagingOptions, layout: Layout) -> StagingOptions:
    """``base`` overridden by the dataset's ``alchemy.toml`` (a file, or an object)."""
    if isinstance(layout, DatasetLayout):
        return base.load(layout.root)
    shown = layout.describe(OPTIONS_NAME)
    try:
        data = layout.store.get(layout.key(OPTIONS_NAME))
    except StoreMissingError:
        return base
    except StoreError as err:
        raise OptionsError(f"{shown}: cannot be read: {err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise OptionsError(f"{shown}: not valid TOML: not UTF-8 ({err})") from None
    return base.loaded(text, shown)
