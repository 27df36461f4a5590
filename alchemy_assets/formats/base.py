"""The interface every format's reader implements, and what it hands back.

A reader recognises its format from a file's first bytes (the name only as a second
opinion), and samples the first N records of a file in bounded bytes: the sample's bytes in
the file's own format and what they hold (row count, columns, first rows, oddities),
described from the kept records only.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from alchemy_assets.formats.records import Dialect

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"

# What a reader samples from: a file read through a counter (seekable), or the stream inside
# a compression (read front to back).
Source: TypeAlias = io.RawIOBase | io.BufferedIOBase

# How sure a reader is that a file is in its format (``Reader.recognise``).
CERTAIN = 1.0  # its content says so (magic bytes)
NAMED = 0.5  # its name says so and its content does not say otherwise
NO = 0.0

# How many of the sample's first rows are kept as display text (the preview).
HEAD_ROWS = 20


@dataclass(frozen=True)
class Contents:
    """What a sample holds: ``rows`` data records, its columns as (name, type) in file order
    (header names exactly as written, duplicates and empty ones too), the first rows as
    display text, ``notes``: what is odd about the records, by topic, and ``metadata``:
    entries only some formats have (a delimited file's dialect, say), as JSON."""

    rows: int
    columns: tuple[tuple[str, str], ...] = ()
    head: tuple[tuple[str, ...], ...] = ()
    notes: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class Taken:
    """A sample as its reader took it: its bytes (for a compressed file, the text inside the
    compression) and what they hold."""

    data: bytes
    contents: Contents


@dataclass(frozen=True)
class Options:
    """What a reader is told about a file besides its bytes: the data extension of its name
    (lower case, any compression suffix taken off: ``.psv`` for ``gics.psv.bz2``) and, for
    delimited text, a dialect to use instead of the one the name implies."""

    extension: str = ""
    dialect: Dialect | None = None


_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r") + b"\x7f"


def binary_after(head: bytes, start: int) -> bool:
    """Whether a control byte (not tab, CR, LF) is among the 64 bytes of ``head`` after
    ``start``: a magic that is text (``PAR1``, ``ORC``) counts only if binary data follows."""
    return any(b in _CONTROL for b in head[start : start + 64])


class NoReaderError(Exception):
    """A kind of file recognised, but that no reader here samples yet."""


class Reader(Protocol):
    """One format family: how it is recognised and how its first records are sampled."""

    @property
    def kind(self) -> str:
        """The format's name in messages and metadata (``delimited``, ``parquet``, ...)."""
        ...

    @property
    def extensions(self) -> tuple[str, ...]:
        """The lower-case data extensions its files are named with (``.csv``, ...)."""
        ...

    @property
    def magic(self) -> tuple[bytes, ...]:
        """The first bytes its files start with; empty for text formats."""
        ...

    @property
    def streams(self) -> bool:
        """Whether it samples from a stream read front to back (so also from inside a
        compression), rather than from a file it seeks in."""
        ...

    def recognise(self, head: bytes, name: str) -> float:
        """How sure it is that a file named ``name`` starting with ``head`` is in its
        format: :data:`CERTAIN`, :data:`NAMED` or :data:`NO`."""
        ...

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        """The first ``rows`` records of ``source`` (a header too, where the format has one),
        reading at most about ``max_bytes`` bytes of it."""
        ...


def display(value: Any) -> str:
    """A value as a person reads it: text as is, nothing for null, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)  # a decimal, a timestamp, bytes: as Python writes them
