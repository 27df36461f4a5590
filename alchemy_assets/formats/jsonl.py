"""JSON Lines: what the records of a sample's prefix hold, one object per non-blank line.

A line that is not valid JSON, or not an object, is noted, never fatal.
"""

from __future__ import annotations

import json
import re
from typing import Any

from alchemy_assets.formats.base import HEAD_ROWS, Contents, display
from alchemy_assets.formats.text import decode, json_type

_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|$)")


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
    columns = tuple((name, json_type(obj.get(name) for obj in objects)) for name in names)
    head = tuple(tuple(display(obj.get(name)) for name in names) for obj in objects[:HEAD_ROWS])
    return Contents(len(objects), columns, head, notes)
