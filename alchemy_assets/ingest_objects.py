"""``alchemy ingest`` on an object store: raw objects server-side copied to bronze, recorded in
the segment log.

A raw object under ``raw/<env>/`` is copied when its path is not in the log yet, or when its
(last-modified time, ETag) differs from the last line for that path (the store's quick check:
an ETag changes with every upload, even within the same second). The copy is server-side and
put-if-absent (:meth:`StoreRoot.copy_if_absent`): a bronze key is never overwritten; when the
name is taken, the next attempt name is used, as on disk. After the copy the raw object is
HEADed again: if its ETag changed meanwhile, the copy may hold either version, so it is
deleted and the object fails ("the next ingest takes it"). Objects above
:data:`MULTIPART_COPY_ABOVE` (S3's 5 GiB limit of one copy) are copied in parts with boto3
(UploadPartCopy with a byte range, each pinned to the listed ETag, and a completion with
``If-None-Match: *``); boto3 is optional, and without it such an object fails alone, saying so.
With ``checksum``, the SHA-256 of each copied object is computed by streaming its bronze copy
(ranged GETs of 8 MiB: bronze never changes) and recorded; an object whose (mtime, ETag) are
unchanged is not read (its ETag already changes with its content).

The lines of a group of copies (up to ``BATCH_FILES``) are one new segment of the log,
written only after every copy in it exists: a line never names a missing bronze object. Two
ingests at once never claim the same sequence number nor lose a line (the loser of the
put-if-absent takes the next number, :func:`manifest_log.write_segment`); they may both copy
the same new raw object, each to its own bronze name with its own line. That is accepted:
both lines name existing bronze objects, and staging samples a delivery once by
(raw, mtime, etag).

Crash safety. Before a group is copied, a journal ``manifests/pending/<run>-<group>.json``
names what it may create (raw key, time of ingest, mtime, ETag, size); it is deleted once the
segment is written. An ingest killed in between leaves it. The next ingest recovers every
journal older than the lease (``lease``, 15 minutes by default; a live ingest re-writes its
journal every third of the lease while it copies, so only a dead one's goes stale), or every
journal with ``recover_all``: each bronze object the journal's entries could have been copied
to (attempt 0, 1, ... of their names) that no log line names is **deleted**, then the
journal. Deleting, not adopting: a run killed between a copy and the ETag check after it
leaves a copy that may hold a newer version than the journal says, and a line adopting it
would record the wrong (mtime, ETag); the raw object, not recorded, is simply copied again by
the same run (server-side: no bytes through this host).

Keys the store library cannot name (a ``..`` or ``.`` segment, an empty one) fail alone: obstore
refuses to list past them, so on S3 the rest of the listing is read with boto3 where it is
installed; without it the dataset stops with an error naming the key.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alchemy_assets.atomic_copy import MAX_NAME_ATTEMPTS
from alchemy_assets.bronze_naming import bronze_relpath, day_of
from alchemy_assets.delivery import ETAG, Delivery
from alchemy_assets.ingest import (
    BATCH_FILES,
    OUTSIDE_ENV,
    Copied,
    IngestError,
    IngestReport,
)
from alchemy_assets.manifest_line import ManifestEntry, Rejection, encode_line
from alchemy_assets.manifest_log import (
    list_segments,
    read_whole_log,
    sequence_of,
    write_segment,
)
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import (
    SINGLE_COPY_LIMIT,
    ObjectInfo,
    StoreError,
    StoreExistsError,
    StoreMissingError,
    StorePreconditionError,
    StoreRoot,
)

PENDING = "manifests/pending"
PENDING_LEASE = timedelta(minutes=15)
# Server-side copies run concurrently: each is one request the store does the work of.
COPY_THREADS = 8
# Above this size an object is copied in parts (S3 copies at most 5 GiB in one request).
MULTIPART_COPY_ABOVE = SINGLE_COPY_LIMIT
PART_BYTES = 512 * 1024**2
MAX_PARTS = 10_000
_HASH_CHUNK = 8 * 1024**2
_INVALID_KEY = "the key has an empty, '.' or '..' segment; not ingested (rename the object)"
_CHANGED = "changed while copied; the next ingest takes it"
_ATTEMPT = re.compile(r"^\d{6}(?:-(\d{3}))?--")
_UNLISTABLE = re.compile(r'Path "(.*?)"(?: contained|: Encountered)', re.S)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Candidate:
    """A raw object to copy: its listing, its path relative to ``R`` and the time of ingest."""

    info: ObjectInfo
    raw: str
    when: datetime

    @property
    def etag(self) -> str:
        return _bare(self.info.etag)


@dataclass
class _Run:
    """One run's state: the report, the last sequence it saw, its id and group count."""

    layout: ObjectLayout
    report: IngestReport
    last: int | None
    checksum: bool
    lease: timedelta
    run_id: str = field(default_factory=lambda: f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}")
    groups: int = 0


