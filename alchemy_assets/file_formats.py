"""Which tabular format a bronze file is in, judged by its name, and where its sample goes."""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """How the rows of a file are encoded."""

    CSV = "csv"
    TSV = "tsv"
    JSONL = "jsonl"
    PARQUET = "parquet"


@dataclass(frozen=True)
class FileFormat:
    """A file's row encoding, whether it is gzip-compressed, and its full extension."""

    kind: Kind
    gzip: bool
    extension: str

    @property
    def separator(self) -> str:
        return "\t" if self.kind is Kind.TSV else ","


_TEXT_EXTENSIONS = {
    ".csv": Kind.CSV,
    ".tsv": Kind.TSV,
    ".tab": Kind.TSV,
    ".jsonl": Kind.JSONL,
    ".ndjson": Kind.JSONL,
}
_BINARY_EXTENSIONS = {".parquet": Kind.PARQUET, ".pq": Kind.PARQUET}


class UnknownFormatError(ValueError):
    """A file whose name says no format this platform samples."""


def split_extension(name: str) -> tuple[str, str]:
    """``data.csv.gz`` → (``data``, ``.csv.gz``); ``data.csv`` → (``data``, ``.csv``)."""
    stem, ext = posixpath.splitext(name)
    if ext.lower() == ".gz":
        inner_stem, inner_ext = posixpath.splitext(stem)
        if inner_ext:
            return inner_stem, inner_ext + ext
    return stem, ext


def detect_format(name: str) -> FileFormat:
    """The format of a file called ``name``; raise :class:`UnknownFormatError` if none fits."""
    _, ext = split_extension(posixpath.basename(name))
    parts = ext.lower().split(".")[1:]
    if len(parts) == 2 and parts[1] == "gz" and f".{parts[0]}" in _TEXT_EXTENSIONS:
        return FileFormat(_TEXT_EXTENSIONS[f".{parts[0]}"], True, ext)
    if len(parts) == 1:
        kind = _TEXT_EXTENSIONS.get(ext.lower()) or _BINARY_EXTENSIONS.get(ext.lower())
        if kind is not None:
            return FileFormat(kind, False, ext)
    supported = sorted([*_TEXT_EXTENSIONS, *_BINARY_EXTENSIONS])
    raise UnknownFormatError(
        f"{name}: unknown format {ext or '(no extension)'!r}; samples are taken of "
        f"{', '.join(supported)} and gzip-compressed text (.csv.gz, .tsv.gz, .jsonl.gz)"
    )


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
