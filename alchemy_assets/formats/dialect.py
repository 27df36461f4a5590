"""The dialect of a delimited text file, detected from the first bytes of its content.

A dialect says how to read the file's records: the delimiter, the quote and escape characters,
whether the first record after the preamble is a header, how many lines of titles and notes
(the preamble of open-data exports) stand above it, and the encoding. It is found from a
bounded prefix of the decompressed content (the bytes a sample reads anyway), so its cost does
not grow with the file.

How (chosen by measurement, ``benchmarks/bench_dialect.py``): each candidate delimiter
(``, ; | TAB ^ \\x01``) and quote character (``"`` and ``'``, the backslash escape where the
text has one) parses the first 50 records with the :mod:`csv` module; a candidate scores the
share of records that have its most common field count, if that count is 2 or more. The best
score wins; delimiters within 0.05 of it are told apart by the fields they make (numbers,
dates and clean text against fields that still hold a delimiter, CleverCSV's idea, cheaply),
then by the number of fields: how a ``;`` file with decimal commas keeps its ``;``, and a tab
file whose text holds commas its tab. No candidate that splits the records consistently means
no delimiter: the file is read as lines, unless it is one column of numbers or dates (a
one-column CSV file, whose header names the column). The preamble is the run of leading
records that are blank, that have one field or fewer than half the fields of the records
below them, or only their first field filled (a title padded with empty fields); the header
is voted column by column (a text value above numbers or dates is a header, a value of the
column's own kind is data).

The encoding comes from a byte order mark (UTF-8, UTF-16 and UTF-32, little- and big-endian),
else UTF-8 if the prefix is valid UTF-8, else cp1252, else Latin-1 (which decodes every byte).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

DELIMITERS = (",", ";", "|", "\t", "^", "\x01")
QUOTES = ('"', "'")
# Records parsed per candidate: enough for a stable field count and a header vote, few enough
# that detection costs the same for a 4 KiB prefix and a 64 KiB one.
SAMPLE_RECORDS = 50
# Characters of the prefix looked at, at most: 50 records of very wide files (72 columns of
# text, 4 KiB a line) would otherwise be parsed for each candidate. Benchmark P7 finds every
# file of its corpus right from a 16 KiB prefix.
SCAN_CHARS = 16 * 1024
# Records below the first whose columns vote on a header: the kind of a column shows in a few.
HEADER_VOTE_RECORDS = 20
# Leading records that may be titles and notes; a longer run is taken as data.
MAX_PREAMBLE = 20
# A record's share with the most common field count, below which a delimiter is not taken.
MIN_CONSISTENCY = 0.5
# Formats whose consistency is this close to the best one's are compared by their fields.
CLOSE = 0.05

# Byte order marks, longest first: UTF-32LE's mark starts with UTF-16LE's.
BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_WIDE = {"utf-32-le": 4, "utf-32-be": 4, "utf-16-le": 2, "utf-16-be": 2}

_NUMBER = re.compile(
    r"[+-]?[$€£¥]?\(?(?:\d{1,3}(?:[,. '\u2019]\d{3})+|\d+)?(?:[.,]\d+)?(?:[eE][+-]?\d+)?\)?%?",
)
_DATE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"(?:\s?(?:[AaPp][Mm]|Z|[+-]\d{2}:?\d{2}))?"
)
_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?[AaPp][Mm])?")
_NUMBER_STARTS = frozenset("+-.,($€£¥")
_DIGIT = re.compile(r"\d")
_LINE_END = re.compile(r"[\r\n]")
_MISSING = frozenset({"na", "n/a", "nan", "null", "none", "-", ".", "?", "#n/a"})

# The csv module's default limit is 128 KiB; one field may be a whole prefix.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class Dialect:
    """How a delimited text file is written.

    ``delimiter`` None: no consistent delimiter, the file is read as lines (one ``line``
    column; no quoting, no header). ``quotechar`` opens a quoted field only at a field's start
    (as in :mod:`csv`); inside one, ``escapechar`` escapes the next character and, if
    ``doublequote``, a doubled quote is a literal one. ``preamble_lines`` physical lines (blank
    ones included) stand above the first record, which is a header if ``header``.
    ``encoding`` is a Python codec name: ``utf-8``, ``utf-8-sig`` (a UTF-8 byte order mark),
    ``utf-16-le``/``-be`` and ``utf-32-le``/``-be`` (only ever detected from their byte order
    mark, which :meth:`decode` drops), ``cp1252`` or ``latin-1``. ``source``: ``detected`` or
    ``configured``.
    """

    delimiter: str | None
    quotechar: str | None
    escapechar: str | None
    doublequote: bool
    header: bool
    preamble_lines: int
    encoding: str
    source: str = "detected"

    def to_dict(self) -> dict[str, object]:
        """The ``dialect`` metadata entry (DESIGN, Formats) as JSON-ready values."""
        return {
            "delimiter": self.delimiter,
            "quotechar": self.quotechar,
            "escapechar": self.escapechar,
            "header": self.header,
            "preamble_lines": self.preamble_lines,
            "encoding": self.encoding,
            "source": self.source,
        }

    def decode(self, data: bytes) -> str:
        """``data`` (the file's first bytes) as text in this encoding, its byte order mark
        dropped; a code unit cut at the end of ``data`` is dropped too."""
        text, _ = _decode_as(data, self.encoding, eof=False)
        return text


def detect_dialect(prefix: bytes, *, eof: bool) -> Dialect:
    """The dialect of a delimited text file whose content starts with ``prefix`` (its first
    bytes once decompressed, e.g. 64 KiB); ``eof``: ``prefix`` is the whole content. Unless
    ``eof``, the last line of ``prefix`` is taken to be cut short and is not looked at. The
    encoding is judged on all of ``prefix``, the rest on its first ``SCAN_CHARS`` characters
    (whole lines of them)."""
    encoding, text = _decode(prefix, eof=eof)
    if len(text) > SCAN_CHARS:
        text, eof = _whole_lines(text[:SCAN_CHARS]), False
    if not eof and not _LINE_END.search(text):
        eof = True  # one line longer than the prefix: its start is all there is to go by
    fit = _best_format(text, eof=eof)
    if fit is None and _one_typed_column(_head(text, SAMPLE_RECORDS * 2)):
        # One column of numbers or dates: a CSV file of one column, whose header names it.
        fit = _Fit(_Format(",", '"', None), 1.0, 1, 0)
    if fit is None:
        return Dialect(None, None, None, False, False, 0, encoding)
    records = _parse(text, fit.fmt, SAMPLE_RECORDS + MAX_PREAMBLE, eof=eof)
    start, preamble_lines = _preamble(records, fit.width)
    header = _has_header([fields for _, fields in records[start:]])
    # With an escape character, quotes are doubled too only if some doubled quote is not an
    # escaped quote followed by the closing one.
    doubled = re.compile(r"(?<!\\)" + re.escape(2 * fit.fmt.quotechar))
    doublequote = fit.fmt.escapechar is None or bool(doubled.search(text))
    return Dialect(
        fit.fmt.delimiter,
        fit.fmt.quotechar,
        fit.fmt.escapechar,
        doublequote,
        header,
        preamble_lines,
        encoding,
    )


# --- encoding -------------------------------------------------------------------------------


def _decode(prefix: bytes, *, eof: bool) -> tuple[str, str]:
    """The encoding of ``prefix`` and its text, cut after its last line ending unless ``eof``."""
    for bom, encoding in BOMS:
        if prefix.startswith(bom):
            text, _ = _decode_as(prefix, encoding, eof=eof)
            return encoding, text if eof else _whole_lines(text)
    body = prefix if eof else _whole_byte_lines(prefix)
    for encoding in ("utf-8", "cp1252", "latin-1"):
        text, ok = _decode_as(body, encoding, eof=eof)
        if ok:
            return encoding, text
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _decode_as(data: bytes, encoding: str, *, eof: bool) -> tuple[str, bool]:
    """``data`` decoded (a byte order mark dropped) and whether it decoded cleanly. Unless
    ``eof``, a character cut at the end of ``data`` is dropped rather than an error."""
    for bom, name in BOMS:
        if name == encoding:
            data = data.removeprefix(bom)
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    width = _WIDE.get(encoding, 1)
    if not eof:
        data = data[: len(data) - len(data) % width]
    try:
        return data.decode(codec), True
    except UnicodeDecodeError as err:
        if not eof and err.end == len(data) and err.reason == "unexpected end of data":
            return data[: err.start].decode(codec), True
        if width > 1 or (codec == "utf-8" and encoding == "utf-8-sig"):
            # A byte order mark said so: keep that encoding, marking what does not decode.
            return data.decode(codec, errors="replace"), True
        return "", False


def _whole_byte_lines(data: bytes) -> bytes:
    end = max(data.rfind(b"\n"), data.rfind(b"\r"))
    return data[: end + 1] if end >= 0 else data


def _whole_lines(text: str) -> str:
    end = max(text.rfind("\n"), text.rfind("\r"))
    return text[: end + 1] if end >= 0 else text


# --- delimiter, quote and escape ------------------------------------------------------------


@dataclass(frozen=True)
class _Format:
    delimiter: str
    quotechar: str
    escapechar: str | None


@dataclass(frozen=True)
class _Fit:
    """How well a format splits the first records: the share of records with its most common
    field count (``width``), how many fields open with its quote character, and the records
    (``typed``: how clean their fields are, a number, date or time counting 1, text holding no
    candidate delimiter 1/2, other text 0, averaged)."""

    fmt: _Format
    consistency: float
    width: int
    quoted: int
    records: Sequence[tuple[int, list[str]]] = ()

    def typed(self) -> float:
        scores = [_cell_score(f) for _, fields in self.records for f in fields if f.strip()]
        return round(sum(scores) / len(scores), 2) if scores else 0.0


def _best_format(text: str, *, eof: bool) -> _Fit | None:
    """The format that splits the first records most consistently, or None if none does."""
    head = _head(text, SAMPLE_RECORDS * 2)
    fits = []
    for delimiter in DELIMITERS:
        if delimiter not in head:
            continue
        for quotechar in QUOTES:
            opens = _quote_opens(head, delimiter, quotechar)
            if quotechar != '"' and not opens:
                continue
            escapes: list[str | None] = [None]
            if "\\" + quotechar in head:
                escapes.append("\\")
            for escapechar in escapes:
                fmt = _Format(delimiter, quotechar, escapechar)
                fit = _fit(_parse(text, fmt, SAMPLE_RECORDS, eof=eof), fmt, opens)
                if fit is not None:
                    fits.append(fit)
    if not fits:
        return None
    # Per delimiter, the quoting that splits most consistently, then into more fields, then
    # the quote that opens more fields, then no escape character (the plainer reading).
    per_delimiter: dict[str, _Fit] = {}
    for fit in fits:
        held = per_delimiter.get(fit.fmt.delimiter)
        if held is None or _quoting_rank(fit) > _quoting_rank(held):
            per_delimiter[fit.fmt.delimiter] = fit
    top = max(fit.consistency for fit in per_delimiter.values())
    if top < MIN_CONSISTENCY:
        return None
    # Delimiters about as consistent as the best one (a ragged record apart) are told apart by
    # the fields they make, as CleverCSV does: the right delimiter leaves numbers and clean
    # text, a wrong one leaves fields holding the right one. Then: more fields, then more
    # consistent.
    close = [fit for fit in per_delimiter.values() if fit.consistency >= top - CLOSE]
    if len(close) == 1:
        return close[0]
    return max(close, key=lambda f: (f.typed(), f.width, f.consistency))


def _quoting_rank(fit: _Fit) -> tuple[float, int, int, bool, bool]:
    return (
        fit.consistency,
        fit.width,
        fit.quoted,
        fit.fmt.quotechar == '"',
        fit.fmt.escapechar is None,
    )


def _fit(records: Sequence[tuple[int, list[str]]], fmt: _Format, opens: int) -> _Fit | None:
    counts = Counter(len(fields) for _, fields in records if _nonblank(fields))
    if not counts:
        return None
    width, top = max(counts.items(), key=lambda item: (item[1], item[0]))
    if width < 2:
        return None
    return _Fit(fmt, top / sum(counts.values()), width, opens, records)


def _cell_score(value: str) -> float:
    if _kind(value) != "text":
        return 1.0
    return 0.0 if any(delimiter in value for delimiter in DELIMITERS) else 0.5


def _quote_opens(head: str, delimiter: str, quotechar: str) -> int:
    """How often ``quotechar`` stands where a field starts (a line start or after a
    delimiter): the evidence that it quotes fields."""
    starts = head.count(delimiter + quotechar) + head.count("\n" + quotechar)
    return starts + head.startswith(quotechar)


def _head(text: str, lines: int) -> str:
    end = -1
    for _ in range(lines):
        end = text.find("\n", end + 1)
        if end < 0:
            return text
    return text[: end + 1]


def _parse(text: str, fmt: _Format, limit: int, *, eof: bool) -> list[tuple[int, list[str]]]:
    """Up to ``limit`` records of ``text`` read in ``fmt``, each with the physical line it
    starts on (1-based). Unless ``eof``, a last record not ended by a line ending is left out:
    it is cut short."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=fmt.delimiter,
        quotechar=fmt.quotechar,
        escapechar=fmt.escapechar,
        doublequote=True,
        strict=False,
    )
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for fields in reader:
            records.append((line, fields))
            line = reader.line_num + 1
            if len(records) > limit:
                return records[:limit]
    except csv.Error:
        # A NUL byte or the like: the records read so far are what this format can say.
        return records
    # The prefix was cut after a line ending: the last record is whole unless a quoted line
    # break was cut, which costs one record of consistency, no more.
    return records if eof or _LINE_END.match(text[-1:]) else records[:-1]


