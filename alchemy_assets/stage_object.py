"""Sample one due file on an object store: the bronze object read by ranged GETs pinned to
its ETag, the sample and its provenance written by PUT, exactly once without a lock.

The contract is :func:`alchemy_assets.stage_file.staging`'s. What differs is what a store
has instead of a file system:

- **Reading.** The bronze object is HEADed (missing: :class:`SampleError`; another size
  than the manifest line's: :class:`RefusedError` ``REWRITTEN``) and read through a
  :class:`~alchemy_assets.ranged_reader.RangedReader` pinned to that HEAD's ETag, fetching
  at most :data:`FETCH_LIMIT` bytes whatever the object's size. An object replaced while it
  is read fails the next GET (``412``), which refuses the file: no sample mixes two
  versions. Its mtime is not checked: a bronze object's last-modified time is when it was
  copied, not the raw file's; put-if-absent is what keeps it immutable, and the ETag pin what
  makes each read one version.
- **Exactly once, without a lock.** The provenance object beside the sample
  (``.NAME.source.json``, as on disk) is also the claim, changed only by conditional PUTs:
  ``If-None-Match: *`` when it is absent, ``If-Match`` its ETag otherwise, so of two runs
  that read the same version and both try to change it, one wins and the other reads it
  again and decides again. It holds what the sample holds (``bronze``, ``mtime``, ``etag``
  of the delivery, the ``run_id`` that took it, the sample's own ``sample_etag``) and, while
  a run works on the file, its ``claim`` (the delivery it stages and its run). The protocol:

  1. Read the provenance. If it holds this delivery and ``recorded(due)`` says the instance
     has it: :class:`AlreadySampledError` (whatever claim is there: the sampling is done).
  2. If another run's claim is there and fresh, wait for it (polling, at most ``wait``
     seconds, then a retryable :class:`SampleError` naming the run) and go back to 1: the
     store's version of waiting for the lock.
  3. With ``order``: if what the sample holds, or the delivery of a claim left behind, is
     later in the manifest than this one: :class:`SupersededError`.
  4. Claim: PUT the provenance with this run's claim, conditional on the version read in 1.
     Lost: go back to 1.
  5. Sample, and PUT the sample conditional on the sample's ETag seen when claiming (or
     absent); PUT the provenance of the new delivery, still claimed, conditional on the
     claim's ETag; yield (the caller records the materialization, as it does under the
     lock on disk); then release the claim (a last conditional PUT).

  A run that crashed leaves its claim behind. The claim's age is the provenance object's
  last-modified time (the store's clock, refreshed by each PUT of step 5) against now: this
  machine's clock first, and where that says the lease is over, the store's (a probe
  object's last-modified time), so a machine whose clock runs ahead waits like the others;
  a claim older than
  ``lease`` (:data:`CLAIM_LEASE_SECONDS`, far above the time one sample takes: reads are
  capped) is taken over, and so is a claim of this very run (``run_id`` not empty: a retry of
  the run, whose earlier attempt is over). A run that was only slow past its lease cannot
  undo its successor's work: its sample PUT is conditional on the sample's ETag as it was
  when it claimed, which its successor's PUT changed, and its provenance PUT on its own
  claim, which the takeover replaced; the successor whose sample PUT meets the slow run's
  sample overwrites it once it has checked the claim is still its own. Not-data files
  delete the old sample unconditionally (S3 has no conditional DELETE), after that check.
"""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from alchemy_assets import confined
from alchemy_assets.file_formats import sample_relpath
from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats.base import Contents
from alchemy_assets.layout import DatasetLayout, LayoutError
from alchemy_assets.manifest_log import read_whole_log
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import (
    StoreError,
    StoreExistsError,
    StoreMissingError,
    StorePreconditionError,
    StoreRoot,
)
from alchemy_assets.ranged_reader import FIRST_WINDOW, MAX_WINDOW, FetchLimitError, RangedReader
from alchemy_assets.sample_errors import BYTES, REWRITTEN, RefusedError, SampleError
from alchemy_assets.sampling import MAX_PREFIX_BYTES, NotDataError, Sample, sample_open_file
from alchemy_assets.stage_file import (
    AlreadySampledError,
    DeliveryOrder,
    Recorded,
    StagedFile,
    SupersededError,
    staging,
)
from alchemy_assets.staging import DueFile

