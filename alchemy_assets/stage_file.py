"""Sample one due file: check its bronze copy against the manifest line, then take the sample.

Every path is resolved inside the dataset root first, so a manifest line can never make the
platform read or write outside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alchemy_assets.file_formats import sample_relpath
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.sampling import Sample, SampleError, take_sample, write_atomically
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
    unknown content is taken. Runs writing the same sample are serialized, and a sample of an
    older delivery never replaces that of a newer one (:class:`SupersededError`).
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
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        current = read_provenance(target)
        if current is not None and current > due.bronze:
            raise SupersededError(
                f"{relpath} already holds the sample of the newer {current}; "
                f"{due.bronze} is not sampled over it"
            )
        sample = take_sample(bronze, target, rows, expect_mtime=due.mtime)
        write_atomically(_provenance_path(target), json.dumps({"bronze": due.bronze}).encode())
    return StagedFile(due, bronze, info.st_size, target, relpath, sample)


class SupersededError(Exception):
    """A newer delivery of the file was sampled already (two runs raced): nothing to do."""


def _provenance_path(sample: Path) -> Path:
    return sample.with_name(f".{sample.name}.source.json")


def read_provenance(sample: Path) -> str | None:
    """The bronze path (relative to ``R``) the sample at ``sample`` was taken from, if known.

    Bronze paths sort by time of ingest, so the larger of two is the newer delivery.
    """
    try:
        value = json.loads(_provenance_path(sample).read_bytes()).get("bronze")
    except (FileNotFoundError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


@contextlib.contextmanager
def _locked(sample: Path) -> Iterator[None]:
    """Serialize the runs writing one sample (two runs of one partition may race)."""
    fd = os.open(sample.with_name(f".{sample.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
