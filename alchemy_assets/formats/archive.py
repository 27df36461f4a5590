"""Zip archives (``.zip``; magic ``PK\\x03\\x04``, or ``PK\\x05\\x06`` for an empty one): each
data member sampled by its own format's reader, the sample a zip of those samples.

The sample is a zip of the archive's data members under the same names, in the same order,
each compressed by the same method, each holding that member's own sample (a CSV member: its
header and first N records byte for byte; a ``.csv.gz`` member: the gzip of those; a Parquet
member: its first N rows with its schema). Members that are not data (a README, a PDF, a
``.py``; a zip inside the zip, as archives are not recursed) are left out of it, and so are
members that cannot be sampled (a reader's error, an unreadable compression method): each is
listed with its reason in the metadata entry ``zip``, and the others are sampled. Directories
are skipped. The sample's columns are ``<member>:<column>`` (``prices.csv:price``), so drift
is told per member; its rows are all its members' records; its preview is its first member's.

Bounded reads: zipfile reads the central directory (at most :data:`MAX_DIRECTORY_BYTES`);
each member read is checked against its local header and read through zipfile's
decompressing stream, decompressed only as far as its reader reads (at most ``max_bytes``
decompressed and twice that compressed), so a deflate bomb yields no more than its sample
needs. A member of a format read by seeking (Parquet) is read in place if stored, into memory
if compressed and at most ``max_bytes`` uncompressed, and is not sampled otherwise. At most
:data:`MAX_READ_MEMBERS` members are read and :data:`MAX_SAMPLED_MEMBERS` sampled, in
archive order; once the members read have taken ``max_bytes`` in all, no more are read. The
members not read are listed too.

A hostile archive is refused whole, and nothing is extracted (the sample is one file, which
the sampler writes under ``samples/``): before any member is read, a member name that is
absolute, climbs out with ``..`` or holds a NUL byte, two members of one name, an encrypted
member (no password is ever configured), members whose data overlap (the overlapping-entries
zip bomb) or run into the central directory; when a member is read, a local header that
disagrees with the central directory (name, method, sizes, CRC), or data that is not what the
headers say (a wrong CRC, a size other than what decompresses).
"""

from __future__ import annotations

import errno
import io
import json
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import IO, Any

from alchemy_assets.file_formats import data_extension
from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats.base import (
    CERTAIN,
    JSON,
    NO,
    Contents,
    NoReaderError,
    Options,
    Source,
    Taken,
)
from alchemy_assets.formats.compression import CompressionError
from alchemy_assets.formats.records import Chained, RecordError, read_up_to
from alchemy_assets.metadata_bounds import cut_text

MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Zips that are documents or workbooks of their own (the xlsx reader takes workbooks).
NOT_ARCHIVES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".ods", ".odt", ".odp", ".docx", ".pptx")
# The central directory a sample reads at most: some 50,000 members of 40-character names.
MAX_DIRECTORY_BYTES = 4 * 1024 * 1024
# Members read (their first bytes, to tell their format) and data members sampled, at most.
MAX_READ_MEMBERS = 1_000
MAX_SAMPLED_MEMBERS = 100
# Serialized bytes of the members listed in the ``zip`` metadata entry, of one listed
# member's entry (beyond it, its format's own entries are left out), and characters of a
# listed name or reason.
MAX_LISTED_BYTES = 64 * 1024
MAX_ENTRY_BYTES = 4 * 1024
MAX_LISTED_CHARS = 300

# The compression methods zipfile reads, by their names in the metadata.
METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflated",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
# Others an archive may use, for messages (APPNOTE 4.4.5).
_OTHER_METHODS = {9: "deflate64", 93: "zstd", 95: "xz", 96: "jpeg", 97: "wavpack", 98: "ppmd"}
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # APPNOTE 4.3.7: 30 bytes, then name and extra
_ENCRYPTED = 0x01
_DATA_DESCRIPTOR = 0x08  # sizes and CRC follow the data, the local header holds zeros
_UTF8_NAME = 0x800
_ZIP64 = 0xFFFFFFFF  # a size in the ZIP64 extra field instead
_DRIVE = re.compile(r"^[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")