def _nonblank(fields: Sequence[str]) -> bool:
    return any(field.strip() for field in fields)


# --- preamble and header --------------------------------------------------------------------


def _preamble(records: Sequence[tuple[int, list[str]]], width: int) -> tuple[int, int]:
    """The index of the first record after the preamble, and the physical lines above it."""
    start = 0
    while start < min(len(records), MAX_PREAMBLE) and _is_note(records[start][1], width):
        start += 1
    rest = records[start:]
    if start == len(records) or not any(_filled(fields) >= 2 for _, fields in rest):
        return 0, 0  # nothing fuller below: the leading records are data
    return start, rest[0][0] - 1


def _is_note(fields: Sequence[str], width: int) -> bool:
    """A title, note or blank line above the header: nothing filled; one field alone, or
    fewer than half the fields the records have; or only its first field filled, the rest
    empty (a title in the first cell of a spreadsheet export), in records of 3 fields or
    more. A header whose first name is empty (pandas' index column, ``,value``) is none."""
    filled = _filled(fields)
    if filled == 0:
        return True
    if len(fields) != width and (len(fields) == 1 or len(fields) * 2 < width):
        return True
    return filled == 1 and width >= 3 and bool(fields[0].strip())


def _filled(fields: Sequence[str]) -> int:
    return sum(1 for field in fields if field.strip())