def ingest_objects(
    layout: ObjectLayout,
    *,
    clock: Callable[[], datetime] = _now,
    checksum: bool = False,
    lease: timedelta = PENDING_LEASE,
    recover_all: bool = False,
) -> IngestReport:
    """Copy every new or changed raw object of ``layout`` into bronze and record it in the
    segment log; first recover what interrupted ingests left (journals older than ``lease``,
    or all with ``recover_all``: only when no other ingest of the dataset runs).

    An object that fails is reported (``report.failed``: its path and a reason naming its URL)
    and the others go on. Raises :class:`IngestError`, in one line, when the dataset cannot be
    ingested at all (the bucket missing, access denied, the store unreachable).
    """
    store = layout.store
    try:
        journals = _journals(layout)
        stale, fresh = _split_by_lease(journals, lease, recover_all)
        docs = _read_journals(layout, stale)
        in_question = {item["raw"] for _, items in docs for item in items}
        known, named, last, rejects = _read_log(layout, in_question)
    except StoreError as err:
        raise IngestError(str(err)) from None
    report = IngestReport(quarantined=rejects)
    unreadable = [info for info in stale if info.key not in {key for key, _ in docs}]
    report.notes += [
        f"{store.location(info.key)}: a pending journal that cannot be read; left in place"
        for info in unreadable
    ]
    if fresh:
        report.notes.append(
            f"{len(fresh)} pending journal(s) younger than {lease} (an ingest running now?) "
            "left alone"
        )
    _recover(layout, docs, named, report)
    run = _Run(layout, report, last, checksum, lease)
    group: list[_Candidate] = []
    listing = _raw_listing(layout)
    while True:
        try:
            info = next(listing, None)
        except (StoreError, IngestError) as err:
            _commit(run, group)  # what was copied so far is recorded before stopping
            raise IngestError(str(err)) from None
        if info is None:
            break
        candidate = _classify(layout, info, known, report, clock)
        if candidate is None:
            continue
        group.append(candidate)
        if len(group) >= BATCH_FILES:
            _commit(run, group)
            group = []
    _commit(run, group)
    return report


def _bare(etag: str) -> str:
    """An ETag as the manifest records it: without its quotes (and a weak tag's ``W/``)."""
    return etag.removeprefix("W/").strip('"')


def _classify(
    layout: ObjectLayout,
    info: ObjectInfo,
    known: dict[str, ManifestEntry],
    report: IngestReport,
    clock: Callable[[], datetime],
) -> _Candidate | None:
    """The object as a candidate to copy, or None (reported failed, skipped or unchanged)."""
    raw = layout.relative(info.key)
    parts = raw.split("/")[1:]
    if raw.endswith("/") and info.size == 0:
        return None  # a "folder" marker object (what consoles create), not a file
    shown = layout.describe(raw)
    if any(part in ("", ".", "..") for part in parts) or "\x00" in raw:
        report.failed.append((raw, f"{shown}: {_INVALID_KEY}"))
        return None
    if any(part.startswith(".") for part in parts):
        return None  # hidden: a partial upload or tool state, as on disk
    if len(parts) < 2:
        report.failed.append((raw, f"{shown}: {OUTSIDE_ENV}"))
        return None
    etag = _bare(info.etag)
    if not ETAG.fullmatch(etag):
        report.failed.append((raw, f"{shown}: the store gave no usable ETag ({info.etag!r})"))
        return None
    previous = known.get(raw)
    current = Delivery(info.mtime, info.size, etag=etag)
    if previous is not None and current.same_as(previous.delivery):
        report.unchanged += 1
        return None
    return _Candidate(info, raw, clock())


