"""One manifest line: ``{"raw": ..., "bronze": ..., "mtime": ...}`` followed by ``\\n``.

``raw`` and ``bronze`` are POSIX paths relative to the dataset root ``R``; ``mtime`` is the raw
file's ``st_mtime`` in float seconds. An optional ``size`` (the bronze file's size in bytes,
written by ``alchemy ingest``) is a non-negative integer; an optional ``sha256`` (64 lowercase
hex digits, written by ``alchemy ingest`` for datasets that compare by checksum) is the
content's SHA-256. On an object store the line also carries ``etag``, the raw object's ETag
(without quotes): ``mtime`` is then its last-modified time. Unknown extra keys are allowed and
ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec

from alchemy_assets.delivery import ETAG, SHA256, Delivery
from alchemy_assets.layout import LayoutError, normalize_relpath

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ManifestEntry:
    """A valid manifest line: the bronze copy ``bronze`` of ``raw``, taken at raw ``mtime``.

    ``offset`` is the byte offset of the line in the manifest file it was read from; ``size``
    the bronze file's size in bytes when the line records it (``None`` for other writers).
    """

    raw: str
    bronze: str
    mtime: float
    offset: int = 0
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None

    @property
    def delivery(self) -> Delivery:
        """What tells this delivery of ``raw`` from others: mtime, size, checksum, ETag."""
        return Delivery(self.mtime, self.size, self.sha256, etag=self.etag)

    @property
    def env_path(self) -> str:
        """The raw path relative to ``R/raw``, e.g. ``env0/data.csv``."""
        return self.raw[len("raw/") :]


@dataclass(frozen=True)
class Rejection:
    """A manifest line that was not used: where it is and why."""

    file: str
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.offset}: {self.reason}"


def encode_line(
    raw: str,
    bronze: str,
    mtime: float,
    size: int | None = None,
    sha256: str | None = None,
    etag: str | None = None,
) -> bytes:
    """The exact bytes appended to the manifest for one file, newline included."""
    if not math.isfinite(mtime):
        raise ValueError(f"mtime must be finite, got {mtime!r}")
    doc: dict[str, object] = {"raw": raw, "bronze": bronze, "mtime": float(mtime)}
    if size is not None:
        if size < 0:
            raise ValueError(f"size must be non-negative, got {size}")
        doc["size"] = size
    if sha256 is not None:
        if not SHA256.fullmatch(sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
        doc["sha256"] = sha256
    if etag is not None:
        if not ETAG.fullmatch(etag):
            raise ValueError(f"etag must be printable ASCII without spaces or quotes: {etag!r}")
        doc["etag"] = etag
    return (json.dumps(doc, ensure_ascii=False, allow_nan=False) + "\n").encode()


class LineError(ValueError):
    """Why a manifest line is not valid."""


_REQUIRED = ("raw", "bronze", "mtime")
_FIELDS = (*_REQUIRED, "size", "sha256", "etag")
_QUOTED_REQUIRED = tuple(f'"{name}"' for name in _REQUIRED)


def _no_duplicate_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc and key in _FIELDS:
            raise LineError(f"duplicate key {key!r}")
        doc[key] = value
    return doc


def _reject_constant(name: str) -> float:
    raise LineError(f"mtime must be a finite number, not {name}")


# Built once: json.loads with keyword arguments builds a new decoder for every line.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_CHECKING_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_fields
)


class _Line(msgspec.Struct):
    """The fields of a valid line, as msgspec decodes them (extra keys are skipped)."""

    raw: str
    bronze: str
    mtime: float
    size: Annotated[int, msgspec.Meta(ge=0)] | msgspec.UnsetType = msgspec.UNSET
    sha256: Annotated[str, msgspec.Meta(pattern=rf"\A{SHA256.pattern}\Z")] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    etag: Annotated[str, msgspec.Meta(pattern=rf"\A{ETAG.pattern}\Z")] | msgspec.UnsetType = (
        msgspec.UNSET
    )


_FAST_DECODER = msgspec.json.Decoder(_Line)


def parse_line(data: bytes, root: Path, offset: int = 0) -> ManifestEntry:
    """Validate one line (without its ``\\n``) and return its entry; raise :class:`LineError`.

    A UTF-8 BOM before the object and a ``\\r`` before the ``\\n`` are tolerated (editors
    add them; the content is unambiguous). Paths are normalized to be relative to ``root``;
    ``raw`` must lie under ``raw/<env>/`` and ``bronze`` under ``bronze/``.

    A line that msgspec decodes into its fields in one pass (each field named once, types
    and ranges as required) takes that fast path, 3x faster; any other goes through the
    general checks below, which alone word the errors.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if data.endswith(b"\r"):
        data = data[:-1]
    # Each field named once (checked without a generator: this runs for every line).
    if (
        data.count(b'"raw"') == 1
        and data.count(b'"bronze"') == 1
        and data.count(b'"mtime"') == 1
        and data.count(b'"size"') <= 1
        and data.count(b'"sha256"') <= 1
        and data.count(b'"etag"') <= 1
    ):
        try:
            line = _FAST_DECODER.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            size = None if isinstance(line.size, msgspec.UnsetType) else line.size
            sha256 = None if isinstance(line.sha256, msgspec.UnsetType) else line.sha256
            etag = None if isinstance(line.etag, msgspec.UnsetType) else line.etag
            if math.isfinite(line.mtime):
                return _entry(line.raw, line.bronze, line.mtime, offset, size, root, sha256, etag)
    return _parse_checked(data, root, offset)


