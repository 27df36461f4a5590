"""Sample one due file: check its bronze copy against the manifest line, then take the sample.

Every path is resolved inside the dataset root first, so a manifest line can never make the
platform read or write outside it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from alchemy_assets.file_formats import sample_relpath
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.sampling import Sample, SampleError, take_sample
from alchemy_assets.staging import DueFile


@dataclass(frozen=True)
class StagedFile:
    """A bronze file that was sampled: where both files are and what the sample holds."""

    due: DueFile
    bronze_path: Path
    bronze_size: int
    sample_path: Path
    sample_relpath: str
    sample: Sample


def stage_file(layout: DatasetLayout, due: DueFile, rows: int) -> StagedFile:
    """Write the sample of ``due``; raise :class:`SampleError` (or ``LayoutError``) if it fails.

    The bronze file must exist and still carry the manifest's mtime: bronze is immutable, so
    a different mtime means it was rewritten after its line was written, and no sample of
    unknown content is taken.
    """
    bronze = layout.resolve(due.bronze)
    try:
        info = os.stat(bronze)
    except FileNotFoundError:
        raise SampleError(f"{due.bronze}: bronze file is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise SampleError(f"{due.bronze}: not a regular file")
    if info.st_mtime != due.mtime:
        raise SampleError(
            f"{due.bronze}: mtime {info.st_mtime!r} differs from the manifest's {due.mtime!r} "
            "(bronze rewritten after ingest?)"
        )
    relpath = sample_relpath(due.raw)
    target = layout.resolve(relpath)
    sample = take_sample(bronze, target, rows)
    return StagedFile(due, bronze, info.st_size, target, relpath, sample)