# The most of a bronze object one sample fetches: the readers' own cap plus one window of
# read-ahead (the reader shrinks its last window to fit).
FETCH_LIMIT = MAX_PREFIX_BYTES + MAX_WINDOW
# How old a claim must be before another run takes it over, and how long a run waits for a
# fresh claim of another run before it gives up (a retryable failure).
CLAIM_LEASE_SECONDS = 600.0
CLAIM_WAIT_SECONDS = 30.0
_FIRST_POLL = 0.05
_MAX_POLL = 1.0
# Sample PUTs met by a slow former claimer's: it makes at most one, so two suffice.
_SAMPLE_PUT_TRIES = 3
# Reads of the provenance object that may each meet a newer version before one gives up.
_READ_TRIES = 20


class Order(Protocol):
    """Which of two bronze files' manifest lines comes later (:class:`ObjectDeliveryOrder`,
    or the disk's :class:`~alchemy_assets.stage_file.DeliveryOrder`)."""

    def later(self, held: str, due: str) -> bool: ...


class ObjectDeliveryOrder:
    """The position of each bronze file's line in the segment log, read once when first
    needed (only when two deliveries of one file meet), and again for one it does not know."""

    def __init__(self, layout: ObjectLayout) -> None:
        self._layout = layout
        self._positions: dict[str, int] | None = None

    def _read(self) -> dict[str, int]:
        positions: dict[str, int] = {}
        for batch in read_whole_log(self._layout):
            if batch.restarted:
                positions.clear()
            for entry in batch.entries:
                positions[entry.bronze] = len(positions)
        return positions

    def later(self, held: str, due: str) -> bool:
        """Whether bronze file ``held``'s line comes after ``due``'s in the log."""
        if self._positions is None or held not in self._positions:
            self._positions = self._read()
        held_at, due_at = self._positions.get(held), self._positions.get(due)
        return held_at is not None and (due_at is None or held_at > due_at)


@dataclass(frozen=True)
class Delivery:
    """One delivery of a file as the provenance names it, and the run that took (or takes)
    its sample."""

    bronze: str
    mtime: float | None
    etag: str | None
    run_id: str

    def holds(self, due: DueFile) -> bool:
        return (self.bronze, self.mtime, self.etag) == (due.bronze, due.mtime, due.etag)

    @classmethod
    def of(cls, due: DueFile, run_id: str) -> Delivery:
        return cls(due.bronze, due.mtime, due.etag, run_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "bronze": self.bronze,
            "mtime": self.mtime,
            "etag": self.etag,
            "run_id": self.run_id,
        }

    @classmethod
    def from_json(cls, value: Any) -> Delivery | None:
        if not isinstance(value, dict) or not isinstance(value.get("bronze"), str):
            return None
        mtime, etag = value.get("mtime"), value.get("etag")
        return cls(
            value["bronze"],
            float(mtime)
            if isinstance(mtime, int | float) and not isinstance(mtime, bool)
            else None,
            etag if isinstance(etag, str) else None,
            str(value.get("run_id") or ""),
        )


@dataclass(frozen=True)
class ObjectProvenance:
    """The provenance object of a sample: what the sample holds (``held``, None before the
    first), the sample object's ETag, and the claim of the run working on it, if any."""

    held: Delivery | None
    sample_etag: str | None = None
    claim: Delivery | None = None
    claim_sample_etag: str | None = None

    def encode(self) -> bytes:
        doc: dict[str, Any] = self.held.to_json() if self.held else {"bronze": None}
        doc["sample_etag"] = self.sample_etag
        if self.claim is not None:
            doc["claim"] = {**self.claim.to_json(), "sample_etag": self.claim_sample_etag}
        return json.dumps(doc).encode()

    @classmethod
    def decode(cls, data: bytes) -> ObjectProvenance:
        """What ``data`` says; an unreadable object says nothing (it is overwritten)."""
        try:
            value = json.loads(data)
        except ValueError:
            return cls(None)
        if not isinstance(value, dict):
            return cls(None)
        claim = value.get("claim")
        claim_etag = claim.get("sample_etag") if isinstance(claim, dict) else None
        sample_etag = value.get("sample_etag")
        return cls(
            Delivery.from_json(value),
            sample_etag if isinstance(sample_etag, str) else None,
            Delivery.from_json(claim),
            claim_etag if isinstance(claim_etag, str) else None,
        )


@dataclass(frozen=True)
class _Version:
    """The provenance object as read: what it says, its ETag and last-modified time (None,
    None when it is absent)."""

    provenance: ObjectProvenance
    etag: str | None
    modified: float | None


@dataclass(frozen=True)
class _Keys:
    bronze: str
    sample: str
    provenance: str
    relpath: str


