"""What a sample holds, read from its kept records only: row count, columns, first rows, oddities.

Types are inferred over the kept values alone, so a file is never refused for its types: a
column whose kept values do not share one type is ``String``. Type names follow polars
(``Int64``, ``Float64``, ``Boolean``, ``String``; ``List``, ``Struct``, ``Null`` for JSON)
for text formats, and are the file's own Arrow types for Parquet. Oddities (not UTF-8, ragged
records, duplicate or empty header names, invalid JSON) are described, never fatal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from alchemy_assets.records import line_number

HEAD_ROWS = 20
_INT = re.compile(r"[+-]?\d+", re.ASCII)
_FLOAT = re.compile(
    r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)",
    re.ASCII | re.IGNORECASE,
)
_BOOL = {"true", "false"}
_INT64 = range(-(2**63), 2**63)
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|$)")
# Fields may be as long as a whole prefix; the csv module's default limit is 128 KiB.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class Contents:
    """What a sample holds: ``rows`` data records, its columns as (name, type) in file order
    (header names exactly as written, duplicates and empty ones too), the first rows as
    display text, and ``notes``: what is odd about the records, by topic."""

    rows: int
    columns: tuple[tuple[str, str], ...] = ()
    head: tuple[tuple[str, ...], ...] = ()
    notes: dict[str, str] = field(default_factory=dict)


def decode(data: bytes) -> tuple[str, str | None]:
    """``data`` as text: UTF-8 (a BOM dropped), else cp1252, else Latin-1, and a note if not
    UTF-8 saying where the first byte that is not UTF-8 is."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        where = f"byte {err.start} (line {line_number(data, err.start)})"
        first = f"0x{data[err.start]:02x}"
    body = data.removeprefix(b"\xef\xbb\xbf")
    for encoding in ("cp1252", "latin-1"):
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, f"not UTF-8 ({first} at {where}); decoded as {encoding} for the preview"
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def describe_delimited(data: bytes, separator: str) -> Contents:
    """The header and records of a CSV/TSV prefix (as :mod:`records` delimited it)."""
    text, encoding_note = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    records: list[list[str]] = []
    lines: list[int] = []
    before = 0
    for record in reader:
        if record:
            records.append(record)
            lines.append(before + 1)
        before = reader.line_num
    notes = {"encoding": encoding_note} if encoding_note else {}
    if not records:
        return Contents(0, notes=notes)
    header, body = records[0], records[1:]
    notes.update(_header_notes(header))
    ragged = [(i, len(r)) for i, r in enumerate(body) if len(r) != len(header)]
    if ragged:
        index, width = ragged[0]
        notes["ragged"] = (
            f"record {index + 1} (line {lines[index + 1]}) has {width} fields, the header "
            f"{len(header)}; {len(ragged)} of {len(body)} records differ"
        )
    columns = tuple(
        (name, _text_type(r[i] for r in body if i < len(r))) for i, name in enumerate(header)
    )
    head = tuple(
        tuple(r[i] if i < len(r) else "" for i in range(len(header))) for r in body[:HEAD_ROWS]
    )
    return Contents(len(body), columns, head, notes)


def _header_notes(header: Sequence[str]) -> dict[str, str]:
    counts = Counter(header)
    problems = [f"{name!r} {count} times" for name, count in counts.items() if count > 1 and name]
    empty = [str(i + 1) for i, name in enumerate(header) if not name]
    if empty:
        problems.append(f"empty name at column(s) {', '.join(empty)}")
    return {"header": "; ".join(problems)} if problems else {}


def _text_type(values: Iterable[str]) -> str:
    """The narrowest type every non-empty value of a delimited column is written as."""
    kinds = {_text_kind(v) for v in values if v != ""}
    if not kinds:
        return "String"
    if len(kinds) == 1:
        return kinds.pop()
    return "Float64" if kinds == {"Int64", "Float64"} else "String"


def _text_kind(value: str) -> str:
    if _INT.fullmatch(value):
        return "Int64" if int(value) in _INT64 else "String"
    if _FLOAT.fullmatch(value):
        return "Float64"
    if value.lower() in _BOOL:
        return "Boolean"
    return "String"


def describe_json_lines(data: bytes) -> Contents:
    """The records of a JSON Lines prefix: one object per non-blank line."""
    objects: list[dict[str, Any]] = []
    notes: dict[str, str] = {}
    bad: list[str] = []
    encoding_note = None
    for number, line in enumerate(_LINE.findall(data)[:-1], start=1):
        if not line.strip():
            continue
        text, odd = decode(line)
        encoding_note = encoding_note or (odd and f"line {number}: {odd}")
        try:
            value = json.loads(text)
        except ValueError as err:
            bad.append(f"line {number} is not valid JSON ({err})")
            value = {}
        if not isinstance(value, dict):
            bad.append(f"line {number} is a JSON {type(value).__name__}, not an object")
            value = {}
        objects.append(value)
    if encoding_note:
        notes["encoding"] = encoding_note
    if bad:
        notes["json"] = f"{bad[0]}; {len(bad)} of {len(objects)} records are not valid JSON objects"
    names = list(dict.fromkeys(name for obj in objects for name in obj))
    columns = tuple((name, _json_type(obj.get(name) for obj in objects)) for name in names)
    head = tuple(tuple(_display(obj.get(name)) for name in names) for obj in objects[:HEAD_ROWS])
    return Contents(len(objects), columns, head, notes)


def _json_type(values: Iterable[Any]) -> str:
    kinds = {_json_kind(v) for v in values if v is not None}
    if not kinds:
        return "Null"
    if len(kinds) == 1:
        return kinds.pop()
    return "Float64" if kinds == {"Int64", "Float64"} else "String"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Int64" if value in _INT64 else "Float64"
    if isinstance(value, float):
        return "Float64"
    if isinstance(value, list):
        return "List"
    if isinstance(value, dict):
        return "Struct"
    return "String"


def _display(value: Any) -> str:
    """A value as a person reads it: text as is, nothing for null, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)  # a decimal, a timestamp, bytes: as Python writes them


def describe_table(table: pa.Table) -> Contents:
    """A Parquet sample: its Arrow types, and its first rows as text."""
    notes: dict[str, str] = {}
    head_table = table.slice(0, HEAD_ROWS)
    cells: list[list[str]] = []
    for field_, column in zip(table.schema, head_table.columns, strict=True):
        try:
            cells.append([_display(v) for v in column.to_pylist()])
        except Exception as err:  # a type pyarrow cannot turn into Python values
            notes.setdefault("unshown", f"column {field_.name!r} ({field_.type}) not shown: {err}")
            cells.append(["?"] * head_table.num_rows)
    head = tuple(zip(*cells, strict=True)) if cells else ()
    columns = tuple((f.name, str(f.type)) for f in table.schema)
    return Contents(table.num_rows, columns, head, notes)
