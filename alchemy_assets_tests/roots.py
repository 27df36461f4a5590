"""The data root the core tests run on: a folder on disk, or a bucket on the S3 API server.

:class:`Root` gives a test the few operations it needs on either kind (write a raw file,
read a key, list, ingest, read the manifest), so the ingest, staging, sensor, status and
exactly-once tests are the same test on both roots (the ``root`` fixture in conftest runs
each twice). On a store a raw object's mtime is its last-modified time: it cannot be set,
so :meth:`Root.write_raw` returns the mtime the object got.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from alchemy_assets.data_root import Layout, layout_of, open_root, read_all
from alchemy_assets.ingest import IngestReport, ingest
from alchemy_assets.ingest_objects import ingest_objects
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets.manifest_line import ManifestEntry
from alchemy_assets.manifest_log import last_sequence, write_segment
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import StoreMissingError

DATASET = DatasetId("sp", "gics_cwiq_pipe", "1.0")


@dataclass(frozen=True)
class Root:
    """A data root of one kind (``kind`` is ``disk`` or ``s3``) and one dataset in it."""

    kind: str
    text: str  # FP_PREFIX: a folder's path or s3://bucket/prefix
    layout: Layout

    @classmethod
    def of(cls, kind: str, text: str, dataset: DatasetId = DATASET) -> Root:
        layout = layout_of(open_root(text, must_exist=False), dataset)
        if isinstance(layout, DatasetLayout):
            layout.ensure()
        return cls(kind, text, layout)

    @property
    def on_store(self) -> bool:
        return isinstance(self.layout, ObjectLayout)

    def write(self, relpath: str, data: bytes) -> None:
        """Write ``relpath`` (relative to the dataset root ``R``)."""
        if isinstance(self.layout, ObjectLayout):
            self.layout.store.put(self.layout.key(relpath), data)
            return
        path = self.layout.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def write_raw(self, env_path: str, data: bytes, mtime: float = 1_700_000_000.0) -> float:
        """Deliver ``raw/<env_path>``; returns its mtime (on disk ``mtime``; on a store the
        object's last-modified time, whatever ``mtime`` says)."""
        relpath = f"raw/{env_path}"
        self.write(relpath, data)
        if isinstance(self.layout, ObjectLayout):
            return self.layout.store.head(self.layout.key(relpath)).mtime
        os.utime(self.layout.root / relpath, (mtime, mtime))
        return mtime

    def read(self, relpath: str) -> bytes | None:
        """The bytes at ``relpath``, or None if there is nothing."""
        if isinstance(self.layout, ObjectLayout):
            try:
                return self.layout.store.get(self.layout.key(relpath))
            except StoreMissingError:
                return None
        path = self.layout.root / relpath
        return path.read_bytes() if path.is_file() else None

    def files(self, folder: str) -> list[str]:
        """Every visible file under ``folder`` of ``R`` (relative to ``R``), sorted; hidden
        names (a sample's provenance and lock files) left out."""
        if isinstance(self.layout, ObjectLayout):
            layout = self.layout
            keys = [layout.relative(o.key) for o in layout.store.objects(layout.key(folder) + "/")]
        else:
            base = self.layout.root
            keys = [
                p.relative_to(base).as_posix() for p in (base / folder).rglob("*") if p.is_file()
            ]
        return sorted(k for k in keys if not any(part.startswith(".") for part in k.split("/")))

    def ingest(self) -> IngestReport:
        if isinstance(self.layout, ObjectLayout):
            return ingest_objects(self.layout)
        return ingest(self.layout)

    def append_line(self, line: bytes) -> None:
        """Add one manifest line as another writer would: appended to the file, or as a
        segment of its own in the store's log."""
        if isinstance(self.layout, ObjectLayout):
            write_segment(self.layout, [line], after=last_sequence(self.layout), day_lines={})
            return
        with self.layout.manifest.open("ab") as out:
            out.write(line)

    def entries(self) -> list[ManifestEntry]:
        """Every valid manifest line, in order."""
        return [entry for batch in read_all(self.layout) for entry in batch.entries]


def disk_root(tmp_path: Path) -> Root:
    folder = tmp_path / "fp"
    folder.mkdir(exist_ok=True)
    return Root.of("disk", str(folder))
