"""How much one recorded event may hold: the bounds on its metadata, and text cut to fit.

Dagster stores an event's metadata as ASCII JSON (``\\u00e9`` for ``é``), once in the event
log and again where it indexes the asset's latest event; a wide file's full column schema made
one event 38 MB. Every event this platform records keeps its metadata within
:data:`MAX_EVENT_METADATA` serialized bytes, whatever the file.
"""

from __future__ import annotations

import json

# Serialized bytes of one event's metadata, all entries together.
MAX_EVENT_METADATA = 240 * 1024
# Columns listed in a sample's `dagster/column_schema` (fewer when their names are long);
# `columns` counts them all.
MAX_SCHEMA_COLUMNS = 1_000
# Characters of one text entry that is not a path: a note, a problem, a reason.
MAX_TEXT_CHARS = 2_000
# Serialized bytes of a sample's Markdown preview.
MAX_PREVIEW_BYTES = 32 * 1024


def json_size(text: str) -> int:
    """The bytes ``text`` takes in a stored event (a JSON string, non-ASCII escaped)."""
    return len(json.dumps(text))


def cut_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """``text`` if it has at most ``max_chars`` characters; else its head and, at the end,
    how long it was (``… (1,234,567 characters in all)``), in ``max_chars``."""
    if len(text) <= max_chars:
        return text
    tail = f"… ({len(text):,} characters in all)"
    return text[: max(max_chars - len(tail), 0)] + tail