def _one_typed_column(head: str) -> bool:
    """Whether ``head`` is one column of numbers, dates or times (its first line may name
    it): no candidate delimiter, and values, not lines of text such as prose or fixed-width
    records."""
    if any(delimiter in head for delimiter in DELIMITERS):
        return False
    values = [line.strip() for line in head.splitlines()[1:] if line.strip()]
    return bool(values) and sum(_kind(v) != "text" for v in values) >= 0.8 * len(values)


def _has_header(records: Sequence[Sequence[str]]) -> bool:
    """Whether the first of ``records`` (those after the preamble) names the columns. Each
    column votes: a first value of another kind than the column's values below it (text above
    numbers, dates or times; another length above values of one length) is a header's; a
    value of the column's own kind is data. No vote either way: a header."""
    records = [r for r in records[: 2 * (1 + HEADER_VOTE_RECORDS)] if _nonblank(r)]
    if len(records) < 2:
        return len(records) == 1 and all(_kind(v) == "text" for v in records[0] if v.strip())
    first, body = records[0], records[1 : 1 + HEADER_VOTE_RECORDS]
    header_votes = data_votes = 0
    for column, value in enumerate(first):
        value = value.strip()
        raw = [r[column] for r in body if column < len(r)]
        below = [v.strip() for v in raw if v.strip() and v.strip().lower() not in _MISSING]
        if not value or not below or value.lower() in _MISSING:
            continue
        kinds = Counter(_kind(v) for v in below)
        kind, count = kinds.most_common(1)[0]
        if count < 0.8 * len(below):
            continue
        if kind != "text":
            if _kind(value) == kind:
                data_votes += 1
            else:
                header_votes += 1
            continue
        # Lengths as written: a fixed-width column pads its values to one length.
        lengths = {len(v) for v in raw}
        if len(lengths) == 1 and len(raw) >= 2:
            if len(first[column]) in lengths:
                data_votes += 1
            else:
                header_votes += 1
    return header_votes >= data_votes


def _kind(value: str) -> str:
    """``number``, ``date``, ``time`` or ``text``: what a field's value is written as."""
    value = value.strip()
    if not value or not (value[0].isdigit() or value[0] in _NUMBER_STARTS):
        return "text"  # most text, told without a regular expression
    if _NUMBER.fullmatch(value) and _DIGIT.search(value):
        return "number"
    if _DATE.fullmatch(value):
        return "date"
    if _TIME.fullmatch(value):
        return "time"
    return "text"
