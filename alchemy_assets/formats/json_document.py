"""JSON documents (``.json``): the first N records of an array, each byte for byte as written.

Where the records are: a document that is an array holds them; an object holds them in the
first of its keys whose value is an array of objects (``{"type": ..., "features": [{...}]}``)
or in the key ``records`` configures (``"data"``; a dotted path ``"response.items"`` for an
array nested in objects); a document with neither (an object with no array of objects, a
lone number) is one record. A ``.json`` whose first line is a whole JSON value with more
values on the lines after it is JSON Lines, sampled as such.

The sample is the file's own bytes from its first byte through the N-th element (what
precedes the array, keys and values of an enclosing object included, as written), then the
brackets that close what is still open, each on a line indented as the line that opened it
when the file is pretty-printed: valid JSON, whose elements are the file's. Keys after the
records' array are left out (noted). Only the bytes through the N-th element are read, in
64 KiB chunks, at most the read cap: a scanner of the JSON structure (strings and their
escapes, nesting) finds where each element ends without parsing it, and the json module
parses what is kept (an element that is not valid JSON is refused, with its byte offset).
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate, count, islice
from typing import Any

from alchemy_assets.file_formats import data_extension
from alchemy_assets.formats.base import (
    JSON,
    NAMED,
    NO,
    Contents,
    Options,
    Source,
    Taken,
)
from alchemy_assets.formats.jsonl import describe_objects, sample_json_lines
from alchemy_assets.formats.records import RecordError, line_number, read_up_to
from alchemy_assets.formats.text import cut_note, decode, looks_like_text

CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_WS = re.compile(rb"[ \t\r\n]*")
_INDENT = re.compile(rb"[ \t]*")
# The inside of a string up to its closing quote: runs of plain bytes and escapes (unrolled
# and possessive, so matching is linear). It stops early only at a backslash that is the last
# byte read.
_IN_STRING = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)
# What lies between brackets inside a container: bytes that are none of them, and whole
# strings (whatever they hold), matched in one go; it stops at a bracket, at a string not
# closed within what is read, or at the end of what is read.
_BETWEEN = re.compile(rb'[^"\[\]{}]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"[^"\[\]{}]*+)*+', re.DOTALL)
_SCALAR = re.compile(rb'[^ \t\r\n,:\[\]{}"]+')
_BRACKET = re.compile(rb"[\[\]{}]")
_BRACKETS = frozenset(b"[]{}")
# Brackets as marks (2 opens, 0 closes) and every other byte deleted, for bytes.translate.
_MARKS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# How many bytes of a run without strings are counted at a time: a container that closes
# early in a long run costs no more than this.
_WINDOW = 16 * 1024
_QUOTE, _COMMA, _COLON = ord('"'), ord(","), ord(":")
_OPEN_ARRAY, _CLOSE_ARRAY, _OPEN_OBJECT, _CLOSE_OBJECT = b"[]{}"
_CLOSER = {_OPEN_ARRAY: _CLOSE_ARRAY, _OPEN_OBJECT: _CLOSE_OBJECT}
_NAMES = {_OPEN_ARRAY: "array", _OPEN_OBJECT: "object", _QUOTE: "string"}


class JsonDocumentError(RecordError):
    """A JSON document whose records cannot be taken: not valid JSON where the sample needs
    it, records configured where the document has none, an element past the read cap."""


class _AtLimitError(Exception):
    """No more bytes may be read (the read cap, or a look at what is read already)."""


class JsonDocumentReader:
    """A JSON document: the first N elements of its records' array, as written."""

    kind = "json"
    extensions = (".json",)
    magic: tuple[bytes, ...] = ()
    streams = True

    def recognise(self, head: bytes, name: str) -> float:
        ext, _ = data_extension(name)
        return NAMED if ext in self.extensions and looks_like_text(head) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        configured = options.configured.records if options.configured else None
        path = tuple(configured.split(".")) if configured else None
        head = read_up_to(source, min(CHUNK, max_bytes))
        if head.startswith(_WIDE_BOMS):
            raise JsonDocumentError(
                f"UTF-16 or UTF-32 text (byte order mark {head[:2].hex(' ').upper()}): JSON "
                "documents are sampled in UTF-8 (or another ASCII-compatible encoding) only"
            )
        if _json_lines(head):
            if path is not None:
                raise _records_mismatch(configured, "JSON Lines (one JSON value per line)")
            return _as_json_lines(source, rows, max_bytes, head)
        return _Sampler(_Document(source, head, max_bytes), rows, path, configured).take()