def _read_log(
    layout: ObjectLayout, in_question: set[str]
) -> tuple[dict[str, ManifestEntry], set[str], int | None, list[Rejection]]:
    """The last line per raw path, the bronze paths lines of ``in_question`` name, the last
    sequence number and the bad lines: one read of the whole log."""
    known: dict[str, ManifestEntry] = {}
    named: set[str] = set()
    rejects: list[Rejection] = []
    segment = ""
    for batch in read_whole_log(layout):
        for entry in batch.entries:
            known[entry.raw] = entry
            if entry.raw in in_question:
                named.add(entry.bronze)
        rejects.extend(batch.rejects)
        segment = batch.cursor.segment or segment
    return known, named, sequence_of(segment) if segment else None, rejects


def _raw_listing(layout: ObjectLayout) -> Iterator[ObjectInfo]:
    """Every object under ``raw/`` in key order, page by page; past a key obstore cannot
    parse, on S3 with boto3."""
    last: str | None = None
    try:
        for info in layout.store.objects(layout.raw):
            last = info.key
            yield info
        return
    except StoreError as err:
        match = _UNLISTABLE.search(str(err))
        if "invalid path" not in str(err) or match is None:
            raise
        bad = match.group(1)
    s3 = _s3(layout.store)
    if isinstance(s3, str):
        raise IngestError(
            f"{layout.store.url.split('://')[0]}://{_bucket(layout.store)}/{bad}: {_INVALID_KEY}; "
            f"the rest of {layout.store.location(layout.raw)} cannot be listed ({s3})"
        )
    yield from _boto3_listing(s3, layout.raw, last)


@dataclass(frozen=True)
class _S3:
    """A boto3 client of the store's bucket and the store root's key prefix."""

    client: Any
    bucket: str
    prefix: str  # "" or "fp/"
    url: str

    def full(self, key: str) -> str:
        return self.prefix + key

    def location(self, key: str) -> str:
        return f"{self.url}/{key}"


def _bucket(store: StoreRoot) -> str:
    return store.url.split("://", 1)[1].split("/", 1)[0]


def _s3(store: StoreRoot) -> _S3 | str:
    """A boto3 client for ``store`` (credentials and ``AWS_ENDPOINT_URL`` from boto3's own
    chain), or why there is none."""
    scheme, _, rest = store.url.partition("://")
    if scheme not in ("s3", "s3a"):
        return f"only done on S3, not on {scheme}://"
    try:
        import boto3
    except ImportError:
        return "that needs boto3, which is not installed: pip install 'boto3>=1.35,<2'"
    bucket, _, prefix = rest.partition("/")
    return _S3(boto3.client("s3"), bucket, f"{prefix}/" if prefix else "", store.url)


def _boto3_listing(s3: _S3, prefix: str, start_after: str | None) -> Iterator[ObjectInfo]:
    args: dict[str, Any] = {"Bucket": s3.bucket, "Prefix": s3.full(prefix)}
    if start_after is not None:
        args["StartAfter"] = s3.full(start_after)
    try:
        for page in s3.client.get_paginator("list_objects_v2").paginate(**args):
            for item in page.get("Contents", []):
                key = item["Key"][len(s3.prefix) :]
                yield ObjectInfo(
                    key, int(item["Size"]), item["LastModified"].timestamp(), item["ETag"]
                )
    except Exception as err:  # botocore's errors share no base class with a message
        raise StoreError(f"{s3.location(prefix)}: LIST failed: {_boto_reason(err)}") from None


def _boto_reason(err: BaseException) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', '')} {error.get('Message', '')}".strip()
    return " ".join(str(err).split())[:600]


# --- the group commit -------------------------------------------------------------------


