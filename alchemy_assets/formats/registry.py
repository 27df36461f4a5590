"""Which format a bronze file is in, judged by its name."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from enum import Enum

from alchemy_assets.file_formats import split_extension


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
