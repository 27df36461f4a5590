"""What every format's reader hands back: what a sample holds, described from its records only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# How many of the sample's first rows are kept as display text (the preview).
HEAD_ROWS = 20


@dataclass(frozen=True)
class Contents:
    """What a sample holds: ``rows`` data records, its columns as (name, type) in file order
    (header names exactly as written, duplicates and empty ones too), the first rows as
    display text, and ``notes``: what is odd about the records, by topic."""

    rows: int
    columns: tuple[tuple[str, str], ...] = ()
    head: tuple[tuple[str, ...], ...] = ()
    notes: dict[str, str] = field(default_factory=dict)


def display(value: Any) -> str:
    """A value as a person reads it: text as is, nothing for null, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)  # a decimal, a timestamp, bytes: as Python writes them