def stage_object(
    layout: ObjectLayout, due: DueFile, rows: int, format_options: FormatOptions | None = None
) -> StagedFile:
    """Write the sample of ``due`` (see :func:`staging_object`) unless a later delivery's is
    there."""
    with staging_object(
        layout, due, rows, order=ObjectDeliveryOrder(layout), format_options=format_options
    ) as staged:
        return staged


@contextlib.contextmanager
def staging_object(
    layout: ObjectLayout,
    due: DueFile,
    rows: int,
    *,
    run_id: str = "",
    recorded: Recorded | None = None,
    order: Order | None = None,
    format_options: FormatOptions | None = None,
    lease: float = CLAIM_LEASE_SECONDS,
    wait: float = CLAIM_WAIT_SECONDS,
) -> Iterator[StagedFile]:
    """Write the sample of ``due`` and hold its claim while the caller records it.

    Raises :class:`LayoutError` for a bronze or raw path outside ``bronze/`` / ``raw/`` or
    with ``..`` or empty segments (before any request); :class:`SampleError` if the bronze
    object cannot be sampled now (missing, a store failure, another run's fresh claim still
    there after ``wait`` seconds); :class:`RefusedError` if no attempt can (its size differs
    from the manifest's, it was replaced while read, or its reader refuses its content).
    With ``recorded``, a delivery the provenance holds and the instance recorded raises
    :class:`AlreadySampledError`; with ``order``, a delivery earlier in the manifest than the
    one the sample holds raises :class:`SupersededError`. ``lease``: the age past which
    another run's claim is taken over (see the module's docstring for the protocol).
    """
    keys = _keys(layout, due)
    store = layout.store
    try:
        size, bronze_etag = _head_bronze(store, keys.bronze, due)
        claim_etag, claimed = _claim(store, keys, due, run_id, recorded, order, lease, wait)
    except StoreError as err:
        raise SampleError(str(err)) from None
    claim = Delivery.of(due, run_id)
    sample_written = False
    try:
        taken = sample_object(store, keys.bronze, size, bronze_etag, rows, format_options)
        sample, content, not_data = taken.sample, taken.content, taken.not_data
        if not_data is None:
            sample_etag: str | None = _put_sample(store, keys, content, claimed, claim_etag)
        else:
            _check_claim(store, keys, claim_etag)
            store.delete(keys.sample)
            sample_etag = None
        sample_written = True
        done = ObjectProvenance(claim, sample_etag, claim, sample_etag)
        claim_etag = _put_claimed(store, keys, done, claim_etag)
    except StoreError as err:
        if not sample_written:
            _release(store, keys, claimed, claim_etag)
        raise SampleError(str(err)) from None
    except BaseException:
        if not sample_written:
            # Nothing of this run is in the sample: the claim goes back to what was there.
            _release(store, keys, claimed, claim_etag)
        raise
    try:
        yield StagedFile(
            due,
            store.location(keys.bronze),
            size,
            store.location(keys.sample),
            keys.relpath,
            sample,
            not_data,
        )
    finally:
        _release(store, keys, ObjectProvenance(claim, sample_etag), claim_etag)


def _keys(layout: ObjectLayout, due: DueFile) -> _Keys:
    if not due.bronze.startswith("bronze/"):
        raise LayoutError(f"{due.bronze}: not a file under bronze/: staging reads no other")
    bronze = layout.key(due.bronze)
    try:
        relpath = sample_relpath(due.raw)
    except ValueError as err:
        raise LayoutError(str(err)) from None
    sample = layout.key(relpath)
    folder, name = posixpath.split(relpath)
    provenance = layout.key(f"{folder}/{confined.aux_name(name, '.source.json')}")
    return _Keys(bronze, sample, provenance, relpath)


def _head_bronze(store: StoreRoot, key: str, due: DueFile) -> tuple[int, str]:
    try:
        info = store.head(key)
    except StoreMissingError:
        raise SampleError(f"{store.location(key)}: bronze object is missing") from None
    # Checked before anything is written for it: bronze is put-if-absent, never rewritten.
    if due.size is not None and info.size != due.size:
        raise RefusedError(
            f"{store.location(key)}: {info.size} bytes where the manifest line says "
            f"{due.size} (bronze replaced after ingest?)",
            REWRITTEN,
        )
    return info.size, info.etag


