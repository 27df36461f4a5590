"""Delimited text (``.csv .tsv .tab .txt .dat .psv``): the header and first N records, byte
for byte, and what they hold.

One :class:`~alchemy_assets.formats.dialect.Dialect` (delimiter, quote and escape characters,
header, preamble lines, encoding) drives both where the records end
(:func:`~alchemy_assets.formats.records.find_records`) and how they are described (row count,
column types, preview). It is detected (:func:`~alchemy_assets.formats.dialect.detect_dialect`)
from the first bytes the sample reads anyway (up to 64 KiB) before any record is cut, and each
key configured for the file's pattern (:class:`~alchemy_assets.format_options.FormatOptions`)
beats what is detected. Text with no consistent delimiter is read as lines: its first N
non-blank lines, one ``line`` column. UTF-16 and UTF-32 text (known from its byte order mark,
or configured) is decoded incrementally and cut as UTF-8; the sample is the file's own bytes
again, checked to be exactly those read. Oddities (not UTF-8, ragged records, duplicate or
empty header names) are described, never fatal.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from alchemy_assets.file_formats import data_extension
from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats.base import (
    HEAD_ROWS,
    JSON,
    NAMED,
    NO,
    Contents,
    Options,
    Source,
    Taken,
)
from alchemy_assets.formats.dialect import BOMS, Dialect, detect_dialect
from alchemy_assets.formats.records import (
    CHUNK,
    ByteSource,
    Prefix,
    RecordError,
    find_records,
    read_up_to,
)
from alchemy_assets.formats.text import cut_note, decode, looks_like_text, text_type

# Fields may be as long as a whole prefix; the csv module's default limit is 128 KiB.
csv.field_size_limit(2**31 - 1)

EXTENSIONS = (".csv", ".txt", ".dat", ".tsv", ".tab", ".psv")
# Names that say the file is delimited, and by what: where no delimiter splits its first
# records, such a file is one column (``ticker`` above ``AAPL``), not lines.
NAMED_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".psv": "|"}
_LINE_ENDS = re.compile(r"\r\n|\r|\n")
# The dialect keys a configuration can set (``format`` too, for ``tsv`` and ``lines``).
_DIALECT_KEYS = ("delimiter", "quotechar", "escapechar", "header", "preamble_lines", "encoding")
# A wide encoding's byte order mark, by the codec name a dialect carries.
_WIDE_BOMS = {name: bom for bom, name in BOMS if name.startswith(("utf-16", "utf-32"))}


def dialect_of(
    head: bytes, *, eof: bool, configured: FormatOptions | None = None, extension: str = ""
) -> Dialect:
    """The dialect of a file whose first bytes are ``head`` (``eof``: all of it): detected,
    then each key ``configured`` sets put over it (``format = "tsv"``: tab; ``"lines"``: no
    delimiter). ``source`` is ``configured`` if any key of the dialect was. Text that no
    delimiter splits is lines, unless its data ``extension`` names a delimiter
    (:data:`NAMED_DELIMITERS`): then it is one column under a header."""
    given = configured.to_dict() if configured else {}
    delimiter: str | None = given.get("delimiter")  # type: ignore[assignment]
    fmt = given.get("format")
    if delimiter is None and fmt == "tsv":
        delimiter = "\t"
    lines = fmt == "lines" and "delimiter" not in given
    chosen = lines or delimiter is not None or any(k in given for k in _DIALECT_KEYS)
    detected = detect_dialect(head, eof=eof, delimiter=delimiter)
    if detected.lines and not lines and extension in NAMED_DELIMITERS:
        detected = Dialect(NAMED_DELIMITERS[extension], encoding=detected.encoding)
    encoding = _encoding(str(given["encoding"]), head) if "encoding" in given else None
    if lines or detected.lines:
        dialect = Dialect(None, None, None, False, False, 0, encoding or detected.encoding)
        return replace(dialect, source="configured" if chosen else "detected")
    quote, escape = detected.quotechar, detected.escapechar
    if "quotechar" in given:
        quote = str(given["quotechar"]) or None
    if "escapechar" in given:
        escape = str(given["escapechar"]) or None
    header = given.get("header", detected.header)
    preamble = given.get("preamble_lines", detected.preamble_lines)
    return Dialect(
        delimiter if delimiter is not None else detected.delimiter,
        quote,
        escape,
        detected.doublequote if "escapechar" not in given else escape is None,
        bool(header),
        int(preamble),
        encoding or detected.encoding,
        "configured" if chosen else "detected",
    )


def _encoding(name: str, head: bytes) -> str:
    """A configured encoding as the codec name a dialect carries: ``utf-16`` and ``utf-32``
    (byte order from the mark) made explicit, little-endian without a mark."""
    codec = codecs.lookup(name).name
    if codec in ("utf-16", "utf-32"):
        for bom, bom_codec in BOMS:
            if head.startswith(bom) and bom_codec.startswith(codec):
                return bom_codec
        return f"{codec}-le"
    return codec


class DelimitedReader:
    """Delimited text: the header and the first N records, as written."""

    kind = "delimited"
    extensions = EXTENSIONS
    magic: tuple[bytes, ...] = ()
    streams = True

    def recognise(self, head: bytes, name: str) -> float:
        ext, _ = data_extension(name)
        return NAMED if ext in EXTENSIONS and looks_like_text(head) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        want = min(CHUNK, max_bytes)
        head = read_up_to(source, want)
        # The dialect is settled before any record is cut, from the bytes read anyway.
        dialect = options.dialect or dialect_of(
            head, eof=len(head) < want, configured=options.configured, extension=options.extension
        )
        records = rows + 1 if dialect.header else rows
        at_least = 2 if dialect.header else 1
        if dialect.width > 1:
            return _sample_wide(source, head, rows, dialect, max_bytes)
        prefix = find_records(source, records, dialect, cap=max_bytes, at_least=at_least, head=head)
        return Taken(prefix.data, describe_prefix(prefix, dialect, rows, max_bytes))


def _sample_wide(source: Source, head: bytes, rows: int, dialect: Dialect, max_bytes: int) -> Taken:
    """The sample of UTF-16 or UTF-32 text: its records cut on its UTF-8 transcoding (so
    delimiters and line endings are single bytes), then encoded back, byte order mark and
    all, and checked to be the very bytes read."""
    stream = _Transcoded(head, source, dialect.encoding)
    utf8 = replace(dialect, encoding="utf-8")
    # The cap counts the file's bytes: UTF-8 of ASCII text is 1/2 (1/4) of UTF-16 (UTF-32).
    cap = max(1, max_bytes // dialect.width)
    prefix = find_records(
        stream,
        rows + 1 if dialect.header else rows,
        utf8,
        cap=cap,
        at_least=2 if dialect.header else 1,
    )
    data = stream.encode_back(prefix.data)
    contents = describe_delimited(data, dialect)
    if prefix.cut_at_cap:
        contents.notes["cut"] = cut_note(contents.rows, rows, max_bytes)
    return Taken(data, contents)


class _Transcoded:
    """The UTF-8 of a UTF-16 or UTF-32 stream (its byte order mark left out), decoded as it
    is read; the original bytes read are kept (as many as the reads asked for, no more than
    one chunk beyond)."""

    def __init__(self, head: bytes, rest: ByteSource, encoding: str) -> None:
        self.encoding = encoding
        self.bom = _WIDE_BOMS.get(encoding, b"")
        self.had_bom = bool(self.bom) and head.startswith(self.bom)
        self.raw = bytearray(head)
        self.rest = rest
        self.decoder = codecs.getincrementaldecoder(encoding)()
        self.pending = bytearray(self._decode(head[len(self.bom) if self.had_bom else 0 :]))
        self.ended = False

    def _decode(self, data: bytes, final: bool = False) -> bytes:
        try:
            return self.decoder.decode(data, final).encode("utf-8")
        except UnicodeError as err:
            raise RecordError(f"not valid {self.encoding} text: {err}") from None

    def read(self, size: int = -1, /) -> bytes:
        while not self.ended and (size < 0 or len(self.pending) < size):
            chunk = self.rest.read(CHUNK)
            if chunk:
                self.raw += chunk
                self.pending += self._decode(chunk)
            else:
                self.pending += self._decode(b"", final=True)
                self.ended = True
        count = len(self.pending) if size < 0 else size
        out = bytes(self.pending[:count])
        del self.pending[:count]
        return out

    def encode_back(self, utf8: bytes) -> bytes:
        """The file's own bytes that ``utf8`` (a prefix of this stream) was decoded from."""
        data = (self.bom if self.had_bom else b"") + utf8.decode("utf-8").encode(self.encoding)
        if self.raw[: len(data)] != data:
            raise RecordError(
                f"the {self.encoding} text read does not encode back to the same bytes: "
                "not sampled, so that the sample stays the file's own bytes"
            )
        return data