class ArchiveError(ValueError):
    """A zip archive refused whole: hostile, or not what its own headers say."""


class _InputCapError(ValueError):
    """A member whose data in the archive yields too little for what its sample reads."""


class ZipReader:
    """Zip archives: each data member's sample, in a zip of the same member names."""

    kind = "zip"
    extensions = (".zip",)
    magic = MAGIC
    streams = False

    def recognise(self, head: bytes, name: str) -> float:
        if not head.startswith(MAGIC):
            return NO
        return NO if data_extension(name)[0] in NOT_ARCHIVES else CERTAIN

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        meter = _Meter(source)
        with _open_archive(meter) as archive:
            _refuse_hostile(archive)
            files = [info for info in archive.infolist() if not info.is_dir()]
            members = _Members(archive, meter, rows, max_bytes, options.configured)
            outcomes = [members.take(info) for info in files]
            comment = archive.comment
            directories = len(archive.infolist()) - len(files)
        contents = _describe(outcomes, directories)
        return Taken(_write(outcomes, comment), contents)


@dataclass
class _Outcome:
    """What became of one member: its sample (``taken``, of ``kind`` in ``compression``), or
    why it has none: ``not_data``, ``not_sampled`` (read, but not by a reader here; or not
    read), ``failed`` (its reader's error)."""

    info: zipfile.ZipInfo
    kind: str | None = None
    compression: str | None = None
    taken: Taken | None = None
    not_data: str | None = None
    not_sampled: str | None = None
    failed: str | None = None


def _shown(name: str) -> str:
    return cut_text(repr(name), MAX_LISTED_CHARS)


def _method(info: zipfile.ZipInfo) -> str:
    number = info.compress_type
    return METHODS.get(number) or f"method {number} ({_OTHER_METHODS.get(number, 'unknown')})"


def _open_archive(meter: _Meter) -> zipfile.ZipFile:
    """The archive's central directory, read whole if it is within the bound."""
    # Beyond the directory itself: its end record, searched for in the last 64 KiB (the
    # archive's comment), and the ZIP64 end record.
    meter.allow(
        MAX_DIRECTORY_BYTES + 66 * 1024,
        lambda _: ArchiveError(
            f"its central directory is larger than {MAX_DIRECTORY_BYTES:,} bytes, the most a "
            "sample reads of an archive's list of members"
        ),
        whole=True,
    )
    try:
        return zipfile.ZipFile(meter)
    except (zipfile.BadZipFile, NotImplementedError) as err:
        raise ArchiveError(f"not a zip archive zipfile reads: {err}") from err


def _name_problem(name: str) -> str | None:
    if "\x00" in name:
        return "its name holds a NUL byte, which hides the rest of it from some tools"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "its name is an absolute path"
    if ".." in _SEPARATORS.split(name):
        return "its name climbs out of the archive ('..')"
    return None


def _refuse_hostile(archive: zipfile.ZipFile) -> None:
    """Raise :class:`ArchiveError` for what makes the archive hostile in its central
    directory: its names, an encrypted member, overlapping members."""
    seen: set[str] = set()
    for info in archive.infolist():
        name = info.orig_filename
        problem = _name_problem(name)
        if problem:
            raise ArchiveError(
                f"member {_shown(name)}: {problem}; an archive with such a name is not sampled"
            )
        if info.filename in seen:
            raise ArchiveError(
                f"two members are named {_shown(info.filename)}: which one is the data is "
                "ambiguous (tools keep one or the other); such an archive is not sampled"
            )
        seen.add(info.filename)
        if info.flag_bits & _ENCRYPTED:
            raise ArchiveError(
                f"member {_shown(name)} is encrypted: an encrypted archive is not sampled (no "
                "password is configured, and its data cannot be read without one)"
            )
    ordered = sorted(archive.infolist(), key=lambda i: i.header_offset)
    for this, after in zip(ordered, [*ordered[1:], None], strict=False):
        # The data starts after the local header and name, at least (its extra field may
        # push it further): even so, it must end before the next member's header.
        end = this.header_offset + _LOCAL_HEADER.size + len(_name_bytes(this))
        end += this.compress_size
        limit = after.header_offset if after else archive.start_dir
        if end > limit:
            into = f"member {_shown(after.filename)}" if after else "the central directory"
            raise ArchiveError(
                f"member {_shown(this.filename)}: its {this.compress_size:,} bytes of data at "
                f"offset {this.header_offset:,} run into {into}: overlapping entries (a zip "
                "bomb's trick) are not sampled"
            )


