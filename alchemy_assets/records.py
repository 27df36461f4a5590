"""Where the first records of a text file end: the byte prefix a sample of it holds.

A record ends at a line ending (LF, CRLF or a CR alone) outside quotes. Quoting follows the
csv module's default dialect, as mainstream readers do: a ``"`` opens a quoted field only at
the start of a field, ``""`` inside quotes is a literal quote, and delimiters and line endings
inside quotes belong to the field. JSON Lines have no quoting (a JSON string cannot hold a raw
line ending). A blank line (only its line ending; for JSON Lines only whitespace) is not a
record. Nothing is decoded or re-encoded: the prefix is the file's own bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

CHUNK = 64 * 1024
_CR, _LF, _QUOTE = 13, 10, 34
_CSV_SPECIALS = re.compile(rb'[\r\n"]')
_LINE_ENDS = re.compile(rb"[\r\n]")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # UTF-32's little-endian BOM starts the same


class RecordError(ValueError):
    """The records asked for cannot be delimited (a quote that never closes, say)."""


class ByteSource(Protocol):
    """A binary stream read front to back."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Prefix:
    """The bytes of a text file from its start through the end of its last kept record.

    ``records`` counts the kept records (a header included); ``cut_at_cap`` is set when the
    read cap was reached before all the records asked for ended (only whole records are kept).
    """

    data: bytes
    records: int
    cut_at_cap: bool = False


def line_number(data: bytes | bytearray, offset: int) -> int:
    """The 1-based line that byte ``offset`` of ``data`` is on (CRLF counts as one ending)."""
    head = bytes(data[:offset])
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


class _Scanner:
    """Finds record ends in a growing buffer, keeping its place between reads."""

    def __init__(self, separator: bytes | None) -> None:
        self.separator = separator[0] if separator else None
        self.buf = bytearray()
        self.pos = 0
        self.record_start = 0
        self.quote_at: int | None = None
        self.ends: list[int] = []

    def scan(self, want: int, eof: bool) -> None:
        """Advance through the buffer until ``want`` records ended or more bytes are needed."""
        buf = self.buf
        while len(self.ends) < want:
            if self.quote_at is not None:
                if not self._skip_quoted(eof):
                    return
                continue
            pattern = _LINE_ENDS if self.separator is None else _CSV_SPECIALS
            match = pattern.search(buf, self.pos)
            if match is None:
                self.pos = len(buf)
                if eof:
                    self._end_record(len(buf), len(buf))
                return
            at = match.start()
            if buf[at] == _QUOTE:
                if at == self.record_start or buf[at - 1] == self.separator:
                    self.quote_at = at
                self.pos = at + 1
            elif buf[at] == _LF:
                self._end_record(at, at + 1)
            elif at + 1 < len(buf):
                self._end_record(at, at + 2 if buf[at + 1] == _LF else at + 1)
            elif eof:
                self._end_record(at, at + 1)
            else:
                self.pos = at  # a CR at the end of what was read: is an LF next?
                return

    def _skip_quoted(self, eof: bool) -> bool:
        """Move past the quote that closes the open field; False if more bytes are needed."""
        buf = self.buf
        at = buf.find(b'"', self.pos)
        if at < 0 and eof:
            assert self.quote_at is not None
            raise RecordError(
                f"unterminated quote: the quoted field opened on line "
                f"{line_number(buf, self.quote_at)} (byte {self.quote_at}) runs to the end "
                "of the file"
            )
        if at < 0 or (at + 1 == len(buf) and not eof):
            self.pos = len(buf) if at < 0 else at  # is the quote at the end doubled?
            return False
        if at + 1 < len(buf) and buf[at + 1] == _QUOTE:
            self.pos = at + 2  # "" inside quotes: a literal quote
        else:
            self.quote_at = None
            self.pos = at + 1
        return True

    def _end_record(self, content_end: int, end: int) -> None:
        content = self.buf[self.record_start : content_end]
        blank = not content.strip() if self.separator is None else not content
        if not blank:
            self.ends.append(end)
        self.record_start = self.pos = end


def find_records(
    stream: ByteSource, records: int, separator: str | None, *, cap: int, at_least: int = 1
) -> Prefix:
    """Read ``stream`` until ``records`` records have ended (or it ends), at most ``cap`` bytes.

    ``separator`` is the field delimiter of a delimited format, or None for JSON Lines.
    At the cap, the whole records read so far are kept if there are ``at_least`` of them.
    Raises :class:`RecordError` for a quote still open at the end of the stream or at the cap,
    and when fewer than ``at_least`` records end within the cap.
    """
    scanner = _Scanner(separator.encode() if separator else None)
    eof = False
    while True:
        scanner.scan(records, eof)
        if len(scanner.ends) >= records or eof:
            break
        if len(scanner.buf) >= cap:
            return _at_cap(scanner, cap, at_least)
        chunk = stream.read(min(CHUNK, cap - len(scanner.buf)))
        if chunk:
            if not scanner.buf and chunk[:2] in _UTF16_BOMS:
                raise RecordError(
                    f"UTF-16 text (byte order mark {chunk[:2].hex(' ').upper()}): only "
                    "ASCII-compatible encodings (UTF-8, Latin-1, cp1252, ...) can be sampled"
                )
            scanner.buf += chunk
        else:
            eof = True
    ends = scanner.ends[:records]
    return Prefix(bytes(scanner.buf[: ends[-1]]) if ends else b"", len(ends))


def _at_cap(scanner: _Scanner, cap: int, at_least: int) -> Prefix:
    """What to keep when ``cap`` bytes were read before the records asked for ended."""
    buf = scanner.buf
    if scanner.quote_at is not None:
        raise RecordError(
            f"unterminated quote: the quoted field opened on line "
            f"{line_number(buf, scanner.quote_at)} (byte {scanner.quote_at}) does not close "
            f"within the first {cap} bytes"
        )
    if len(scanner.ends) < at_least:
        # Nothing past the cap is read: whether the record ends later is not known.
        raise RecordError(
            f"the record on line {line_number(buf, scanner.record_start)} does not end within "
            f"the first {cap} bytes, the read cap: its line ending, if it has one, is past them"
        )
    return Prefix(bytes(buf[: scanner.ends[-1]]), len(scanner.ends), cut_at_cap=True)
