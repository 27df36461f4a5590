"""Sample one due file: check its bronze copy against the manifest line, then take the sample.

Every file is opened relative to the dataset root without following links
(:mod:`alchemy_assets.confined`), so neither a manifest line nor a link swapped in mid-run can
make staging read or write outside ``bronze/`` and ``samples/``. Each sample has a lock file
and a provenance file beside it (the delivery it holds and the run that took it): under the
lock, a delivery already sampled and recorded is not sampled again (exactly once, whoever
runs), and a delivery older than the one the sample holds never replaces it ("older" is
earlier in the manifest, never a clock-derived name).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from alchemy_assets import confined
from alchemy_assets.consistency import same_mtime
from alchemy_assets.data_root import Layout, read_all
from alchemy_assets.file_formats import sample_relpath
from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats.base import Contents
from alchemy_assets.layout import DatasetLayout, LayoutError
from alchemy_assets.sample_errors import REWRITTEN, RefusedError, SampleError
from alchemy_assets.sampling import NotDataError, Sample, sample_open_file
from alchemy_assets.staging import DueFile

# Whether the instance already holds a sample of this delivery (the partition's latest
# sample was taken at this mtime): asked under the lock, after the provenance says so.
Recorded = Callable[[DueFile], bool]


@dataclass(frozen=True)
class StagedFile:
    """A bronze file that was sampled: where both files are and what the sample holds; or,
    with ``not_data``, a file that is not data, recorded as not sampled (no sample written,
    ``sample`` empty). On an object store (:mod:`alchemy_assets.stage_object`) both paths are
    the objects' URLs."""

    due: DueFile
    bronze_path: Path | str
    bronze_size: int
    sample_path: Path | str
    sample_relpath: str
    sample: Sample
    not_data: NotDataError | None = None


class SupersededError(Exception):
    """A later delivery of the file (later in the manifest) was sampled already."""


class AlreadySampledError(Exception):
    """This very delivery was sampled and recorded already, by another run."""


@dataclass(frozen=True)
class Provenance:
    """What a sample holds: the delivery (bronze path, mtime) and the run that took it."""

    bronze: str
    mtime: float | None = None
    run_id: str = ""

    def holds(self, due: DueFile) -> bool:
        return self.bronze == due.bronze and self.mtime == due.mtime


class DeliveryOrder:
    """The position of each bronze file's line in the manifest, read once when first needed
    (only when two deliveries of one file meet), and again for a delivery it does not know."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._positions: dict[str, int] | None = None

    def _read(self) -> dict[str, int]:
        positions: dict[str, int] = {}
        for batch in read_all(self._layout):
            if batch.restarted:
                positions.clear()
            for entry in batch.entries:
                positions[entry.bronze] = len(positions)
        return positions

    def later(self, held: str, due: str) -> bool:
        """Whether bronze file ``held``'s line comes after ``due``'s in the manifest."""
        if self._positions is None or held not in self._positions:
            self._positions = self._read()
        held_at, due_at = self._positions.get(held), self._positions.get(due)
        return held_at is not None and (due_at is None or held_at > due_at)


def stage_file(
    layout: DatasetLayout, due: DueFile, rows: int, format_options: FormatOptions | None = None
) -> StagedFile:
    """Write the sample of ``due`` (see :func:`staging`) unless a later delivery's is there."""
    with staging(
        layout, due, rows, order=DeliveryOrder(layout), format_options=format_options
    ) as staged:
        return staged


