"""The on-disk layout of one dataset root ``R = {FP_PREFIX}/{vendor}/{dataset}/{version}``.

Every path the platform opens because of what a manifest line says goes through
:func:`DatasetLayout.resolve`, which refuses anything that would lead outside ``R``.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

LAYERS = ("raw", "bronze", "silver", "gold", "manifests", "samples")
MANIFEST_NAME = "processed.jsonl"

_ID_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A relative path of plain segments: no leading "/", no empty, "." or ".." segment.
_CLEAN_RELPATH = re.compile(r"(?!\.\.?(?:/|$))[^/\x00]+(?:/(?!\.\.?(?:/|$))[^/\x00]+)*\Z")


class LayoutError(ValueError):
    """A dataset id or a path that does not fit the layout."""


@dataclass(frozen=True, order=True)
class DatasetId:
    """``vendor/dataset/version``: the three folders below ``FP_PREFIX`` naming one dataset."""

    vendor: str
    dataset: str
    version: str

    @classmethod
    def parse(cls, text: str) -> DatasetId:
        """Parse ``VENDOR/DATASET/VERSION``; raise :class:`LayoutError` saying what is wrong."""
        parts = text.strip("/").split("/")
        if len(parts) != 3:
            raise LayoutError(
                f"dataset {text!r}: expected VENDOR/DATASET/VERSION (three parts), got {len(parts)}"
            )
        for label, part in zip(("vendor", "dataset", "version"), parts, strict=True):
            if not _ID_PART.match(part):
                raise LayoutError(
                    f"dataset {text!r}: {label} {part!r} must start with a letter or digit "
                    "and hold only letters, digits, '.', '_' and '-'"
                )
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.vendor}/{self.dataset}/{self.version}"


@dataclass(frozen=True)
class DatasetLayout:
    """The folders and files of one dataset root ``R``."""

    dataset_id: DatasetId
    root: Path

    @classmethod
    def under(cls, fp_prefix: Path | str, dataset_id: DatasetId) -> DatasetLayout:
        """The dataset's root under ``fp_prefix``, made absolute (a relative prefix is taken
        from the current directory, once: temp files and their targets must agree)."""
        base = Path(fp_prefix).absolute()
        return cls(dataset_id, base / dataset_id.vendor / dataset_id.dataset / dataset_id.version)

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def bronze(self) -> Path:
        return self.root / "bronze"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def manifest(self) -> Path:
        """The cumulative manifest ``manifests/processed.jsonl``, the source of truth."""
        return self.manifests / MANIFEST_NAME

    def daily_manifest(self, day: str) -> Path:
        """The per-day manifest ``manifests/processed_YYYY-MM-DD.jsonl`` (UTC day of ingest)."""
        return self.manifests / f"processed_{day}.jsonl"

    def ensure(self) -> None:
        """Create the six layer folders of ``R`` (``silver/`` and ``gold/`` stay empty)."""
        for layer in LAYERS:
            (self.root / layer).mkdir(parents=True, exist_ok=True)

    def relative(self, path: Path) -> str:
        """``path`` as a POSIX path relative to ``R``."""
        return path.relative_to(self.root).as_posix()

    def resolve(self, relpath: str) -> Path:
        """The real path of ``relpath`` (relative to ``R``), refusing anything outside ``R``.

        Symlinks are followed and the result checked, so a link inside ``R`` that leads out
        is refused as well as ``..`` and absolute paths.
        """
        if "\x00" in relpath:
            raise LayoutError(f"path {relpath!r} holds a NUL byte")
        if relpath.startswith("/") or ".." in relpath.split("/"):
            raise LayoutError(f"path {relpath!r} is not a plain path relative to {self.root}")
        real_root = os.path.realpath(self.root)
        target = os.path.realpath(Path(real_root, relpath))
        if target != real_root and not target.startswith(real_root + os.sep):
            raise LayoutError(f"path {relpath!r} leads outside {self.root} (to {target})")
        return Path(target)


def normalize_relpath(path: str, root: Path) -> str:
    """``path`` from a manifest line as a clean POSIX path relative to ``root``.

    Accepts a relative path, or an absolute one inside ``root`` (older writers wrote
    ``str(path)``); raises :class:`LayoutError` for NUL bytes, ``..`` and anything outside.
    This is a check on the text only; :meth:`DatasetLayout.resolve` also follows symlinks.
    """
    if _CLEAN_RELPATH.match(path) and path.isprintable():
        return path  # the common case, already clean: skip the general checks below
    if "\x00" in path:
        raise LayoutError("path holds a NUL byte")
    if not path:
        raise LayoutError("path is empty")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise LayoutError(f"path {path!r} is not valid Unicode (unpaired surrogate)") from None
    if path.startswith("/"):
        root_text = root.as_posix().rstrip("/")
        if not path.startswith(root_text + "/"):
            raise LayoutError(f"absolute path {path!r} is outside the dataset root")
        path = path[len(root_text) + 1 :]
    if ".." in path.split("/"):
        raise LayoutError(f"path {path!r} contains '..'")
    clean = posixpath.normpath(path)
    if clean in (".", "") or clean.startswith("/"):
        raise LayoutError(f"path {path!r} names no file inside the dataset root")
    return clean


def discover_datasets(fp_prefix: Path | str) -> list[DatasetLayout]:
    """Every dataset under ``fp_prefix`` that has a ``manifests/processed.jsonl``, sorted."""
    base = Path(fp_prefix)
    found: list[DatasetLayout] = []
    for manifest in base.glob(f"*/*/*/manifests/{MANIFEST_NAME}"):
        version_dir = manifest.parent.parent
        try:
            dataset_id = DatasetId.parse(version_dir.relative_to(base).as_posix())
        except LayoutError:
            continue
        found.append(DatasetLayout(dataset_id, version_dir))
    return sorted(found, key=lambda layout: layout.dataset_id)
