"""Delimited text (CSV, TSV): what the header and records of a sample's prefix hold.

Oddities (not UTF-8, ragged records, duplicate or empty header names) are described, never
fatal.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence

from alchemy_assets.formats.base import HEAD_ROWS, Contents
from alchemy_assets.formats.text import decode, text_type

# Fields may be as long as a whole prefix; the csv module's default limit is 128 KiB.
csv.field_size_limit(2**31 - 1)


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
        (name, text_type(r[i] for r in body if i < len(r))) for i, name in enumerate(header)
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
