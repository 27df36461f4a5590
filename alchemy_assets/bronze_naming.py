"""Raw path → bronze path: ``raw/env0/sub/data.csv`` → ``bronze/2026/01/18/143000--data.csv``.

The env folder and any sub folders are dropped, the UTC date of ingest becomes the folder and
the UTC time of day the ``HHMMSS--`` prefix. A second file with the same name in the same
second gets ``HHMMSS-001--name``, ``HHMMSS-002--name``, …: distinct, and still sorted by time
(``-`` sorts before every digit, so the plain name comes first).

A name the prefix would push past the file system's 255-byte limit is shortened: the prefix,
as much of the name's stem as fits (cut between characters), ``~`` and 12 hex digits of the
SHA-256 of the whole raw name, then its extension (``.csv``, ``.csv.gz``), in 255 bytes. It
stays sorted by time, distinct for distinct raw names, and keeps the format the extension says.
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime

from alchemy_assets.file_formats import NAME_MAX, encoded, fit_name, split_extension

_MAX_KEPT_EXTENSION = 32


def bronze_relpath(raw_relpath: str, ingested_at: datetime, attempt: int = 0) -> str:
    """The bronze path (relative to ``R``) for ``raw_relpath`` ingested at ``ingested_at``.

    ``attempt`` 0 gives the plain name; 1, 2, … the collision names for the same second.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    when = ingested_at.astimezone(UTC)
    name = posixpath.basename(raw_relpath)
    if not name:
        raise ValueError(f"raw path {raw_relpath!r} names no file")
    stamp = when.strftime("%H%M%S")
    if attempt:
        stamp = f"{stamp}-{attempt:03d}"
    return f"bronze/{when:%Y/%m/%d}/{_fit(f'{stamp}--', name)}"


def _fit(prefix: str, name: str) -> str:
    if len(encoded(prefix + name)) <= NAME_MAX:
        return prefix + name
    stem, ext = split_extension(name)
    if len(encoded(ext)) > _MAX_KEPT_EXTENSION:
        stem, ext = name, ""
    return prefix + fit_name(stem, ext, name, NAME_MAX - len(encoded(prefix)))


def day_of(ingested_at: datetime) -> str:
    """The UTC day ``YYYY-MM-DD`` of ingest, naming the per-day manifest."""
    return ingested_at.astimezone(UTC).strftime("%Y-%m-%d")