def _parse_checked(data: bytes, root: Path, offset: int) -> ManifestEntry:
    if not data.strip():
        raise LineError("empty line")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LineError(f"not UTF-8 ({err.reason} at byte {err.start})") from None
    # Each field name appearing once in the text rules out a duplicate: parse without the
    # (slower) hook then. Quotes inside JSON strings are escaped, so this cannot miss one.
    once = (
        all(text.count(name) == 1 for name in _QUOTED_REQUIRED)
        and text.count('"size"') <= 1
        and text.count('"sha256"') <= 1
        and text.count('"etag"') <= 1
    )
    try:
        doc = (_DECODER if once else _CHECKING_DECODER).decode(text)
    except json.JSONDecodeError as err:
        raise LineError(f"invalid JSON: {err.msg} at column {err.colno}") from None
    except RecursionError:
        raise LineError("invalid JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise LineError(f"expected a JSON object, got {type(doc).__name__}")
    missing = [key for key in _REQUIRED if key not in doc]
    if missing:
        raise LineError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    raw, bronze, mtime = doc["raw"], doc["bronze"], doc["mtime"]
    for key, value in (("raw", raw), ("bronze", bronze)):
        if not isinstance(value, str):
            raise LineError(f"{key} must be a string, got {type(value).__name__}")
    if isinstance(mtime, bool) or not isinstance(mtime, int | float):
        raise LineError(f"mtime must be a number, got {type(mtime).__name__}")
    try:
        mtime = float(mtime)
    except OverflowError:
        raise LineError("mtime must be a finite number, got an integer too large") from None
    if not math.isfinite(mtime):
        raise LineError(f"mtime must be a finite number, got {mtime}")
    size = doc.get("size")
    if "size" in doc and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        shown = (
            size if isinstance(size, int) and not isinstance(size, bool) else type(size).__name__
        )
        raise LineError(f"size must be a non-negative integer, got {shown}")
    sha256 = doc.get("sha256")
    if "sha256" in doc and not (isinstance(sha256, str) and SHA256.fullmatch(sha256)):
        raise LineError(f"sha256 must be 64 lowercase hex digits, got {str(sha256)[:80]!r}")
    etag = doc.get("etag")
    if "etag" in doc and not (isinstance(etag, str) and ETAG.fullmatch(etag)):
        raise LineError(
            f"etag must be printable ASCII without spaces or quotes, got {str(etag)[:80]!r}"
        )
    return _entry(raw, bronze, mtime, offset, size, root, sha256, etag)


def _entry(
    raw: str,
    bronze: str,
    mtime: float,
    offset: int,
    size: int | None,
    root: Path,
    sha256: str | None = None,
    etag: str | None = None,
) -> ManifestEntry:
    try:
        raw_rel = normalize_relpath(raw, root)
        bronze_rel = normalize_relpath(bronze, root)
    except LayoutError as err:
        raise LineError(str(err)) from None
    raw_parts = raw_rel.split("/")
    if raw_parts[0] != "raw" or len(raw_parts) < 3:
        raise LineError(f"raw path {raw_rel!r} is not under raw/<env>/")
    if not bronze_rel.startswith("bronze/"):
        raise LineError(f"bronze path {bronze_rel!r} is not under bronze/")
    return ManifestEntry(
        raw=raw_rel,
        bronze=bronze_rel,
        mtime=mtime,
        offset=offset,
        size=size,
        sha256=sha256,
        etag=etag,
    )