def _json_lines(head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is JSON Lines: its first line is a
    whole JSON value and more follows it, which no single JSON document does."""
    start = _WS.match(head, len(_BOM) if head.startswith(_BOM) else 0)
    assert start is not None  # matches the empty string
    newline = head.find(b"\n", start.end())
    if newline < 0:
        return False
    try:
        json.loads(head[start.end() : newline])
    except ValueError:  # not JSON, or not UTF-8
        return False
    after = _WS.match(head, newline)
    assert after is not None
    return after.end() < len(head)


def _as_json_lines(source: Source, rows: int, max_bytes: int, head: bytes) -> Taken:
    """A ``.json`` that is JSON Lines, sampled as such (``head``: its bytes read already)."""
    taken = sample_json_lines(source, rows, max_bytes=max_bytes, head=head)
    notes = dict(taken.contents.notes)
    if "json" in notes:  # lines that are not objects; "json" is this reader's metadata entry
        notes["json_lines"] = notes.pop("json")
    metadata = {**taken.contents.metadata, "json": _entry("json lines", None, None)}
    return Taken(taken.data, _with(taken.contents, notes, metadata))


def _with(contents: Contents, notes: dict[str, str], metadata: dict[str, JSON]) -> Contents:
    return Contents(contents.rows, contents.columns, contents.head, notes, metadata)


def _entry(layout: str, records: str | None, source: str | None) -> dict[str, JSON]:
    """The ``json`` metadata entry: how the sample's records are laid out in it."""
    entry: dict[str, JSON] = {"layout": layout, "records": records}
    if source is not None:
        entry["source"] = source
    return entry


def _records_mismatch(configured: str | None, what: str) -> JsonDocumentError:
    return JsonDocumentError(
        f"records = {configured!r} is configured for it, but it is {what}, not an object "
        "holding that key"
    )


class _Document:
    """The bytes of a JSON document read so far (from its first byte), read on demand in
    chunks up to ``limit`` (the read cap, unless lowered to look only at what is read)."""

    def __init__(self, source: Source, head: bytes, cap: int) -> None:
        self.source = source
        self.buf = bytearray(head)
        self.cap = self.limit = cap
        # read_up_to returns fewer bytes than asked for only at the end of the file.
        self.eof = len(head) < min(CHUNK, cap)

    def more(self) -> bool:
        """Read another chunk; False at the end of the file."""
        if self.eof:
            return False
        if len(self.buf) >= self.limit:
            raise _AtLimitError
        chunk = self.source.read(min(CHUNK, self.limit - len(self.buf)))
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def at(self, pos: int) -> int | None:
        """The byte at ``pos``; None past the end of the file."""
        while pos >= len(self.buf):
            if not self.more():
                return None
        return self.buf[pos]

    def skip_ws(self, pos: int) -> int:
        """Where the first byte that is not whitespace at or after ``pos`` is (the end of the
        file if none is)."""
        while True:
            match = _WS.match(self.buf, pos)
            assert match is not None  # matches the empty string
            if match.end() < len(self.buf) or not self.more():
                return match.end()
            pos = match.end()

    def where(self, pos: int) -> str:
        return f"byte {pos} (line {line_number(self.buf, pos)})"

    def error(self, pos: int, expected: str) -> JsonDocumentError:
        """Not what a JSON document has at ``pos``."""
        if pos >= len(self.buf):
            return JsonDocumentError(f"the file ends at byte {len(self.buf)}: expected {expected}")
        found = bytes(self.buf[pos : pos + 1]).decode("latin-1")
        return JsonDocumentError(f"{self.where(pos)}: expected {expected}, found {found!r}")

    def string_end(self, start: int) -> int:
        """Where the string opened by the quote at ``start`` ends (after its closing quote)."""
        pos = start + 1
        while True:
            match = _IN_STRING.match(self.buf, pos)
            assert match is not None  # matches the empty string
            pos = match.end()
            if pos < len(self.buf) and self.buf[pos] == _QUOTE:
                return pos + 1
            # The end of what is read, or a backslash whose escaped byte is not read yet.
            if not self.more():
                raise JsonDocumentError(
                    f"the string opened at {self.where(start)} runs to the end of the file"
                )

    def value_end(self, start: int) -> int:
        """Where the JSON value starting at ``start`` (not whitespace) ends."""
        first = self.at(start)
        if first is None:
            raise self.error(start, "a JSON value")
        if first == _QUOTE:
            return self.string_end(start)
        if first in _CLOSER:
            return self._container_end(start)
        while True:
            scalar = _SCALAR.match(self.buf, start)
            if scalar is None:
                raise self.error(start, "a JSON value")
            if scalar.end() < len(self.buf) or not self.more():
                return scalar.end()

    def _container_end(self, start: int) -> int:
        """Where the array or object opened at ``start`` closes: after the bracket that
        brings the nesting back to where it was. Which brackets pair up is not checked here
        (every byte scanned is kept, and parsed by the json module)."""
        buf = self.buf
        depth = 0  # brackets open before ``pos``, counted from ``start``'s
        pos = start
        while True:
            at = pos
            if at == len(buf) or buf[at] not in _BRACKETS:
                match = _BETWEEN.match(buf, pos)
                assert match is not None  # matches the empty string
                at = match.end()
            if at == len(buf):
                pos = at
                if not self.more():
                    raise JsonDocumentError(
                        f"the {_NAMES[buf[start]]} opened at {self.where(start)} does not "
                        "close before the end of the file"
                    )
                continue
            if buf[at] == _QUOTE:  # a string that goes on past what is read
                pos = self.string_end(at)
                continue
            # A run of bytes holding no string, counted in C: each bracket's depth after it.
            quote = buf.find(b'"', at, at + _WINDOW)
            stop = quote if quote >= 0 else min(len(buf), at + _WINDOW)
            run = bytes(buf[at:stop])
            marks = run.translate(_MARKS, _NOT_BRACKETS)  # 2 for an opening one, 0 closing
            try:
                # The first bracket after which depth + opened - closed is 0.
                index = operator.indexOf(map(operator.sub, accumulate(marks), count(1)), -depth)
            except ValueError:
                depth += 2 * marks.count(2) - len(marks)
                pos = stop
                continue
            bracket = next(islice(_BRACKET.finditer(run), index, None))
            return at + bracket.end()


class _Sampler:
    """Takes the first ``rows`` records of one document: finds them, cuts after them, closes
    what is open, and describes them."""

    def __init__(
        self, doc: _Document, rows: int, path: tuple[str, ...] | None, configured: str | None
    ) -> None:
        self.doc, self.rows, self.path, self.configured = doc, rows, path, configured
        self.notes: dict[str, str] = {}

    def take(self) -> Taken:
        doc = self.doc
        start = 0
        try:
            start = doc.skip_ws(len(_BOM) if doc.buf.startswith(_BOM) else 0)
            first = doc.at(start)
            if first is None:  # nothing but whitespace: no records
                if self.path is not None:
                    raise _records_mismatch(self.configured, "empty")
                contents = Contents(0, metadata={"json": _entry("empty", None, None)})
                return Taken(bytes(doc.buf), contents)
            if first == _OPEN_ARRAY:
                if self.path is not None:
                    raise _records_mismatch(self.configured, "an array")
                return self._array([start], None)
            if first == _OPEN_OBJECT:
                found = self._find_records(start)
                if found is not None:
                    return self._array(*found)
                if self.path is not None:
                    raise _records_mismatch(self.configured, "an object without it")
            return self._one_value(start)
        except _AtLimitError:
            raise self._not_within_cap(start) from None
        except _LinesFollowError:
            return _as_json_lines(doc.source, self.rows, doc.cap, bytes(doc.buf))

    def _not_within_cap(self, start: int) -> JsonDocumentError:
        cap = self.doc.cap
        if self.path is not None:
            return JsonDocumentError(
                f"records = {self.configured!r} is configured for it, but that key is not "
                f"found within the first {cap} bytes, the read cap"
            )
        return JsonDocumentError(
            f"the object opened at {self.doc.where(start)} has no array of objects, and does "
            f"not end, within the first {cap} bytes, the read cap; set records to the key "
            "that holds its records"
        )

    def _find_records(self, start: int) -> tuple[list[int], str] | None:
        """The key path to the records' array in the object opened at ``start``, and the
        brackets open around the records (the array's last); None if it has none."""
        doc = self.doc
        opens = [start]
        want = self.path
        names: list[str] = []
        while True:
            member = self._member(opens[-1], want[len(names)] if want else None)
            if member is None:
                return None
            key, value = member
            names.append(key)
            opens.append(value)
            byte = doc.buf[value]
            if want is None or len(names) == len(want):
                if byte != _OPEN_ARRAY:
                    raise JsonDocumentError(
                        f"records = {self.configured!r} is configured for it, but the value "
                        f"of {'.'.join(names)!r} at {doc.where(value)} is {_kind(byte)}, not "
                        "an array"
                    )
                return opens, ".".join(names)
            if byte != _OPEN_OBJECT:
                raise JsonDocumentError(
                    f"records = {self.configured!r} is configured for it, but the value of "
                    f"{'.'.join(names)!r} at {doc.where(value)} is {_kind(byte)}, not an object"
                )

    def _member(self, start: int, want: str | None) -> tuple[str, int] | None:
        """The first key of the object opened at ``start`` named ``want`` (for None: whose
        value is an array of objects), and where its value starts; None if it has none."""
        doc = self.doc
        pos = doc.skip_ws(start + 1)
        if doc.at(pos) == _CLOSE_OBJECT:
            return None
        while True:
            if doc.at(pos) != _QUOTE:
                raise doc.error(pos, "a key (a string)")
            end = doc.string_end(pos)
            key = _key(doc, pos, end)
            pos = doc.skip_ws(end)
            if doc.at(pos) != _COLON:
                raise doc.error(pos, f"':' after the key {key!r}")
            pos = doc.skip_ws(pos + 1)
            byte = doc.at(pos)
            if (
                want is None
                and byte == _OPEN_ARRAY
                and doc.at(doc.skip_ws(pos + 1)) == _OPEN_OBJECT
            ):
                return key, pos
            if want is not None and key == want:
                if byte is None:
                    raise doc.error(pos, f"the value of {key!r}")
                return key, pos
            pos = doc.skip_ws(doc.value_end(pos))
            byte = doc.at(pos)
            if byte == _CLOSE_OBJECT:
                return None
            if byte != _COMMA:
                raise doc.error(pos, f"',' or '}}' after the value of {key!r}")
            pos = doc.skip_ws(pos + 1)

    def _array(self, opens: list[int], key: str | None) -> Taken:
        """The sample of the first elements of the array opened at ``opens[-1]``, inside the
        objects opened at the others (``key``: the path to it; None for a document that is
        the array)."""
        doc = self.doc
        array_at = opens[-1]
        spans: list[tuple[int, int]] = []
        values: list[Any] = []
        closed_at: int | None = None
        try:
            pos = doc.skip_ws(array_at + 1)
            if doc.at(pos) == _CLOSE_ARRAY:
                closed_at = pos
            while closed_at is None:
                if doc.at(pos) is None:
                    raise JsonDocumentError(
                        f"the array opened at {doc.where(array_at)} does not close before the "
                        "end of the file"
                    )
                end = doc.value_end(pos)
                spans.append((pos, end))
                # Parsed as soon as it ends: a broken element is named before what follows.
                values.append(_parse(doc.buf, pos, end, len(spans)))
                if len(spans) == self.rows:
                    closed_at = self._closes_next(end)
                    break
                pos = doc.skip_ws(end)
                byte = doc.at(pos)
                if byte == _CLOSE_ARRAY:
                    closed_at = pos
                elif byte == _COMMA:
                    pos = doc.skip_ws(pos + 1)
                else:
                    raise doc.error(pos, f"',' or ']' after element {len(spans)} of the array")
        except _AtLimitError:
            if not spans:
                raise JsonDocumentError(
                    f"element 1 of the array opened at {doc.where(array_at)} does not end "
                    f"within the first {doc.cap} bytes, the read cap"
                ) from None
            self.notes["cut"] = cut_note(len(spans), self.rows, doc.cap)
        if key is None:
            if closed_at is None:
                kept = bytes(doc.buf[: spans[-1][1]])
                data = kept + _closing(kept, opens)
            else:
                one_line = b"\n" not in doc.buf[array_at:closed_at]
                data = self._through_end(closed_at + 1, one_line=one_line)
            return self._described(data, values, _entry("array", None, None), validate=False)
        if closed_at is None:
            kept = bytes(doc.buf[: spans[-1][1]])
            data, own = kept + _closing(kept, opens), False
        else:
            data, own = self._close_object(closed_at + 1, opens[:-1])
        if not own:
            more = f"the elements after the first {len(spans)} and " if closed_at is None else ""
            self.notes["left_out"] = (
                f"{more}any keys after {key!r}: the sample closes the object after its records"
            )
        entry = _entry("object", key, "configured" if self.path else "detected")
        return self._described(data, values, entry, validate=True)

    def _closes_next(self, end: int) -> int | None:
        """Where the array closes if the next byte after ``end`` (and whitespace) is ``]``,
        looking at most one chunk further."""
        doc = self.doc
        doc.limit = min(doc.cap, len(doc.buf) + CHUNK)
        try:
            pos = doc.skip_ws(end)
            return pos if doc.at(pos) == _CLOSE_ARRAY else None
        except _AtLimitError:
            return None
        finally:
            doc.limit = doc.cap

    def _through_end(self, end: int, *, one_line: bool) -> bytes:
        """The document that ended at ``end``, with the whitespace after it: the whole file
        (raises :class:`_LinesFollowError` if another value follows on the next line)."""
        doc = self.doc
        try:
            after = doc.skip_ws(end)
            if doc.at(after) is None:
                return bytes(doc.buf)
        except _AtLimitError:  # whitespace up to the read cap
            return bytes(doc.buf[:end])
        if one_line and b"\n" in doc.buf[end:after]:
            raise _LinesFollowError
        raise JsonDocumentError(
            f"{doc.where(after)}: more after the JSON document that ends at byte {end} (JSON "
            "Lines hold one value per line)"
        )

    def _close_object(self, end: int, objects: list[int]) -> tuple[bytes, bool]:
        """The bytes through ``end`` (just after the records' array) and what closes the
        ``objects`` around it: the file's own (True) when only closing braces follow
        (looking at most one chunk further), else brackets in its style (False)."""
        doc = self.doc
        doc.limit = min(doc.cap, len(doc.buf) + CHUNK)
        try:
            pos = end
            for _ in objects:
                pos = doc.skip_ws(pos)
                if doc.at(pos) != _CLOSE_OBJECT:
                    break
                pos += 1
            else:
                after = doc.skip_ws(pos)
                return bytes(doc.buf[: after if doc.at(after) is None else pos]), True
        except _AtLimitError:
            pass
        finally:
            doc.limit = doc.cap
        kept = bytes(doc.buf[:end])
        return kept + _closing(kept, objects), False

    def _one_value(self, start: int) -> Taken:
        """A document that is one record: an object with no array of objects, a scalar."""
        doc = self.doc
        try:
            end = doc.value_end(start)
        except _AtLimitError:
            raise JsonDocumentError(
                f"the document is one value (it holds no array of objects), and it does not "
                f"end within the first {doc.cap} bytes, the read cap"
            ) from None
        data = self._through_end(end, one_line=b"\n" not in doc.buf[start:end])
        value = _parse(doc.buf, start, end, 1)
        return self._described(data, [value], _entry("value", None, None), validate=False)

    def _described(
        self,
        data: bytes,
        values: list[Any],
        entry: dict[str, JSON],
        *,
        validate: bool,
    ) -> Taken:
        """What the sample ``data`` holds: its records, ``values`` (parsed)."""
        codec, encoding_note = _codec(data)
        if validate:
            _check(data, codec)
        notes = dict(self.notes)
        if encoding_note:
            notes["encoding"] = encoding_note
        objects, records_note = _as_objects(values)
        if records_note:
            notes["records"] = records_note
        contents = describe_objects(objects, notes)
        return Taken(data, _with(contents, contents.notes, {"json": entry}))


class _LinesFollowError(Exception):
    """The document is followed by more values, each on a line: JSON Lines after all."""


def _kind(byte: int) -> str:
    """What a JSON value starting with ``byte`` is, with its article."""
    if byte in _NAMES:
        return {"array": "an array", "object": "an object", "string": "a string"}[_NAMES[byte]]
    if byte in b"tf":
        return "a boolean"
    return "null" if byte == ord("n") else "a number"


def _key(doc: _Document, start: int, end: int) -> str:
    try:
        key = json.loads(bytes(doc.buf[start:end]))
    except ValueError as err:
        raise JsonDocumentError(
            f"the key at {doc.where(start)} is not a valid string: {err}"
        ) from None
    assert isinstance(key, str)
    return key


def _closing(kept: bytes, opens: list[int]) -> bytes:
    """What closes the brackets opened at ``opens`` (outermost first) after ``kept``: for a
    pretty-printed file each on its own line, indented as the line that opened it."""
    pretty = b"\n" in kept
    out = bytearray()
    for at in reversed(opens):
        if pretty:
            line = kept.rfind(b"\n", 0, at) + 1
            indent = _INDENT.match(kept, line)
            assert indent is not None
            out += b"\n" + indent.group()
        out.append(_CLOSER[kept[at]])
    if pretty:
        out += b"\n"
    return bytes(out)


def _codec(data: bytes) -> tuple[str, str | None]:
    """The codec a sample's text is decoded with (UTF-8, else cp1252 or Latin-1), and a
    note when it is not UTF-8."""
    _, note = decode(data)
    if note is None:
        return "utf-8", None
    try:
        data.removeprefix(_BOM).decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1", note
    return "cp1252", note


def _parse(data: bytes | bytearray, start: int, end: int, number: int) -> Any:
    """Element ``number``, at ``data[start:end]``, parsed (decoded as UTF-8, else cp1252,
    else Latin-1)."""
    raw = bytes(data[start:end])
    codec = _codec(raw)[0]
    text = raw.decode(codec)
    try:
        return json.loads(text)
    except RecursionError:
        raise JsonDocumentError(
            f"element {number} (bytes {start}-{end - 1}, line {line_number(data, start)}) is "
            "nested deeper than the json module parses"
        ) from None
    except json.JSONDecodeError as err:
        at = start + len(text[: err.pos].encode(codec))
        raise JsonDocumentError(
            f"element {number} (bytes {start}-{end - 1}, line {line_number(data, start)}) is not "
            f"valid JSON: {err.msg} at byte {at} (line {line_number(data, at)})"
        ) from None


def _check(data: bytes, codec: str) -> None:
    """Refuse a sample that is not valid JSON outside its elements (in the keys and values
    before the records' array)."""
    body = data.removeprefix(_BOM)
    text = body.decode(codec)
    try:
        json.loads(text)
    except RecursionError:
        raise JsonDocumentError("nested deeper than the json module parses") from None
    except json.JSONDecodeError as err:
        at = len(data) - len(body) + len(text[: err.pos].encode(codec))
        raise JsonDocumentError(
            f"not valid JSON: {err.msg} at byte {at} (line {line_number(data, at)})"
        ) from None


_JSON_NAMES = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    type(None): "null",
}


def _as_objects(values: list[Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The records as objects, and a note when some are not: records that are all
    numbers, strings, arrays... are one column, ``value``; among objects, an element that is
    not one has no values."""
    odd = [(i, v) for i, v in enumerate(values, start=1) if not isinstance(v, dict)]
    if not odd:
        return values, None
    if len(odd) == len(values):
        kinds = sorted({_JSON_NAMES[type(v)] for v in values})
        note = f"the records are JSON values, not objects ({', '.join(kinds)}): one column, value"
        return [{"value": v} for v in values], note
    number, value = odd[0]
    note = (
        f"element {number} is a JSON {_JSON_NAMES[type(value)]}, not an object; {len(odd)} of "
        f"{len(values)} records are not objects"
    )
    return [v if isinstance(v, dict) else {} for v in values], note
