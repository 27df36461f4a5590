"""JSON Lines (``.jsonl .ndjson``): the first N records, byte for byte, and what they hold.

A record is a non-blank line (a JSON string cannot hold a raw line ending, so nothing is
quoted). A line that is not valid JSON, or not an object, is noted, never fatal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from alchemy_assets.file_formats import data_extension
from alchemy_assets.formats.base import (
    HEAD_ROWS,
    NAMED,
    NO,
    Contents,
    Options,
    Source,
    Taken,
    display,
)
from alchemy_assets.formats.records import find_records
from alchemy_assets.formats.text import cut_note, decode, json_type, looks_like_text

_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|$)")


class JsonLinesReader:
    """JSON Lines: the first N non-blank lines, as written."""

    kind = "jsonl"
    extensions = (".jsonl", ".ndjson")
    magic: tuple[bytes, ...] = ()
    streams = True

    def recognise(self, head: bytes, name: str) -> float:
        ext, _ = data_extension(name)
        return NAMED if ext in self.extensions and looks_like_text(head) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        return sample_json_lines(source, rows, max_bytes=max_bytes)


def sample_json_lines(source: Source, rows: int, *, max_bytes: int, head: bytes = b"") -> Taken:
    """The first ``rows`` non-blank lines of ``source``, as written; ``head``: its first
    bytes, read from it already."""
    prefix = find_records(source, rows, None, cap=max_bytes, head=head)
    contents = describe_json_lines(prefix.data)
    if prefix.cut_at_cap:
        contents.notes["cut"] = cut_note(contents.rows, rows, max_bytes)
    return Taken(prefix.data, contents)


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
    return describe_objects(objects, notes)


def describe_objects(objects: Sequence[Mapping[str, Any]], notes: dict[str, str]) -> Contents:
    """Records that are JSON objects (parsed): their columns are the keys in order of first
    appearance, each typed by the values it has (:func:`json_type`); ``notes``: what is odd
    about them."""
    names = list(dict.fromkeys(name for obj in objects for name in obj))
    columns = tuple((name, json_type(obj.get(name) for obj in objects)) for name in names)
    head = tuple(tuple(display(obj.get(name)) for name in names) for obj in objects[:HEAD_ROWS])
    return Contents(len(objects), columns, head, notes)