def _name_bytes(info: zipfile.ZipInfo) -> bytes:
    """The name as the central directory wrote it."""
    encoding = "utf-8" if info.flag_bits & _UTF8_NAME else "cp437"
    try:
        return info.orig_filename.encode(encoding)
    except UnicodeEncodeError:
        return info.orig_filename.encode("utf-8")


def _data_start(meter: _Meter, info: zipfile.ZipInfo) -> int:
    """Where a member's data starts, once its local header is found to agree with the
    central directory (the sizes and CRC, unless a data descriptor holds them)."""
    meter.seek(info.header_offset)
    header = read_up_to(meter, _LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or not header.startswith(MAGIC[0]):
        raise ArchiveError(
            f"member {_shown(info.filename)}: no local header at offset {info.header_offset:,}, "
            "where the central directory says it is"
        )
    fields: tuple[int, ...] = _LOCAL_HEADER.unpack(header)[1:]
    _, flags, method, _, _, crc, csize, usize, name_len, extra_len = fields
    claims: list[tuple[str, int, int]] = [("compression method", method, info.compress_type)]
    if not flags & _DATA_DESCRIPTOR:
        claims.append(("CRC-32", crc, info.CRC))
        if csize != _ZIP64:
            claims.append(("compressed size", csize, info.compress_size))
        if usize != _ZIP64:
            claims.append(("size", usize, info.file_size))
    for what, local, central in claims:
        if local != central:
            raise ArchiveError(
                f"member {_shown(info.filename)}: its local header gives {what} {local:,}, the "
                f"central directory {central:,}: tools that read one or the other would see "
                "different data, so the archive is not sampled"
            )
    return info.header_offset + _LOCAL_HEADER.size + name_len + extra_len


class _Members:
    """Samples an archive's members in order, within the bounds on members and bytes."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        meter: _Meter,
        rows: int,
        max_bytes: int,
        configured: FormatOptions | None,
    ) -> None:
        self.archive, self.meter, self.rows, self.max_bytes = archive, meter, rows, max_bytes
        # The dialect options configured for the archive's pattern apply to its delimited
        # members; its format (zip) does not.
        self.configured = replace(configured, format=None) if configured else None
        self.read = self.sampled = self.spent = 0

    def take(self, info: zipfile.ZipInfo) -> _Outcome:
        stop = self._stop()
        if stop:
            return _Outcome(info, not_sampled=stop)
        self.read += 1
        outcome = self._read(info)
        self.sampled += outcome.taken is not None
        return outcome

    def _stop(self) -> str | None:
        if self.sampled >= MAX_SAMPLED_MEMBERS:
            return f"not read: a sample takes at most {MAX_SAMPLED_MEMBERS:,} data members"
        if self.read >= MAX_READ_MEMBERS:
            return f"not read: a sample reads at most {MAX_READ_MEMBERS:,} members"
        if self.spent >= self.max_bytes:
            return (
                f"not read: the members before it took {self.spent:,} bytes, the sample's read "
                f"cap ({self.max_bytes:,})"
            )
        return None

    def _read(self, info: zipfile.ZipInfo) -> _Outcome:
        from alchemy_assets.formats import registry  # registry imports this module

        if info.compress_type not in METHODS:
            return _Outcome(
                info,
                not_sampled=f"compressed with {_method(info)}: zipfile reads "
                f"only {', '.join(METHODS.values())}",
            )
        cap = 2 * self.max_bytes + registry.HEAD_BYTES
        self.meter.allow(
            cap,
            lambda used: _InputCapError(
                f"{used:,} bytes of its data in the archive read, the most a member's sample "
                "reads (twice the read cap), and its sample is not done: its data yields too "
                "little for its size"
            ),
        )
        start = _data_start(self.meter, info)
        stream: _MemberStream | None = None
        try:
            with self.archive.open(info) as opened:
                stream = _MemberStream(opened, info)
                return self._sample(info, stream, start)
        except ArchiveError:
            raise
        except zipfile.BadZipFile as err:
            raise ArchiveError(f"member {_shown(info.filename)}: {err}") from err
        except Exception as err:
            if stream is not None and stream.hostile is not None:
                raise stream.hostile from err
            if self.meter.failure is not None or isinstance(err, MemoryError):
                raise  # the archive's own reads failed: not this member's bytes
            return _Outcome(info, failed=cut_text(_reason(err)))
        finally:
            self.spent += max(stream.out if stream else 0, self.meter.used)

    def _sample(self, info: zipfile.ZipInfo, stream: _MemberStream, start: int) -> _Outcome:
        from alchemy_assets.formats import registry  # registry imports this module

        head = read_up_to(stream, registry.HEAD_BYTES)
        found = registry.detect(head, info.filename)
        if isinstance(found, registry.NotData):
            return _Outcome(info, not_data=found.reason)
        kind = found.kind
        if kind == ZipReader.kind:
            return _Outcome(info, kind, not_data="a zip inside the archive: not recursed")
        options = Options(extension=found.data_extension, configured=self.configured)
        try:
            if found.compression is None and not found.reader.streams:
                source = self._seekable(info, stream, head, start)
                if isinstance(source, str):
                    return _Outcome(info, kind, not_sampled=source)
                taken = found.reader.sample(
                    source, self.rows, max_bytes=self.max_bytes, options=options
                )
            else:
                taken = registry.sample_detected(
                    found,
                    Chained(head, stream),
                    self.rows,
                    max_bytes=self.max_bytes,
                    options=options,
                )
        except NoReaderError as err:
            return _Outcome(info, kind, not_data=str(err))
        except registry.NotDataInsideError as err:
            return _Outcome(info, kind, not_data=err.found.reason)
        return _Outcome(info, kind, found.compression, taken)

    def _seekable(
        self, info: zipfile.ZipInfo, stream: _MemberStream, head: bytes, start: int
    ) -> Source | str:
        """A member to seek in: in place if stored, in memory if compressed and small
        enough; else why it is not sampled."""
        if info.compress_type == zipfile.ZIP_STORED:
            return _Window(self.meter, start, info.compress_size)
        if info.file_size > self.max_bytes:
            return (
                f"read by seeking, and {_method(info)} to {info.file_size:,} bytes, more than the "
                f"{self.max_bytes:,} a sample decompresses (a stored member would be read in place)"
            )
        # Read to its end (one byte more than it holds), so its size and CRC are checked.
        rest = read_up_to(stream, info.file_size - len(head) + 1)
        return io.BytesIO(head + rest)


def _reason(err: Exception) -> str:
    """Why a member failed: what our own readers say in our words as they say it; what a
    library raised, with its type."""
    if isinstance(err, RecordError | CompressionError | _InputCapError):
        return str(err)
    return f"{type(err).__name__}: {err}"


class _Meter(io.RawIOBase):
    """The archive file, read through an allowance: reads beyond it raise the error
    ``allow`` gave (``whole``: a read that does not fit is refused before it is made, else
    it is cut to fit, and the next one refused). ``used`` counts the bytes read since;
    ``failure`` keeps the first error of the file's own reads."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.room, self.used, self.whole = 0, 0, False
        self.exceeded: Callable[[int], Exception] = lambda used: ValueError(used)
        self.failure: OSError | None = None

    def allow(
        self, room: int, exceeded: Callable[[int], Exception], *, whole: bool = False
    ) -> None:
        self.room, self.used, self.whole, self.exceeded = room, 0, whole, exceeded

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            if whence != io.SEEK_SET:
                base = self.inner.tell() if whence == io.SEEK_CUR else self.inner.seek(0, whence)
                offset = base + offset
            if offset >= 0:
                return self.inner.seek(offset)
        except OSError as err:
            self.failure = self.failure or err
            raise
        # zipfile looks for a ZIP64 record before the start of a small archive and takes
        # this error as "none there": the file's own reads did not fail.
        raise OSError(errno.EINVAL, f"negative seek position {offset}")

    def tell(self) -> int:
        try:
            return self.inner.tell()
        except OSError as err:
            self.failure = self.failure or err
            raise

    def _fit(self, size: int) -> int:
        left = self.room - self.used
        if left <= 0 or (self.whole and size > left):
            raise self.exceeded(self.used)
        return min(size, left)

    def read(self, size: int | None = -1, /) -> bytes:
        # Cut before io.RawIOBase.read allocates a buffer of the size asked for.
        if size is None or size < 0:
            return self.readall()
        return super().read(self._fit(size)) or b""

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: self._fit(len(buffer))]
        try:
            data = self.inner.read(len(view))
        except OSError as err:
            self.failure = self.failure or err
            raise
        view[: len(data)] = data
        self.used += len(data)
        return len(data)