def describe_prefix(prefix: Prefix, dialect: Dialect, rows: int, max_bytes: int) -> Contents:
    """What a kept prefix holds, with a note if the read cap cut the records asked for."""
    contents = describe_delimited(prefix.data, dialect)
    if prefix.cut_at_cap:
        contents.notes["cut"] = cut_note(contents.rows, rows, max_bytes)
    return contents


def dialect_entry(dialect: Dialect) -> dict[str, JSON]:
    """The ``dialect`` metadata entry (DESIGN, Formats)."""
    return {key: value for key, value in dialect.to_dict().items()}  # type: ignore[misc]


def describe_delimited(data: bytes, dialect: Dialect) -> Contents:
    """The header and records of a delimited prefix (as :mod:`records` delimited it), and its
    dialect (metadata ``dialect``)."""
    contents = _describe(data, dialect)
    contents.metadata["dialect"] = dialect_entry(dialect)
    return contents


def _describe(data: bytes, dialect: Dialect) -> Contents:
    # A detected ASCII-compatible encoding is a guess: decoded as before (UTF-8, else cp1252,
    # else Latin-1), with a note when not UTF-8. A configured or wide one is the encoding.
    known = dialect.width > 1 or dialect.source == "configured"
    text, encoding_note = _decode(data, dialect.encoding if known else None)
    if dialect.delimiter is None:
        return _describe_lines(text, encoding_note)
    stream = io.StringIO(text, newline="")
    for _ in range(dialect.preamble_lines):
        stream.readline()
    reader = csv.reader(
        stream,
        delimiter=dialect.delimiter,
        quotechar=dialect.quotechar or '"',
        quoting=csv.QUOTE_MINIMAL if dialect.quotechar else csv.QUOTE_NONE,
        escapechar=dialect.escapechar,
        doublequote=dialect.doublequote,
    )
    records: list[list[str]] = []
    lines: list[int] = []
    before = dialect.preamble_lines
    for record in reader:
        if record:
            records.append(record)
            lines.append(before + 1)
        before = dialect.preamble_lines + reader.line_num
    notes = {"encoding": encoding_note} if encoding_note else {}
    if not records:
        return Contents(0, notes=notes)
    if dialect.header:
        header, body, body_lines = records[0], records[1:], lines[1:]
        notes.update(_header_notes(header))
    else:
        header = [f"column_{i + 1}" for i in range(len(records[0]))]
        body, body_lines = records, lines
    ragged = [(i, len(r)) for i, r in enumerate(body) if len(r) != len(header)]
    if ragged:
        index, width = ragged[0]
        notes["ragged"] = (
            f"record {index + 1} (line {body_lines[index]}) has {width} fields, the header "
            f"{len(header)}; {len(ragged)} of {len(body)} records differ"
        )
    columns = tuple(
        (name, text_type(r[i] for r in body if i < len(r))) for i, name in enumerate(header)
    )
    head = tuple(
        tuple(r[i] if i < len(r) else "" for i in range(len(header))) for r in body[:HEAD_ROWS]
    )
    return Contents(len(body), columns, head, notes)


def _describe_lines(text: str, encoding_note: str | None) -> Contents:
    """Text read as lines: each non-blank line a record of one ``line`` column."""
    lines = [line for line in _LINE_ENDS.split(text) if line.strip()]
    notes = {"encoding": encoding_note} if encoding_note else {}
    head = tuple((line,) for line in lines[:HEAD_ROWS])
    return Contents(len(lines), (("line", "String"),) if lines else (), head, notes)


def _decode(data: bytes, encoding: str | None) -> tuple[str, str | None]:
    if encoding is not None:
        try:
            return data.decode(encoding).removeprefix("\ufeff"), None
        except UnicodeDecodeError:
            pass
    return decode(data)


def _header_notes(header: Sequence[str]) -> dict[str, str]:
    counts = Counter(header)
    problems = [f"{name!r} {count} times" for name, count in counts.items() if count > 1 and name]
    empty = [str(i + 1) for i, name in enumerate(header) if not name]
    if empty:
        problems.append(f"empty name at column(s) {', '.join(empty)}")
    return {"header": "; ".join(problems)} if problems else {}
