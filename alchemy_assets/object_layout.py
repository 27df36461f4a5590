"""The layout of one dataset root ``R`` on an object store: the same keys as on disk.

``R = {FP_PREFIX}/{vendor}/{dataset}/{version}`` is a key prefix; ``raw/``, ``bronze/``,
``manifests/`` and ``samples/`` are the same names below it. What an object store cannot do
is replaced by what it can (``../shared/DESIGN.md``, *On an object store*): the manifest is
the segment log ``manifests/processed/<20-digit sequence>.jsonl`` (see
:mod:`alchemy_assets.manifest_log`), with each segment's lines also under
``manifests/processed_YYYY-MM-DD/``. Every key made from what a manifest line says goes
through :meth:`ObjectLayout.key`, which refuses ``..``, ``.``, empty segments and NUL bytes:
nothing is read or written outside ``R``.
"""

from __future__ import annotations

from dataclasses import dataclass

from alchemy_assets.layout import DatasetId, LayoutError
from alchemy_assets.object_store import StoreRoot

SEGMENTS = "manifests/processed/"
SEQUENCE_DIGITS = 20


@dataclass(frozen=True)
class ObjectLayout:
    """The keys of one dataset root on a store."""

    dataset_id: DatasetId
    store: StoreRoot

    @classmethod
    def under(cls, store: StoreRoot, dataset_id: DatasetId) -> ObjectLayout:
        return cls(dataset_id, store)

    @property
    def prefix(self) -> str:
        """``vendor/dataset/version``: ``R`` relative to the store root."""
        return str(self.dataset_id)

    @property
    def root(self) -> str:
        """``R`` as a URL (``s3://lake/fp/sp/gics/1.0``): what messages and metadata show."""
        return self.store.location(self.prefix)

    @property
    def raw(self) -> str:
        return self.key("raw") + "/"

    @property
    def manifest(self) -> str:
        """The segment log, as a URL (what the manifest observation shows as its path)."""
        return self.store.location(self.key(SEGMENTS.rstrip("/"))) + "/"

    def key(self, relpath: str) -> str:
        """The store key of ``relpath`` (relative to ``R``); refuses anything outside ``R``."""
        parts = relpath.split("/")
        if "\x00" in relpath:
            raise LayoutError(f"path {relpath!r} holds a NUL byte")
        if relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise LayoutError(
                f"path {relpath!r} is not a plain key relative to {self.root} "
                "(no '..', '.' or empty segment)"
            )
        return f"{self.prefix}/{relpath}"

    def relative(self, key: str) -> str:
        """``key`` (relative to the store root) as a path relative to ``R``."""
        head = self.prefix + "/"
        if not key.startswith(head):
            raise LayoutError(f"key {key!r} is not under {self.root}")
        return key[len(head) :]

    def segment_key(self, sequence: int) -> str:
        """The key of segment ``sequence`` of the manifest log."""
        return self.key(f"{SEGMENTS}{sequence:0{SEQUENCE_DIGITS}d}.jsonl")

    def daily_segment_key(self, day: str, sequence: int) -> str:
        """The key of the same segment's lines under the day of ingest (``YYYY-MM-DD``)."""
        return self.key(f"manifests/processed_{day}/{sequence:0{SEQUENCE_DIGITS}d}.jsonl")

    def describe(self, relpath: str) -> str:
        """``relpath``'s URL, for messages."""
        return f"{self.root}/{relpath}"


def discover_object_datasets(store: StoreRoot) -> list[ObjectLayout]:
    """Every dataset under the store root that has a manifest log, sorted (three levels of
    delimiter listings, then one probe of ``manifests/processed/`` per version)."""
    found: list[ObjectLayout] = []
    for vendor in store.folders(""):
        for dataset in store.folders(f"{vendor}/"):
            for version in store.folders(f"{vendor}/{dataset}/"):
                try:
                    dataset_id = DatasetId.parse(f"{vendor}/{dataset}/{version}")
                except LayoutError:
                    continue
                layout = ObjectLayout(dataset_id, store)
                if next(iter(store.objects(layout.key(SEGMENTS.rstrip("/")) + "/")), None):
                    found.append(layout)
    return sorted(found, key=lambda layout: layout.dataset_id)


def datasets_with_raw(store: StoreRoot) -> list[DatasetId]:
    """The dataset ids under the store root that have a ``raw/`` prefix."""
    found: list[DatasetId] = []
    for vendor in store.folders(""):
        for dataset in store.folders(f"{vendor}/"):
            for version in store.folders(f"{vendor}/{dataset}/"):
                if "raw" in store.folders(f"{vendor}/{dataset}/{version}/"):
                    try:
                        found.append(DatasetId.parse(f"{vendor}/{dataset}/{version}"))
                    except LayoutError:
                        continue
    return found