@contextlib.contextmanager
def staging(
    layout: DatasetLayout,
    due: DueFile,
    rows: int,
    *,
    run_id: str = "",
    recorded: Recorded | None = None,
    order: DeliveryOrder | None = None,
    format_options: FormatOptions | None = None,
) -> Iterator[StagedFile]:
    """Write the sample of ``due`` and hold its lock while the caller records it.

    Raises :class:`SampleError` (or ``LayoutError``) if the bronze file cannot be sampled:
    missing, a link, or unreadable; :class:`RefusedError` if no attempt can: rewritten (its
    mtime or size differs from the manifest's: bronze is immutable) or refused by its reader
    for its content. With ``recorded``, a delivery the provenance and the instance both say was
    sampled raises :class:`AlreadySampledError`; with ``order``, a delivery earlier in the
    manifest than the one the sample holds raises :class:`SupersededError`.
    ``format_options``: what is configured for the file's pattern (beats detection).
    """
    confined.plain_parts(layout.root, due.bronze)
    folder, name = posixpath.split(due.bronze)
    relpath = sample_relpath(due.raw)
    sample_folder, sample_name = posixpath.split(relpath)
    if not due.bronze.startswith("bronze/"):
        raise LayoutError(f"{due.bronze}: not a file under bronze/: staging reads no other")
    with contextlib.ExitStack() as stack:
        source_folder = stack.enter_context(confined.folder(layout.root, folder))
        source = stack.enter_context(_open_bronze(source_folder, name, due))
        info = os.fstat(source.fileno())
        # Checked before anything is created for it. Ingest gives a bronze file its mtime
        # and size before its name, so a difference is no copy in progress: it stays.
        if not same_mtime(info.st_mtime, due.mtime):
            raise RefusedError(
                f"{due.bronze}: mtime {info.st_mtime!r} differs from the manifest's "
                f"{due.mtime!r} (bronze rewritten after ingest?)",
                REWRITTEN,
            )
        if due.size is not None and info.st_size != due.size:
            raise RefusedError(
                f"{due.bronze}: {info.st_size} bytes where the manifest line says {due.size} "
                "(bronze truncated or rewritten after ingest?)",
                REWRITTEN,
            )
        out = stack.enter_context(confined.folder(layout.root, sample_folder, create=True))
        stack.enter_context(confined.locked(out, sample_name))
        held = read_provenance_at(out, sample_name)
        if held is not None and recorded is not None and held.holds(due) and recorded(due):
            raise AlreadySampledError(
                f"{relpath} already holds this delivery ({due.bronze} at mtime {due.mtime!r}), "
                f"sampled and recorded by run {held.run_id or '(unknown)'}: not sampled again"
            )
        if (
            held is not None
            and order is not None
            and held.bronze != due.bronze
            and order.later(held.bronze, due.bronze)
        ):
            raise SupersededError(
                f"{relpath} already holds the sample of {held.bronze}, a later manifest line; "
                f"{due.bronze} is not sampled over it"
            )
        not_data: NotDataError | None = None
        try:
            sample, content = sample_open_file(
                source,
                due.bronze,
                rows,
                expect_mtime=info.st_mtime,
                format_options=format_options,
            )
            confined.write_atomically(out, sample_name, content)
        except NotDataError as err:
            # Not a failure: recorded as not sampled. A sample of an earlier delivery goes,
            # so that what is at the sample path is always of the delivery recorded.
            not_data = err
            sample = Sample(Contents(0), 0, err.kind)
            confined.remove(out, sample_name)
        provenance = {"bronze": due.bronze, "mtime": due.mtime, "run_id": run_id}
        confined.write_atomically(
            out, confined.aux_name(sample_name, ".source.json"), json.dumps(provenance).encode()
        )
        yield StagedFile(
            due,
            layout.root / due.bronze,
            info.st_size,
            layout.root / relpath,
            relpath,
            sample,
            not_data,
        )


def _open_bronze(folder: int, name: str, due: DueFile) -> IO[bytes]:
    try:
        return confined.open_regular(folder, name, due.bronze)
    except confined.MissingError:
        raise SampleError(f"{due.bronze}: bronze file is missing") from None
    except confined.ConfinementError as err:
        raise SampleError(str(err)) from None


def read_provenance_at(folder: int, sample_name: str) -> Provenance | None:
    """The provenance of sample ``sample_name`` in ``folder``, if it has a readable one."""
    data = confined.read_small(folder, confined.aux_name(sample_name, ".source.json"))
    try:
        value = json.loads(data) if data is not None else None
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("bronze"), str):
        return None
    mtime = value.get("mtime")
    return Provenance(
        value["bronze"],
        float(mtime) if isinstance(mtime, int | float) and not isinstance(mtime, bool) else None,
        str(value.get("run_id") or ""),
    )


def read_provenance(sample: Path) -> str | None:
    """The bronze path (relative to ``R``) the sample at ``sample`` was taken from, if known."""
    try:
        fd = os.open(sample.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        held = read_provenance_at(fd, sample.name)
    finally:
        os.close(fd)
    return held.bronze if held else None
