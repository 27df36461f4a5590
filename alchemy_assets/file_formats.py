"""Where a bronze file's sample goes: its name split into stem and full extension."""

from __future__ import annotations

import hashlib
import posixpath
import re

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


# A `_sample` ending a folder's name or followed by `.` or `~`: the sample of a file puts
# `_sample` before its extension (`.` next) or at the end, so such a folder gets a `~`
# after it (a `~` already there gets one more, which keeps the map reversible).
_FOLDER_MARK = re.compile(r"_sample(?=[.~]|\Z)")


def sample_folder_name(name: str) -> str:
    """The name of raw folder ``name`` under ``samples/``: ``name`` itself, but with ``~``
    after every ``_sample`` that ends it or is followed by ``.`` or ``~`` (``x_sample.csv`` →
    ``x_sample~.csv``), so it never holds a ``_sample`` followed by ``.`` or its end, which
    every sample file name and every side file of one does; shortened (:func:`fit_name`)
    if that makes it too long."""
    return fit_name(_FOLDER_MARK.sub("_sample~", name), "", name)


def sample_file_name(name: str) -> str:
    """The name of the sample of raw file ``name``: ``_sample`` before its extension
    (``data.csv.gz`` → ``data_sample.csv.gz``), shortened (:func:`fit_name`) if too long; an
    extension too long to keep beside the hash is dropped from the kept part instead."""
    stem, ext = split_extension(name)
    if len(encoded(f"~{'0' * 12}_sample{ext}")) > NAME_MAX:
        stem, ext = name, ""
    return fit_name(stem, f"_sample{ext}", name)


def sample_relpath(raw_relpath: str) -> str:
    """``raw/env0/sub/data.csv.gz`` → ``samples/env0/sub/data_sample.csv.gz`` (relative to R).

    One to one for files and folders alike: each folder is named by :func:`sample_folder_name`
    and the file by :func:`sample_file_name`. Both are reversible (``name`` is the sample
    name's stem without ``_sample``, plus its extension: :func:`split_extension` of a sample
    name gives back the same extension), and a sample name holds a ``_sample`` followed by
    ``.`` or its end where no folder name does, so no sample is ever where another's folder
    is, nor the other way round. Names shortened for length are told apart by their hash.
    """
    if not raw_relpath.startswith("raw/"):
        raise ValueError(f"raw path {raw_relpath!r} is not under raw/")
    *folders, name = raw_relpath[len("raw/") :].split("/")
    return "/".join(["samples", *map(sample_folder_name, folders), sample_file_name(name)])
