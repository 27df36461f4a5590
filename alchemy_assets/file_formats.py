"""Where a bronze file's sample goes: its name split into stem and full extension."""

from __future__ import annotations

import hashlib
import posixpath

# The suffixes of the compressions samples are taken inside of (see formats/compression.py).
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def split_extension(name: str) -> tuple[str, str]:
    """``data.csv.gz`` → (``data``, ``.csv.gz``); ``data.csv`` → (``data``, ``.csv``); the
    same for ``.bz2``, ``.xz`` and ``.zst``."""
    stem, ext = posixpath.splitext(name)
    if ext.lower() in COMPRESSION_SUFFIXES:
        inner_stem, inner_ext = posixpath.splitext(stem)
        if inner_ext:
            return inner_stem, inner_ext + ext
    return stem, ext


def data_extension(name: str) -> tuple[str, str]:
    """(data extension, compression suffix) of a file name, lower case: ``d.CSV.bz2`` →
    (``.csv``, ``.bz2``); ``d.csv`` → (``.csv``, ``""``); ``d.gz`` → (``""``, ``.gz``)."""
    _, ext = split_extension(posixpath.basename(name))
    ext = ext.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if ext.endswith(suffix):
            return ext.removesuffix(suffix), suffix
    return ext, ""


NAME_MAX = 255


def encoded(text: str) -> bytes:
    """The bytes a file system stores for ``text`` (a name that is not UTF-8 arrives
    surrogate-escaped)."""
    return text.encode("utf-8", "surrogateescape")


def fit_name(stem: str, tail: str, whole: str, limit: int = NAME_MAX) -> str:
    """``stem + tail`` if it fits in ``limit`` bytes (a file name: 255); else as much of
    ``stem`` as fits (cut between characters), ``~`` and 12 hex digits of the SHA-256 of
    ``whole``, then ``tail``: distinct for distinct ``whole`` names."""
    if len(encoded(stem + tail)) <= limit:
        return stem + tail
    digest = "~" + hashlib.sha256(encoded(whole)).hexdigest()[:12]
    room = limit - len(encoded(digest + tail))
    return encoded(stem)[:room].decode("utf-8", "ignore") + digest + tail


def sample_relpath(raw_relpath: str) -> str:
    """``raw/env0/sub/data.csv.gz`` → ``samples/env0/sub/data_sample.csv.gz`` (relative to R);
    a name too long for the file system keeps a shortened stem (:func:`fit_name`)."""
    if not raw_relpath.startswith("raw/"):
        raise ValueError(f"raw path {raw_relpath!r} is not under raw/")
    folder, name = posixpath.split(raw_relpath[len("raw/") :])
    stem, ext = split_extension(name)
    return posixpath.join("samples", folder, fit_name(stem, f"_sample{ext}", name))
