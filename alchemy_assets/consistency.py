"""Consistency of a sample with its bronze file and the manifest.

A sample records the bronze copy it was taken from (path under ``R``), the manifest ``mtime``
of that copy, the copy's size when it was read and, where the line had one, its checksum.
Bronze files are immutable and keep the raw ``mtime``, so later the same file must still be
there with that mtime and size; and the sample
must hold the delivery of the latest manifest line for its raw file (a later delivery not yet
sampled: stale).
"""

from __future__ import annotations

import math
import stat
from dataclasses import dataclass, field

from alchemy_assets import confined
from alchemy_assets.delivery import Delivery
from alchemy_assets.layout import DatasetLayout, LayoutError
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import StoreError, StoreMissingError


@dataclass(frozen=True)
class SampledFile:
    """What a sample recorded of its source: bronze path, manifest mtime, bronze size and the
    manifest line's checksum (each None where not recorded)."""

    bronze: str
    mtime: float
    bronze_size: int | None = None
    sha256: str | None = None

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.mtime, self.bronze_size, self.sha256)


@dataclass(frozen=True)
class Consistency:
    """The verdict: what is wrong (nothing if it passed) and the values that were compared."""

    problems: list[str] = field(default_factory=list)
    compared: dict[str, str | float | int | None] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems


def check_consistency(
    layout: DatasetLayout | ObjectLayout,
    sampled: SampledFile,
    latest: Delivery | None,
    sampling_error: str | None = None,
) -> Consistency:
    """Compare ``sampled`` with its bronze file on disk and the latest manifest line.

    ``latest`` is the delivery of the latest manifest line for the raw file (None: no valid
    line names it). ``sampling_error`` says why the manifest line could not be sampled
    (then no sample exists at its mtime). Never raises for a missing or unreadable file.
    """
    problems: list[str] = []
    compared: dict[str, str | float | int | None] = {
        "bronze": sampled.bronze,
        "sample_mtime": sampled.mtime,
        "latest_manifest_mtime": latest.mtime if latest else None,
        "recorded_size": sampled.bronze_size,
        "bronze_mtime": None,
        "bronze_size": None,
    }
    problems += _bronze_problems(layout, sampled, compared)
    if latest is None:
        problems.append("no valid manifest line names this file")
    elif latest.mtime != sampled.mtime:
        problems.append(
            f"stale: the latest manifest line has mtime {latest.mtime!r}, "
            f"the sample was taken at {sampled.mtime!r}"
        )
    elif not latest.same_as(sampled.delivery):
        problems.append(
            f"stale: the latest manifest line is another delivery: "
            f"{latest.change_from(sampled.delivery)}"
        )
    if sampling_error is not None:
        problems.append(f"not sampled at mtime {sampled.mtime!r}: {sampling_error}")
    return Consistency(problems, compared)


def _bronze_problems(
    layout: DatasetLayout | ObjectLayout,
    sampled: SampledFile,
    compared: dict[str, str | float | int | None],
) -> list[str]:
    if isinstance(layout, ObjectLayout):
        return _bronze_object_problems(layout, sampled, compared)
    try:
        info = confined.lstat(layout.root, sampled.bronze)
    except confined.MissingError:
        return [f"{sampled.bronze}: bronze file is missing"]
    except LayoutError as err:
        return [f"{sampled.bronze}: refused: {err}"]
    except OSError as err:
        return [f"{sampled.bronze}: cannot be read: {err.strerror}"]
    if not stat.S_ISREG(info.st_mode):
        return [f"{sampled.bronze}: not a regular file"]
    compared["bronze_mtime"], compared["bronze_size"] = info.st_mtime, info.st_size
    problems = []
    if not same_mtime(info.st_mtime, sampled.mtime):
        problems.append(
            f"{sampled.bronze}: mtime {info.st_mtime!r} differs from the manifest's "
            f"{sampled.mtime!r} (bronze rewritten after ingest?)"
        )
    if sampled.bronze_size is not None and info.st_size != sampled.bronze_size:
        problems.append(
            f"{sampled.bronze}: size {info.st_size} bytes differs from the "
            f"{sampled.bronze_size} bytes recorded when it was sampled"
        )
    return problems


def _bronze_object_problems(
    layout: ObjectLayout, sampled: SampledFile, compared: dict[str, str | float | int | None]
) -> list[str]:
    """On a store, bronze is a copy made put-if-absent (never rewritten): its last-modified
    time is the copy's, not the raw object's, so only existence and size are compared."""
    try:
        info = layout.store.head(layout.key(sampled.bronze))
    except StoreMissingError:
        return [f"{sampled.bronze}: bronze object is missing"]
    except LayoutError as err:
        return [f"{sampled.bronze}: refused: {err}"]
    except StoreError as err:
        return [f"{sampled.bronze}: cannot be read: {err}"]
    compared["bronze_size"] = info.size
    if sampled.bronze_size is not None and info.size != sampled.bronze_size:
        return [
            f"{sampled.bronze}: size {info.size} bytes differs from the "
            f"{sampled.bronze_size} bytes recorded when it was sampled"
        ]
    return []


def same_mtime(bronze: float, manifest: float) -> bool:
    """Whether a bronze file's mtime is the manifest's: equal, or that mtime cut to whole
    seconds (a bronze filesystem that keeps 1-second timestamps; the line keeps the raw
    file's own, finer one)."""
    return bronze == manifest or bronze == float(math.floor(manifest))