def _commit(run: _Run, group: list[_Candidate]) -> None:
    """Copy a group, then write its lines as one segment (and its daily segments)."""
    if not group:
        return
    layout, report = run.layout, run.report
    store = layout.store
    run.groups += 1
    journal = layout.key(f"{PENDING}/{run.run_id}-{run.groups:06d}.json")
    body = _journal_body(group)
    try:
        store.put(journal, body)
    except StoreError as err:
        report.failed += [(c.raw, f"not copied: the pending journal: {err}") for c in group]
        return
    copied: dict[str, Copied] = {}
    clean = True  # no copy left behind that the journal must still account for
    with concurrent.futures.ThreadPoolExecutor(COPY_THREADS) as pool:
        futures = {pool.submit(_copy_one, layout, c, run.checksum): c for c in group}
        waiting = set(futures)
        while waiting:
            done, waiting = concurrent.futures.wait(waiting, timeout=run.lease.total_seconds() / 3)
            if waiting:
                # Still copying: keep the journal's last-modified time inside the lease.
                with contextlib.suppress(StoreError):
                    store.put(journal, body)
            for future in done:
                candidate = futures[future]
                try:
                    copied[candidate.raw] = future.result()
                except _CopyFailedError as err:
                    clean = clean and err.clean
                    report.failed.append((candidate.raw, str(err)))
                except (StoreError, OSError, ValueError) as err:
                    clean = False
                    report.failed.append((candidate.raw, str(err)))
    ordered = [copied[c.raw] for c in group if c.raw in copied]
    whens = {c.raw: c.when for c in group}
    if ordered:
        lines = [encode_line(c.raw, c.bronze, c.mtime, c.size, c.sha256, c.etag) for c in ordered]
        try:
            sequence = write_segment(layout, lines, after=run.last, day_lines={})
        except (StoreError, OSError) as err:
            if not _unrecorded_removed(layout, run.last, ordered):
                clean = False
            report.failed += [(c.raw, f"not recorded: {err}") for c in ordered]
            ordered = []
        else:
            run.last = sequence
            _write_days(layout, sequence, ordered, lines, whens, report)
    if clean:
        try:
            store.delete(journal)
        except StoreError as err:
            report.notes.append(f"pending journal left, the next ingest removes it: {err}")
    report.copied += ordered


def _journal_body(group: list[_Candidate]) -> bytes:
    items = [
        {
            "raw": c.raw,
            "when": c.when.isoformat(),
            "mtime": c.info.mtime,
            "etag": c.etag,
            "size": c.info.size,
        }
        for c in group
    ]
    return json.dumps({"items": items}, ensure_ascii=False).encode()


def _write_days(
    layout: ObjectLayout,
    sequence: int,
    ordered: list[Copied],
    lines: list[bytes],
    whens: dict[str, datetime],
    report: IngestReport,
) -> None:
    by_day: dict[str, list[bytes]] = {}
    for copied, line in zip(ordered, lines, strict=True):
        by_day.setdefault(day_of(whens[copied.raw]), []).append(line)
    for day, day_lines in sorted(by_day.items()):
        try:
            layout.store.put(layout.daily_segment_key(day, sequence), b"".join(day_lines))
        except StoreError as err:
            # The segment, the source of truth, has these lines: report, go on.
            report.failed += [
                (c.raw, f"day manifest: {err}") for c in ordered if day_of(whens[c.raw]) == day
            ]


def _unrecorded_removed(layout: ObjectLayout, after: int | None, ordered: list[Copied]) -> bool:
    """After a failed segment write: delete the copies unless a segment names them after all
    (a PUT that landed though its answer was lost). False when that cannot be told (the
    journal stays for the next ingest's recovery)."""
    wanted = {json.dumps(c.bronze, ensure_ascii=False).encode() for c in ordered}
    try:
        for batch_key in _segments_after(layout, after):
            data = layout.store.get(batch_key)
            if any(name in data for name in wanted):
                return False
        for copied in ordered:
            layout.store.delete(layout.key(copied.bronze))
    except StoreError:
        return False
    return True


