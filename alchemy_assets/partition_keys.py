"""Partition key ↔ raw path: the key is the raw path relative to ``R/raw``, e.g. ``env0/data.csv``.

Dagster rejects ``...`` and control characters in keys and its UI cannot select keys holding
``,`` ``[`` ``]``; those characters are percent-encoded, and ``%`` itself too, so the mapping
stays reversible. Every other character, ``/`` and non-ASCII letters included, is kept.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_ALWAYS = {"%", ",", "[", "]", "\x7f"}
_DOT_RUN = re.compile(r"\.{3,}")
_NEEDS_ESCAPE = re.compile(r"[%,\[\]\x00-\x1f\x7f]|\.\.\.")


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode())


def encode_key(env_path: str) -> str:
    """The partition key for the raw path ``env_path`` (relative to ``R/raw``)."""
    if not _NEEDS_ESCAPE.search(env_path):
        return env_path  # the common case: nothing to escape
    out = "".join(_escape(c) if c in _ALWAYS or c < " " else c for c in env_path)
    # Dagster refuses "..." anywhere in a key: escape every dot of such a run.
    return _DOT_RUN.sub(lambda m: "%2E" * len(m.group()), out)


def decode_key(key: str) -> str:
    """The raw path (relative to ``R/raw``) a partition key stands for."""
    return unquote(key, errors="strict")


def raw_relpath(key: str) -> str:
    """The raw path relative to ``R`` (``raw/env0/data.csv``) for a partition key."""
    return f"raw/{decode_key(key)}"