def _read_version(store: StoreRoot, key: str) -> _Version:
    """The provenance object and the version read (HEAD, then a GET pinned to its ETag,
    again if it changed in between)."""
    for _ in range(_READ_TRIES):
        try:
            info = store.head(key)
        except StoreMissingError:
            return _Version(ObjectProvenance(None), None, None)
        try:
            data = store.get(key, etag=info.etag)
        except (StorePreconditionError, StoreMissingError):
            continue
        return _Version(ObjectProvenance.decode(data), info.etag, info.mtime)
    raise StoreError(f"{store.location(key)}: changed on each of {_READ_TRIES} reads")


def local_clock() -> float:
    """This machine's time (seconds since the epoch): a first judge of a claim's age."""
    return time.time()


def _store_age(store: StoreRoot, keys: _Keys, modified: float) -> float:
    """Seconds from ``modified`` (a last-modified time) to now on the store's own clock: the
    last-modified time of a probe object PUT beside the provenance, then deleted (a PUT, a
    HEAD and a DELETE, only when a claim looks stale). S3 keeps whole seconds: within a
    second."""
    probe = keys.provenance + ".clock"
    store.put(probe, b"")
    try:
        return store.head(probe).mtime - modified
    finally:
        store.delete(probe)


def _claim(
    store: StoreRoot,
    keys: _Keys,
    due: DueFile,
    run_id: str,
    recorded: Recorded | None,
    order: Order | None,
    lease: float,
    wait: float,
) -> tuple[str, ObjectProvenance]:
    """Steps 1 to 4 of the protocol: the claim's ETag and the provenance it replaced."""
    deadline = time.monotonic() + wait
    poll = _FIRST_POLL
    shown = store.location(keys.sample)
    while True:
        version = _read_version(store, keys.provenance)
        held, claim = version.provenance.held, version.provenance.claim
        if held is not None and recorded is not None and held.holds(due) and recorded(due):
            raise AlreadySampledError(
                f"{shown} already holds this delivery ({due.bronze} at mtime {due.mtime!r}), "
                f"sampled and recorded by run {held.run_id or '(unknown)'}: not sampled again"
            )
        age = local_clock() - (version.modified or 0.0)
        foreign = claim is not None and not (run_id and claim.run_id == run_id)
        if foreign and age >= lease:
            # Past its lease by this machine's clock: confirmed by the store's own before the
            # claim is taken over, so a clock running ahead never takes a live claim.
            age = _store_age(store, keys, version.modified or 0.0)
        if claim is not None and foreign and age < lease:
            if time.monotonic() >= deadline:
                raise SampleError(
                    f"{shown}: being staged by run {claim.run_id or '(unknown)'} "
                    f"({claim.bronze}), claimed {age:.0f} s ago; a claim is taken over after "
                    f"{lease:.0f} s"
                )
            time.sleep(poll)
            poll = min(_MAX_POLL, poll * 2)
            continue
        for other in (held, claim):
            if (
                other is not None
                and order is not None
                and other.bronze != due.bronze
                and order.later(other.bronze, due.bronze)
            ):
                raise SupersededError(
                    f"{shown} already holds (or a run was taking) the sample of {other.bronze}, "
                    f"a later manifest line; {due.bronze} is not sampled over it"
                )
        # The sample as it is now: the only version this claim may replace.
        try:
            sample_etag: str | None = store.head(keys.sample).etag
        except StoreMissingError:
            sample_etag = None
        before = ObjectProvenance(held, version.provenance.sample_etag)
        claimed = ObjectProvenance(held, before.sample_etag, Delivery.of(due, run_id), sample_etag)
        try:
            etag = store.put(
                keys.provenance,
                claimed.encode(),
                if_absent=version.etag is None,
                etag=version.etag,
            )
        except (StoreExistsError, StorePreconditionError):
            continue  # another run changed it first: decide again on what it wrote
        return etag, claimed


@dataclass(frozen=True)
class ObjectSample:
    """The sample of one object version: its description and bytes (``not_data`` set, and no
    bytes, for a file that is not data), and how many bytes of the object were fetched."""

    sample: Sample
    content: bytes
    not_data: NotDataError | None
    bytes_fetched: int


def sample_object(
    store: StoreRoot,
    key: str,
    size: int,
    etag: str,
    rows: int,
    format_options: FormatOptions | None = None,
) -> ObjectSample:
    """The sample of ``key`` at version ``etag`` (``size`` bytes), read by ranged GETs only,
    at most :data:`FETCH_LIMIT` bytes: what staging writes, and what P8 measures."""
    shown = store.location(key)
    reader = RangedReader(store, key, size, etag, limit=FETCH_LIMIT)
    not_data: NotDataError | None = None
    content = b""
    with io.BufferedReader(reader, buffer_size=FIRST_WINDOW) as source:
        try:
            sample, content = sample_open_file(source, shown, rows, format_options=format_options)
        except NotDataError as err:
            not_data = err
            sample = Sample(Contents(0), 0, err.kind)
        except SampleError:
            _refuse_on_failure(reader, shown, etag)
            raise
        # A reader that took a failed read for the end of the file: no sample of it.
        _refuse_on_failure(reader, shown, etag)
    return ObjectSample(sample, content, not_data, reader.bytes_fetched)