def _segments_after(layout: ObjectLayout, after: int | None) -> list[str]:
    return [segment.key for segment in list_segments(layout, after=after)]


# --- one copy ---------------------------------------------------------------------------


class _CopyFailedError(OSError):
    """One object not copied; ``clean``: no bronze object of it was left behind."""

    def __init__(self, message: str, *, clean: bool = True) -> None:
        super().__init__(message)
        self.clean = clean


def _copy_one(layout: ObjectLayout, candidate: _Candidate, checksum: bool) -> Copied:
    """Copy one raw object to its first free bronze name and check it did not change."""
    store = layout.store
    info = candidate.info
    for attempt in range(MAX_NAME_ATTEMPTS):
        relpath = bronze_relpath(candidate.raw, candidate.when, attempt)
        target = layout.key(relpath)
        try:
            if info.size > MULTIPART_COPY_ABOVE:
                _multipart_copy(store, info, target)
            else:
                store.copy_if_absent(info.key, target)
            break
        except StoreExistsError:
            continue
        except StorePreconditionError:
            raise _CopyFailedError(f"{layout.describe(candidate.raw)}: {_CHANGED}") from None
        except StoreMissingError:
            raise _CopyFailedError(
                f"{layout.describe(candidate.raw)}: deleted before it was copied"
            ) from None
    else:
        raise _CopyFailedError(
            f"{layout.describe(candidate.raw)}: no free bronze name after {MAX_NAME_ATTEMPTS} "
            f"attempts at {bronze_relpath(candidate.raw, candidate.when)}"
        )
    try:
        after = store.head(info.key)
        changed = _bare(after.etag) != candidate.etag
        why = _CHANGED
    except StoreMissingError:
        changed, why = True, "deleted while copied"
    except StoreError as err:
        changed, why = True, f"cannot be checked after its copy ({err})"
    if changed:
        try:
            store.delete(target)
        except StoreError as err:
            raise _CopyFailedError(
                f"{layout.describe(candidate.raw)}: {why}; {err}", clean=False
            ) from None
        raise _CopyFailedError(f"{layout.describe(candidate.raw)}: {why}")
    digest = None
    if checksum:
        try:
            digest = _sha256(store, target, info.size)
        except StoreError as err:
            with contextlib.suppress(StoreError):
                store.delete(target)
            raise _CopyFailedError(f"checksum not computed: {err}", clean=False) from None
    return Copied(candidate.raw, relpath, info.mtime, info.size, digest, candidate.etag)


def _sha256(store: StoreRoot, key: str, size: int) -> str:
    """The SHA-256 of ``key``, streamed through ranged GETs (never held whole)."""
    digest = hashlib.sha256()
    for start in range(0, size, _HASH_CHUNK):
        digest.update(store.get_range(key, start, min(start + _HASH_CHUNK, size)))
    return digest.hexdigest()


def _multipart_copy(store: StoreRoot, info: ObjectInfo, target: str) -> None:
    """Copy ``info`` to ``target`` in parts (each UploadPartCopy pinned to the listed ETag),
    completed with ``If-None-Match: *``: refused when ``target`` exists."""
    s3 = _s3(store)
    location = store.location(target)
    if isinstance(s3, str):
        raise _CopyFailedError(
            f"{store.location(info.key)}: {info.size} bytes, above the {MULTIPART_COPY_ABOVE} "
            f"bytes of a single copy; a copy in parts is {s3}"
        )
    part = max(PART_BYTES, math.ceil(info.size / MAX_PARTS))
    source = {"Bucket": s3.bucket, "Key": s3.full(info.key)}
    key = s3.full(target)
    try:
        upload = s3.client.create_multipart_upload(Bucket=s3.bucket, Key=key)["UploadId"]
    except Exception as err:
        raise StoreError(f"{location}: CreateMultipartUpload failed: {_boto_reason(err)}") from None
    stage = "UploadPartCopy"
    try:
        parts = []
        for number, start in enumerate(range(0, info.size, part), 1):
            answer = s3.client.upload_part_copy(
                Bucket=s3.bucket,
                Key=key,
                UploadId=upload,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={start}-{min(start + part, info.size) - 1}",
                CopySourceIfMatch=info.etag,
            )
            parts.append({"ETag": answer["CopyPartResult"]["ETag"], "PartNumber": number})
        stage = "CompleteMultipartUpload"
        s3.client.complete_multipart_upload(
            Bucket=s3.bucket,
            Key=key,
            UploadId=upload,
            MultipartUpload={"Parts": parts},
            IfNoneMatch="*",
        )
    except Exception as err:
        with contextlib.suppress(Exception):
            s3.client.abort_multipart_upload(Bucket=s3.bucket, Key=key, UploadId=upload)
        reason = _boto_reason(err)
        message = f"{location}: {stage} from {info.key} failed: {reason}"
        if "PreconditionFailed" in reason or "412" in reason:
            if stage == "CompleteMultipartUpload":
                raise StoreExistsError(message) from None
            raise StorePreconditionError(message) from None
        if "NoSuchKey" in reason or "404" in reason:
            raise StoreMissingError(message) from None
        raise StoreError(message) from None


