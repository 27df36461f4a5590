"""Which format a bronze file is in: its content first, its name second.

A file's first bytes are matched against the magic bytes of every compression and every
binary format (Parquet ``PAR1``, ORC ``ORC``, Avro ``Obj\\x01``, Arrow ``ARROW1``, zip
``PK\\x03\\x04``; gzip, bzip2, xz, zstd); then against what is not data at all (a PDF, an
image, any binary with NUL bytes); only then is the name asked (``.csv .tsv .tab .txt .dat
.psv`` delimited text, ``.jsonl .ndjson`` JSON Lines), and its answer must agree with the
content: a ``.csv`` that is Parquet is Parquet, a ``.txt`` that is gzip is gzip around the text
its name says, a ``.parquet`` without ``PAR1`` is not Parquet. A compressed file's inner format
comes from its name (without the compression suffix) and is confirmed on the decompressed
first bytes (:func:`confirm_inside`). A format configured for the file's pattern beats
both (``kind``); a documentation file (``README.txt``, ``LICENSE``, a ``.pdf`` or ``.md``) is
not data, told by its name alone.

To add a format: a module with a :class:`~alchemy_assets.formats.base.Reader`, and its line in
:data:`READERS`. :func:`sample_detected` samples a stream in the format detected, inside its
compression if it has one: a file (:mod:`alchemy_assets.sampling`) or a zip archive's member.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
from dataclasses import dataclass

from alchemy_assets.file_formats import data_extension, split_extension
from alchemy_assets.formats.archive import ZipReader
from alchemy_assets.formats.arrow_ipc import ArrowReader
from alchemy_assets.formats.avro import AvroReader
from alchemy_assets.formats.base import (
    CERTAIN,
    NAMED,
    NO,
    NoReaderError,
    Options,
    Reader,
    Source,
    Taken,
    binary_after,
)
from alchemy_assets.formats.compression import COMPRESSIONS, Compression, compression_of
from alchemy_assets.formats.delimited import DelimitedReader
from alchemy_assets.formats.excel import OLE2_MAGIC, WorkbookReader
from alchemy_assets.formats.json_document import JsonDocumentReader
from alchemy_assets.formats.jsonl import JsonLinesReader
from alchemy_assets.formats.orc import OrcReader
from alchemy_assets.formats.parquet import ParquetReader
from alchemy_assets.formats.records import Chained, read_up_to
from alchemy_assets.formats.text import looks_like_text

# The first bytes every file's format is judged from (magic bytes, NUL bytes).
HEAD_BYTES = 4096


class Unsampled:
    """A format recognised, but that no reader here samples yet: sampling it raises
    :class:`NoReaderError` (the file is not sampled, which is not a failure)."""

    streams = False

    def __init__(
        self,
        kind: str,
        extensions: tuple[str, ...],
        magic: tuple[bytes, ...] = (),
        *,
        text_magic: bool = False,
        by_name_only: tuple[str, ...] = (),
        reason: str | None = None,
    ) -> None:
        self.kind, self.extensions, self.magic = kind, extensions, magic
        self._reason = reason or f"{kind} files are recognised, but no reader samples them yet"
        self._text_magic = text_magic  # the magic is printable: binary data must follow it
        self._by_name_only = by_name_only  # its magic is shared (zip): it needs these names too

    def recognise(self, head: bytes, name: str) -> float:
        ext, _ = data_extension(name)
        for magic in self.magic:
            if not head.startswith(magic) or (self._by_name_only and ext not in self._by_name_only):
                continue
            # A magic that is text counts without binary data after it only if the name agrees.
            if not self._text_magic or ext in self.extensions or binary_after(head, len(magic)):
                return CERTAIN
        if not self.magic and ext in self.extensions and looks_like_text(head):
            return NAMED
        return NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        raise NoReaderError(self._reason)


_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
XLS_REASON = (
    "a legacy Excel workbook (.xls, an OLE2 file): recognised, not sampled, as no well-kept "
    "library writes .xls samples (save it as .xlsx to have it sampled)"
)
ODS_REASON = (
    "an OpenDocument spreadsheet (.ods): recognised, not sampled, as no reader here takes the "
    "first rows of its sheets in bounded bytes and writes them as .ods (save it as .xlsx to "
    "have it sampled)"
)
# Content before names: in this order, the first reader that is certain wins; failing that,
# the first whose name matches and whose content does not say otherwise.
READERS: tuple[Reader, ...] = (
    ParquetReader(),
    OrcReader(),
    AvroReader(),
    ArrowReader(),
    WorkbookReader(),
    # Spreadsheets recognised but not sampled: a sample is in the file's own format.
    Unsampled("xls", (".xls",), (OLE2_MAGIC,), by_name_only=(".xls",), reason=XLS_REASON),
    Unsampled("ods", (".ods",), _ZIP, by_name_only=(".ods",), reason=ODS_REASON),
    ZipReader(),
    DelimitedReader(),
    JsonLinesReader(),
    JsonDocumentReader(),
)

# What is not data, by its first bytes (after the formats above had their say).
NOT_DATA = (
    ("pdf", b"%PDF-", "a PDF document"),
    ("png", b"\x89PNG\r\n\x1a\n", "a PNG image"),
    ("jpeg", b"\xff\xd8\xff", "a JPEG image"),
    ("gif", b"GIF8", "a GIF image"),
    ("ole2", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 compound file (.xls, .doc, .msg)"),
    ("7z", b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    ("rar", b"Rar!\x1a\x07", "a RAR archive"),
    ("elf", b"\x7fELF", "an executable"),
)


# Documentation that comes with a delivery, by name (case-insensitive, any extension but
# one that names a data format: ``authors.csv`` or ``changes_2026.csv`` is data).
DOC_NAMES = ("readme", "license", "licence", "notice", "changelog", "changes", "copying", "authors")
DOC_EXTENSIONS = (".md", ".rst", ".htm", ".html", ".doc", ".docx", ".pdf")
# The bronze copy's name starts with the time of day it was ingested (``143000--``).
_BRONZE_STAMP = re.compile(r"^\d{6}(?:-\d+)?--")
# The configurable formats (``FormatOptions.format``) and the reader kind each means.
CONFIGURED_KINDS = {
    "csv": "delimited",
    "tsv": "delimited",
    "lines": "delimited",
    "jsonl": "jsonl",
    "json": "json",
    "parquet": "parquet",
    "avro": "avro",
    "orc": "orc",
    "arrow": "arrow",
    "xlsx": "xlsx",
    "zip": "zip",
}


@dataclass(frozen=True)
class Detected:
    """A file's format: its reader's ``kind``, the ``compression`` around it (``gzip``,
    ``bz2``, ``xz``, ``zstd``) or None, its name's full ``extension`` as written
    (``.CSV.bz2``) and its data extension (``.csv``: lower case, no compression suffix);
    ``configured``: the kind was configured, not detected."""

    kind: str
    compression: str | None
    extension: str
    data_extension: str
    configured: bool = False

    @property
    def reader(self) -> Reader:
        return next(r for r in READERS if r.kind == self.kind)

    @property
    def compressor(self) -> Compression | None:
        return next((c for c in COMPRESSIONS if c.name == self.compression), None)


@dataclass(frozen=True)
class NotData:
    """A file that is not data a reader here takes: what it looks like (``pdf``, ``binary``,
    ``text``, ...) and why it is not sampled."""

    kind: str
    reason: str


def supported() -> str:
    """The names samples are taken of, for messages."""
    names = sorted({ext for r in READERS if not isinstance(r, Unsampled) for ext in r.extensions})
    suffixes = ", ".join(c.suffix for c in COMPRESSIONS)
    return f"{', '.join(names)}, the text ones also compressed ({suffixes})"


def documentation(name: str) -> NotData | None:
    """Whether a file called ``name`` (a raw or bronze path) is documentation that came with
    the data, by its name alone: ``README*``, ``LICENSE*``, ``NOTICE*``, ``CHANGELOG*``,
    ``CHANGES*``, ``COPYING*``, ``AUTHORS*`` unless named as a data format (``.csv``, ...),
    and any ``.md .rst .htm .html .doc .docx .pdf``."""
    base = _BRONZE_STAMP.sub("", posixpath.basename(name))
    data_ext, _ = data_extension(base)
    data_names = {ext for r in READERS for ext in r.extensions} - {".txt"}
    if data_ext in DOC_EXTENSIONS:
        return NotData("documentation", f"named {data_ext!r}: documentation, not a data file")
    if base.lower().startswith(DOC_NAMES) and data_ext not in data_names:
        return NotData("documentation", f"named {base!r}: documentation, not a data file")
    return None


def detect(head: bytes, name: str, *, kind: str | None = None) -> Detected | NotData:
    """The format of a file called ``name`` whose first bytes are ``head`` (a few KiB);
    ``kind``: a reader's kind configured for it, which beats content and name (all but the
    compression, and what the name says is documentation)."""
    _, extension = split_extension(posixpath.basename(name))
    data_ext, _ = data_extension(name)
    doc = documentation(name)
    if doc is not None:
        return doc
    compression = compression_of(head)
    if compression is not None:
        return _compressed(compression, extension, data_ext, name, kind)
    if kind is not None:
        return Detected(kind, None, extension, data_ext, configured=True)
    scores = [(reader.recognise(head, name), -i, reader) for i, reader in enumerate(READERS)]
    score, _, best = max(scores, key=lambda s: s[:2])
    if score == CERTAIN:
        return Detected(best.kind, None, extension, data_ext)
    not_data = _not_data(head)
    if not_data is not None:
        kind, what = not_data
        return NotData(
            kind, f"{what}, not a data file (named {extension or 'without extension'!r})"
        )
    if score == NAMED:
        return Detected(best.kind, None, extension, data_ext)
    named = next((r for r in READERS if data_ext in r.extensions), None)
    if named is not None and named.magic:
        return NotData(
            "text" if looks_like_text(head) else "binary",
            f"named {extension!r}, but its first bytes {head[:8]!r} are not {named.kind}'s "
            f"magic bytes {named.magic[0]!r}",
        )
    return NotData(
        "text" if looks_like_text(head) else "binary",
        f"unknown format {extension or '(no extension)'!r}; samples are taken of {supported()}",
    )


def _compressed(
    compression: Compression, extension: str, data_ext: str, name: str, kind: str | None
) -> Detected | NotData:
    if kind is not None:
        named: Reader | None = next(r for r in READERS if r.kind == kind)
    else:
        named = next((r for r in READERS if data_ext and data_ext in r.extensions), None)
    if named is None:
        return NotData(
            compression.name,
            f"{compression.name}-compressed, and its name ({extension or 'no extension'!r}) "
            f"says no format inside; samples are taken of {supported()}",
        )
    if not named.streams and not isinstance(named, Unsampled):
        return NotData(
            compression.name,
            f"{named.kind} inside {compression.name}: not sampled ({named.kind} is read by "
            "seeking in the file, not as a stream)",
        )
    return Detected(named.kind, compression.name, extension, data_ext, configured=kind is not None)


def confirm_inside(detected: Detected, head: bytes) -> Detected | NotData:
    """``detected`` (a compressed file's format, from its name) if the decompressed first
    bytes ``head`` agree with it; else what they are instead."""
    outer = detected.compression
    kind = detected.kind if detected.configured else None
    inner = detect(head, f"inside{detected.data_extension}", kind=kind)
    if isinstance(inner, NotData):
        return NotData(f"{inner.kind} in {outer}", f"inside the {outer} stream: {inner.reason}")
    if inner.compression is not None:
        return NotData(
            f"{inner.compression} in {outer}",
            f"a {inner.compression} stream inside the {outer} stream: not sampled",
        )
    if inner.kind != detected.kind:
        return NotData(
            f"{inner.kind} in {outer}",
            f"{inner.kind} inside the {outer} stream: not sampled",
        )
    return detected


class NotDataInsideError(Exception):
    """A compressed stream whose decompressed first bytes are not the format its name says:
    ``found`` says what they are."""

    def __init__(self, found: NotData) -> None:
        super().__init__(found.reason)
        self.found = found


def sample_detected(
    found: Detected, source: io.RawIOBase, rows: int, *, max_bytes: int, options: Options
) -> Taken:
    """The sample of the stream ``source`` (read from its start) in the ``found`` format:
    its reader's, or for a compressed stream, its reader's sample of the text inside (its
    format confirmed on the decompressed first bytes) compressed again, so the sample's bytes
    are in the stream's own format. Raises :class:`NoReaderError` for a format no reader here
    samples, :class:`NotDataInsideError` for a compressed stream that holds no such format."""
    compressor = found.compressor
    if compressor is None:
        return found.reader.sample(source, rows, max_bytes=max_bytes, options=options)
    # Compressed bytes read are bounded too: a stream that yields little for its input
    # (empty members, say) must not make the sample read the whole file.
    max_input = 2 * max_bytes + HEAD_BYTES
    with contextlib.closing(compressor.open(source, max_input=max_input)) as stream:
        inner_head = read_up_to(stream, HEAD_BYTES)
        inside = confirm_inside(found, inner_head)
        if isinstance(inside, NotData):
            raise NotDataInsideError(inside)
        inner = Chained(inner_head, stream)
        taken = found.reader.sample(inner, rows, max_bytes=max_bytes, options=options)
    return Taken(compressor.compress(taken.data), taken.contents)


def _not_data(head: bytes) -> tuple[str, str] | None:
    for kind, magic, what in NOT_DATA:
        if head.startswith(magic):
            return kind, what
    if not looks_like_text(head):
        return "binary", "binary data (it holds NUL bytes)"
    return None