def _refuse_on_failure(reader: RangedReader, shown: str, etag: str) -> None:
    failure = reader.failure
    if isinstance(failure, StorePreconditionError):
        raise RefusedError(
            f"{shown}: replaced while it was sampled (it is no longer version {etag}); "
            "nothing of it was written",
            REWRITTEN,
        ) from failure
    if isinstance(failure, FetchLimitError):
        raise RefusedError(str(failure), BYTES) from failure
    if failure is not None:
        raise SampleError(
            f"{shown}: cannot read after {reader.bytes_fetched} bytes: {failure}"
        ) from failure


def _check_claim(store: StoreRoot, keys: _Keys, claim_etag: str) -> None:
    """Raise if the provenance is no longer this run's claim (taken over: lease passed)."""
    try:
        current: str | None = store.head(keys.provenance).etag
    except StoreMissingError:
        current = None
    if current != claim_etag:
        raise SampleError(
            f"{store.location(keys.sample)}: this run's claim was taken over by another run "
            "(it took longer than the claim's lease); its sample is not written"
        )


def _put_sample(
    store: StoreRoot, keys: _Keys, content: bytes, claimed: ObjectProvenance, claim_etag: str
) -> str:
    expected = claimed.claim_sample_etag
    for _ in range(_SAMPLE_PUT_TRIES):
        try:
            return store.put(keys.sample, content, if_absent=expected is None, etag=expected)
        except (StoreExistsError, StorePreconditionError):
            # The sample changed since the claim: a former claimer, slow past its lease, wrote
            # it. Still this run's claim: replace it (that run can write no more).
            _check_claim(store, keys, claim_etag)
            try:
                expected = store.head(keys.sample).etag
            except StoreMissingError:
                expected = None
    raise SampleError(f"{store.location(keys.sample)}: changed under this run's claim")


def _put_claimed(
    store: StoreRoot, keys: _Keys, provenance: ObjectProvenance, claim_etag: str
) -> str:
    try:
        return store.put(keys.provenance, provenance.encode(), etag=claim_etag)
    except StorePreconditionError:
        raise SampleError(
            f"{store.location(keys.sample)}: this run's claim was taken over by another run "
            "before it recorded its sample (it took longer than the claim's lease)"
        ) from None


def _release(store: StoreRoot, keys: _Keys, provenance: ObjectProvenance, etag: str) -> None:
    """Put ``provenance`` without a claim, if the claim is still this run's. A release that
    fails leaves the claim to its lease: what it guards is written (or nothing is)."""
    with contextlib.suppress(StoreError):
        store.put(
            keys.provenance,
            ObjectProvenance(provenance.held, provenance.sample_etag).encode(),
            etag=etag,
        )


def read_object_provenance(layout: ObjectLayout, relpath: str) -> ObjectProvenance | None:
    """The provenance of the sample at ``relpath`` (``samples/…``), if it has one."""
    folder, name = posixpath.split(relpath)
    key = layout.key(f"{folder}/{confined.aux_name(name, '.source.json')}")
    version = _read_version(layout.store, key)
    return version.provenance if version.etag is not None else None


def staging_on(
    layout: DatasetLayout | ObjectLayout,
    due: DueFile,
    rows: int,
    *,
    run_id: str = "",
    recorded: Recorded | None = None,
    order: Order | None = None,
    format_options: FormatOptions | None = None,
) -> contextlib.AbstractContextManager[StagedFile]:
    """:func:`staging_object` on a store, :func:`~alchemy_assets.stage_file.staging` on disk:
    what the sample asset calls for each due file, whatever the data root."""
    if isinstance(layout, ObjectLayout):
        return staging_object(
            layout,
            due,
            rows,
            run_id=run_id,
            recorded=recorded,
            order=order,
            format_options=format_options,
        )
    disk_order = order if isinstance(order, DeliveryOrder) or order is None else None
    return staging(
        layout,
        due,
        rows,
        run_id=run_id,
        recorded=recorded,
        order=disk_order,
        format_options=format_options,
    )
