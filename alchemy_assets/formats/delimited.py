"""Delimited text (``.csv .tsv .tab .txt .dat .psv``): the header and first N records, byte
for byte, and what they hold.

One :class:`~alchemy_assets.formats.records.Dialect` (delimiter, quote and escape
characters, header, preamble lines, encoding) drives both where the records end
(:func:`~alchemy_assets.formats.records.find_records`) and how they are described (row count,
column types, preview). Until dialects are detected, a file's dialect is the one its name
implies: ``,`` for ``.csv .txt .dat``, tab for ``.tsv .tab``, ``|`` for ``.psv``; double
quotes, a header, no preamble. Oddities (not UTF-8, ragged records, duplicate or empty header
names) are described, never fatal.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence

from alchemy_assets.file_formats import data_extension
from alchemy_assets.formats.base import (
    HEAD_ROWS,
    NAMED,
    NO,
    Contents,
    Options,
    Source,
    Taken,
)
from alchemy_assets.formats.records import CHUNK, Dialect, Prefix, find_records, read_up_to
from alchemy_assets.formats.text import cut_note, decode, looks_like_text, text_type

# Fields may be as long as a whole prefix; the csv module's default limit is 128 KiB.
csv.field_size_limit(2**31 - 1)

DELIMITERS = {".csv": ",", ".txt": ",", ".dat": ",", ".tsv": "\t", ".tab": "\t", ".psv": "|"}


def name_dialect(extension: str) -> Dialect:
    """The dialect a file's data extension implies (``,`` for one this module does not
    name)."""
    return Dialect(delimiter=DELIMITERS.get(extension.lower(), ","))


class DelimitedReader:
    """Delimited text: the header and the first N records, as written."""

    kind = "delimited"
    extensions = tuple(DELIMITERS)
    magic: tuple[bytes, ...] = ()
    streams = True

    def recognise(self, head: bytes, name: str) -> float:
        ext, _ = data_extension(name)
        return NAMED if ext in DELIMITERS and looks_like_text(head) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        head = read_up_to(source, min(CHUNK, max_bytes))
        # The dialect is settled before the records are cut: from the first bytes (here, for
        # now, from the name), so a detector plugs in with this one call.
        dialect = options.dialect or name_dialect(options.extension)
        prefix = find_records(
            source,
            rows + 1 if dialect.header else rows,
            dialect,
            cap=max_bytes,
            at_least=2 if dialect.header else 1,
            head=head,
        )
        return Taken(prefix.data, describe_prefix(prefix, dialect, rows, max_bytes))


def describe_prefix(prefix: Prefix, dialect: Dialect, rows: int, max_bytes: int) -> Contents:
    """What a kept prefix holds, with a note if the read cap cut the records asked for."""
    contents = describe_delimited(prefix.data, dialect)
    if prefix.cut_at_cap:
        contents.notes["cut"] = cut_note(contents.rows, rows, max_bytes)
    return contents


def describe_delimited(data: bytes, dialect: Dialect) -> Contents:
    """The header and records of a delimited prefix (as :mod:`records` delimited it)."""
    text, encoding_note = _decode(data, dialect.encoding)
    stream = io.StringIO(text, newline="")
    for _ in range(dialect.preamble_lines):
        stream.readline()
    reader = csv.reader(
        stream,
        delimiter=dialect.delimiter,
        quotechar=dialect.quotechar or '"',
        quoting=csv.QUOTE_MINIMAL if dialect.quotechar else csv.QUOTE_NONE,
        escapechar=dialect.escapechar,
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
