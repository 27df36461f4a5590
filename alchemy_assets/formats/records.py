"""Where the first records of a text file end: the byte prefix a sample of it holds.

A record ends at a line ending (LF, CRLF or a CR alone) outside quotes. Quoting follows the
csv module with the file's :class:`Dialect`, as mainstream readers do: the quote character
opens a quoted field only at the start of a field (the start of a record or right after a
delimiter), a doubled quote inside quotes is a literal quote, the escape character (if any)
makes the next byte literal, and delimiters and line endings inside quotes belong to the
field. The dialect's preamble lines (titles and notes above the header) are lines, not
records. JSON Lines and text read as lines (a dialect without delimiter) have no quoting (a
JSON string cannot hold a raw line ending). A blank line (only its line ending; for JSON Lines
and lines only whitespace) is not a record. Nothing is decoded or re-encoded: the prefix is
the file's own bytes, which must be in an ASCII-compatible encoding (a UTF-16 or UTF-32 file
is transcoded to UTF-8 before it gets here: :mod:`alchemy_assets.formats.delimited`).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any, Protocol

from alchemy_assets.formats.dialect import Dialect

CHUNK = 64 * 1024
_CR, _LF = 13, 10
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
    """Finds record ends in a growing buffer, keeping its place between reads.

    ``dialect`` None: JSON Lines (no delimiter, no quoting, whitespace-only lines blank); a
    dialect without delimiter: lines, the same way.
    """

    def __init__(self, dialect: Dialect | None, head: bytes) -> None:
        # JSON Lines and lines: no delimiter, no quoting.
        d = dialect if dialect and not dialect.lines else Dialect(None, None)
        self.delimiter = ord(d.delimiter) if d.delimiter else None
        self.quote = ord(d.quotechar) if d.quotechar else None
        self.escape = ord(d.escapechar) if d.escapechar else None
        self.doublequote = d.doublequote
        inside = bytes(c for c in (self.quote, self.escape) if c is not None)
        self.specials = re.compile(rb"[\r\n" + re.escape(inside) + b"]")
        self.quoted = re.compile(b"[" + re.escape(inside) + b"]") if inside else None
        self.strip_blank = d.delimiter is None
        self.preamble = dialect.preamble_lines if dialect else 0
        self.buf = bytearray(head)
        self.pos = 0
        self.record_start = 0
        self.escaped_at = -1  # the last byte an escape character made literal
        self.quote_at: int | None = None
        self.ends: list[int] = []

    def scan(self, want: int, eof: bool) -> None:
        """Advance through the buffer until ``want`` records ended or more bytes are needed."""
        buf = self.buf
        while self.preamble:
            if not self._skip_line(eof):
                return
        while len(self.ends) < want:
            if self.quote_at is not None:
                if not self._skip_quoted(eof):
                    return
                continue
            match = self.specials.search(buf, self.pos)
            if match is None:
                self.pos = len(buf)
                if eof:
                    self._end_record(len(buf), len(buf))
                return
            at = match.start()
            byte = buf[at]
            if byte == self.quote:
                if at == self.record_start or (
                    buf[at - 1] == self.delimiter and self.escaped_at != at - 1
                ):
                    self.quote_at = at
                self.pos = at + 1
            elif byte == self.escape:
                if at + 1 < len(buf):
                    self.escaped_at = at + 1
                    self.pos = at + 2
                elif eof:
                    self.pos = at + 1
                else:
                    self.pos = at  # what does it escape?
                    return
            elif byte == _LF:
                self._end_record(at, at + 1)
            elif at + 1 < len(buf):
                self._end_record(at, at + 2 if buf[at + 1] == _LF else at + 1)
            elif eof:
                self._end_record(at, at + 1)
            else:
                self.pos = at  # a CR at the end of what was read: is an LF next?
                return

    def _skip_line(self, eof: bool) -> bool:
        """Move past one preamble line; False if more bytes are needed."""
        buf = self.buf
        match = _LINE_ENDS.search(buf, self.pos)
        if match is None or (match.end() == len(buf) and buf[match.start()] == _CR and not eof):
            if eof:  # the file ends inside its preamble: no records
                self.preamble = 0
                self.pos = self.record_start = len(buf)
                return True
            return False
        at = match.start()
        end = at + 2 if buf[at] == _CR and at + 1 < len(buf) and buf[at + 1] == _LF else at + 1
        self.pos = self.record_start = end
        self.preamble -= 1
        return True

    def _skip_quoted(self, eof: bool) -> bool:
        """Move past the quote that closes the open field; False if more bytes are needed."""
        buf = self.buf
        assert self.quoted is not None  # a quote opened: the dialect has a quote character
        match = self.quoted.search(buf, self.pos)
        if match is None and eof:
            assert self.quote_at is not None
            raise RecordError(
                f"unterminated quote: the quoted field opened on line "
                f"{line_number(buf, self.quote_at)} (byte {self.quote_at}) runs to the end "
                "of the file"
            )
        if match is None:
            self.pos = len(buf)
            return False
        at = match.start()
        if at + 1 == len(buf) and not eof:
            self.pos = at  # is the quote doubled? what does the escape character escape?
            return False
        if buf[at] == self.escape:
            self.pos = at + 2  # at the end of the file, the quote stays open
        elif self.doublequote and at + 1 < len(buf) and buf[at + 1] == self.quote:
            self.pos = at + 2  # a doubled quote inside quotes: a literal quote
        else:
            self.quote_at = None
            self.pos = at + 1
        return True

    def _end_record(self, content_end: int, end: int) -> None:
        content = self.buf[self.record_start : content_end]
        blank = not content.strip() if self.strip_blank else not content
        if not blank:
            self.ends.append(end)
        self.record_start = self.pos = end


def find_records(
    stream: ByteSource,
    records: int,
    dialect: Dialect | None,
    *,
    cap: int,
    at_least: int = 1,
    head: bytes = b"",
) -> Prefix:
    """Read ``stream`` until ``records`` records have ended (or it ends), at most ``cap`` bytes.

    ``dialect`` is a delimited file's dialect (its preamble lines are skipped, its header is
    a record; without delimiter, each non-blank line is a record), or None for JSON Lines.
    ``head`` holds bytes of the file already read from ``stream`` (its first bytes). At the
    cap, the whole records read so far are kept if there are ``at_least`` of them. Raises
    :class:`RecordError` for a quote still open at the end of the stream or at the cap, and
    when fewer than ``at_least`` records end within the cap.
    """
    if dialect is None:
        _refuse_utf16(head)
    scanner = _Scanner(dialect, head[:cap])
    eof = False
    while True:
        scanner.scan(records, eof)
        if len(scanner.ends) >= records or eof:
            break
        if len(scanner.buf) >= cap:
            return _at_cap(scanner, cap, at_least)
        chunk = stream.read(min(CHUNK, cap - len(scanner.buf)))
        if chunk:
            if not scanner.buf and dialect is None:
                _refuse_utf16(chunk)
            scanner.buf += chunk
        else:
            eof = True
    ends = scanner.ends[:records]
    return Prefix(bytes(scanner.buf[: ends[-1]]) if ends else b"", len(ends))


def read_up_to(stream: ByteSource, size: int) -> bytes:
    """The first ``size`` bytes of ``stream`` (fewer if it ends first), whatever each read
    returns."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class Chained(io.RawIOBase):
    """``first`` (bytes already read from ``rest``), then the rest of ``rest``."""

    def __init__(self, first: bytes, rest: io.RawIOBase) -> None:
        self.first, self.rest = first, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.first:
            count = min(len(buffer), len(self.first))
            buffer[:count] = self.first[:count]
            self.first = self.first[count:]
            return count
        return self.rest.readinto(buffer) or 0


def _refuse_utf16(first: bytes) -> None:
    if first[:2] in _UTF16_BOMS:
        raise RecordError(
            f"UTF-16 text (byte order mark {first[:2].hex(' ').upper()}): JSON Lines are "
            "sampled in ASCII-compatible encodings only (UTF-8, Latin-1, cp1252, ...)"
        )


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