# --- recovery ---------------------------------------------------------------------------


def _journals(layout: ObjectLayout) -> list[ObjectInfo]:
    return [
        info
        for info in layout.store.objects(layout.key(PENDING) + "/")
        if info.key.endswith(".json")
    ]


def _split_by_lease(
    journals: list[ObjectInfo], lease: timedelta, recover_all: bool
) -> tuple[list[ObjectInfo], list[ObjectInfo]]:
    """The journals to recover (older than the lease, or all) and those left alone."""
    if recover_all:
        return journals, []
    cutoff = time.time() - lease.total_seconds()
    stale = [info for info in journals if info.mtime <= cutoff]
    return stale, [info for info in journals if info.mtime > cutoff]


def _read_journals(
    layout: ObjectLayout, journals: list[ObjectInfo]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each readable journal's key and items (an unreadable one is left out and noted)."""
    docs: list[tuple[str, list[dict[str, Any]]]] = []
    for info in journals:
        try:
            items = json.loads(layout.store.get(info.key))["items"]
            for item in items:
                datetime.fromisoformat(item["when"])
                layout.key(item["raw"])
        except StoreMissingError:
            docs.append((info.key, []))  # recovered by another ingest meanwhile
            continue
        except (ValueError, KeyError, TypeError):
            continue
        docs.append((info.key, items))
    return docs


def _recover(
    layout: ObjectLayout,
    docs: list[tuple[str, list[dict[str, Any]]]],
    named: set[str],
    report: IngestReport,
) -> None:
    """Delete the bronze objects stale journals' groups copied without lines, then them."""
    store = layout.store
    removed = 0
    for journal, items in docs:
        by_second: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
        for item in items:
            when = datetime.fromisoformat(item["when"]).astimezone(UTC)
            folder = bronze_relpath(item["raw"], when).rsplit("/", 1)[0]
            by_second.setdefault((folder, f"{when:%H%M%S}"), []).append((item["raw"], when))
        try:
            for (folder, second), entries in sorted(by_second.items()):
                prefix = layout.key(folder) + "/"
                # Every name of that second sorts right after the bare stamp.
                for info in store.objects(prefix, start_after=prefix + second):
                    name = info.key[len(prefix) :]
                    if not name.startswith(second):
                        break
                    relpath = layout.relative(info.key)
                    if relpath in named or not _copied_by(relpath, name, entries):
                        continue
                    store.delete(info.key)
                    removed += 1
            store.delete(journal)
        except StoreError as err:
            report.notes.append(f"{store.location(journal)}: not recovered, left: {err}")
    if removed:
        report.notes.append(
            f"removed {removed} bronze copies an interrupted ingest left without manifest lines"
        )


def _copied_by(relpath: str, name: str, entries: list[tuple[str, datetime]]) -> bool:
    """Whether bronze ``relpath`` is one of the names these (raw, when) could be copied to."""
    match = _ATTEMPT.match(name)
    if match is None:
        return False
    attempt = int(match.group(1) or 0)
    return any(bronze_relpath(raw, when, attempt) == relpath for raw, when in entries)