class _MemberStream(io.RawIOBase):
    """A member's decompressed bytes from zipfile, with what shows its headers lie kept as
    ``hostile``: a wrong CRC at its end, or a size other than the central directory's."""

    def __init__(self, inner: IO[bytes], info: zipfile.ZipInfo) -> None:
        self.inner, self.info, self.out = inner, info, 0
        self.hostile: ArchiveError | None = None

    def readable(self) -> bool:
        return True

    def _lie(self, what: str) -> ArchiveError:
        self.hostile = ArchiveError(f"member {_shown(self.info.filename)}: {what}")
        return self.hostile

    def readinto(self, buffer: Any) -> int:
        if not len(buffer):
            return 0
        try:
            data = self.inner.read(len(buffer))
        except zipfile.BadZipFile as err:
            raise self._lie(f"{err}: its data is not what its headers say") from err
        except EOFError as err:
            raise self._lie(
                f"its data ends before the {self.info.compress_size:,} compressed bytes its "
                "header gives"
            ) from err
        if not data and self.out != self.info.file_size:
            raise self._lie(
                f"its header gives {self.info.file_size:,} bytes uncompressed, and its data "
                f"holds {self.out:,}"
            )
        buffer[: len(data)] = data
        self.out += len(data)
        return len(data)


class _Window(io.RawIOBase):
    """``size`` bytes of ``inner`` from ``start``: a stored member, to seek in."""

    def __init__(self, inner: _Meter, start: int, size: int) -> None:
        self.inner, self.start, self.size, self.pos = inner, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.pos)
        if count <= 0:
            return 0
        self.inner.seek(self.start + self.pos)
        data = self.inner.read(count)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _write(outcomes: list[_Outcome], comment: bytes) -> bytes:
    """The sample: a zip of the members sampled, each under its name, by its method."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as sample:
        for outcome in outcomes:
            if outcome.taken is None:
                continue
            original = outcome.info
            info = zipfile.ZipInfo(original.filename, date_time=original.date_time)
            info.compress_type = original.compress_type
            info.external_attr = original.external_attr
            info.comment = original.comment
            sample.writestr(info, outcome.taken.data)
        sample.comment = comment
    return out.getvalue()


def _entry(outcome: _Outcome) -> dict[str, JSON]:
    """One member as the ``zip`` metadata entry lists it."""
    entry: dict[str, JSON] = {
        "name": cut_text(outcome.info.filename, MAX_LISTED_CHARS),
        "method": _method(outcome.info),
    }
    if outcome.kind:
        entry["kind"] = outcome.kind
    if outcome.compression:
        entry["compression"] = outcome.compression
    if outcome.taken is not None:
        contents = outcome.taken.contents
        entry["rows"] = contents.rows
        entry["columns"] = len(contents.columns)
        own = dict(contents.metadata)  # a delimited member's dialect, say
        size = len(json.dumps(own))
        if size > MAX_ENTRY_BYTES:
            own = {"metadata_left_out": f"{size:,} bytes of {outcome.kind} metadata"}
        entry.update(own)
    for key in ("not_data", "not_sampled", "failed"):
        reason = getattr(outcome, key)
        if reason is not None:
            entry[key] = cut_text(reason, MAX_LISTED_CHARS)
    return entry


def _describe(outcomes: list[_Outcome], directories: int) -> Contents:
    """What the sample holds: every member's records and columns (named
    ``<member>:<column>``), the first member's rows as the preview, each member listed."""
    sampled = [(o.info.filename, o.taken.contents) for o in outcomes if o.taken is not None]
    failed = [o for o in outcomes if o.failed is not None]
    if outcomes and not sampled:
        _nothing_sampled(outcomes, failed)
    columns = tuple((f"{name}:{col}", dtype) for name, c in sampled for col, dtype in c.columns)
    head = sampled[0][1].head if sampled else ()
    notes: dict[str, str] = {}
    by_topic: dict[str, list[str]] = {}
    for name, contents in sampled:
        for topic, note in contents.notes.items():
            by_topic.setdefault(topic, []).append(f"{name}: {note}")
    for topic, found in by_topic.items():
        more = f" (and {len(found) - 1:,} more members)" if len(found) > 1 else ""
        notes[topic] = found[0] + more
    not_read = [o for o in outcomes if o.not_sampled and o.not_sampled.startswith("not read")]
    odd = []
    if failed:
        first = failed[0]
        odd.append(
            f"{len(failed):,} member(s) could not be sampled, the first "
            f"{_shown(first.info.filename)}: {first.failed}"
        )
    if not_read:
        odd.append(f"{len(not_read):,} member(s) {not_read[0].not_sampled}")
    if odd:
        notes["members"] = "; ".join(odd)
    listed: list[JSON] = []
    used = 0
    for outcome in outcomes:
        entry = _entry(outcome)
        used += len(json.dumps(entry)) + 2
        if used > MAX_LISTED_BYTES:
            break
        listed.append(entry)
    counts: dict[str, JSON] = {
        "members": len(outcomes),
        "directories": directories,
        "sampled": len(sampled),
        "not_data": sum(o.not_data is not None for o in outcomes),
        "not_sampled": sum(o.not_sampled is not None for o in outcomes),
        "failed": len(failed),
    }
    summary: dict[str, JSON] = {**counts, "listed": listed}
    if len(listed) < len(outcomes):
        summary["not_listed"] = len(outcomes) - len(listed)
    rows = sum(contents.rows for _, contents in sampled)
    return Contents(rows, columns, head, notes, {"zip": summary})


def _nothing_sampled(outcomes: list[_Outcome], failed: list[_Outcome]) -> None:
    """Raise for an archive of members none of which was sampled: the first failure, or,
    when none failed, that it holds no data (not a failure)."""
    if failed:
        first = failed[0]
        raise ValueError(
            f"none of its members could be sampled; member {_shown(first.info.filename)}: "
            f"{first.failed}"
        )
    shown = "; ".join(
        f"{_shown(o.info.filename)}: {o.not_data or o.not_sampled}" for o in outcomes[:3]
    )
    more = f"; and {len(outcomes) - 3:,} more" if len(outcomes) > 3 else ""
    raise NoReaderError(
        f"a zip archive of {len(outcomes):,} member(s), none of them sampled: {shown}{more}"
    )
