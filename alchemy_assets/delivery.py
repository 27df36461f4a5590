"""One delivery of a raw file: what tells two versions of it apart.

A delivery is (mtime, size), rsync's quick check, plus the content's SHA-256 where the
dataset compares by checksum (``compare = "checksum"``, rsync ``-c``), plus the object's
ETag on an object store (where mtime is the last-modified second: two uploads within one
second differ by ETag). A side that does not
record the size (a manifest line of another writer, a sample taken before sizes were
recorded) is compared by mtime alone. A checksum on the manifest's side that the sample does
not hold is a new delivery: ingest writes a checksum only when it copies a file, so such a
line is either the first of its file or a restatement that the quick check could not see.

A sample also records which configured format options it was taken with (the fingerprint of
:class:`~alchemy_assets.format_options.FormatOptions`, none where nothing is configured): a
change of them makes each file they touch due again, with the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from typing import IO, NamedTuple

SHA256 = re.compile(r"[0-9a-f]{64}")
# The part of a version that marks a file recorded as not data: ``not-data=<kind>``.
NOT_DATA = "not-data"
_UNSAFE = re.compile(r"[^a-z0-9_.-]+")
_HEX = re.compile(r"[0-9a-f]{1,64}")
# An object's ETag as the manifest records it: without its quotes, no spaces.
ETAG = re.compile(r"[!#-~]{1,200}")
_CHUNK = 1024 * 1024


class Delivery(NamedTuple):
    """A raw file's ``mtime`` (float seconds), its ``size`` in bytes and the SHA-256 of its
    content, each where known; ``format``: the fingerprint of the format options configured
    for it (None: none); ``etag``: the raw object's ETag, on an object store."""

    mtime: float
    size: int | None = None
    sha256: str | None = None
    format: str | None = None
    etag: str | None = None

    def version(self) -> str:
        """The Dagster data version a sample of this delivery records: ``repr(mtime)``, then
        ``size=N``, ``sha256=HEX`` and ``format=HEX`` where known (a bare mtime is what
        samples recorded before sizes were compared, and still parses)."""
        parts = [repr(self.mtime)]
        if self.size is not None:
            parts.append(f"size={self.size}")
        if self.sha256 is not None:
            parts.append(f"sha256={self.sha256}")
        if self.format is not None:
            parts.append(f"format={self.format}")
        if self.etag is not None:
            parts.append(f"etag={self.etag}")
        return " ".join(parts)

    @classmethod
    def parse(cls, version: str) -> Delivery:
        """The delivery :meth:`version` wrote; raise ``ValueError`` for anything else."""
        head, _, tail = version.partition(" ")
        if not tail:
            return cls(float(head))
        if tail.startswith("size=") and tail[5:].isdigit():  # what ingest's lines give
            return cls(float(head), int(tail[5:]))
        first, *rest = version.split(" ")
        size: int | None = None
        sha256: str | None = None
        fmt: str | None = None
        etag: str | None = None
        for part in rest:
            name, _, value = part.partition("=")
            if name == "size" and value.isdigit() and size is None:
                size = int(value)
            elif name == "sha256" and SHA256.fullmatch(value) and sha256 is None:
                sha256 = value
            elif name == "format" and _HEX.fullmatch(value) and fmt is None:
                fmt = value
            elif name == "etag" and ETAG.fullmatch(value) and etag is None:
                etag = value
            elif name == NOT_DATA and value:
                pass  # what a not-data record says of the file, not of the delivery
            else:
                raise ValueError(f"not a delivery version: {version!r}")
        return cls(float(first), size, sha256, fmt, etag)

    def same_as(self, sampled: Delivery) -> bool:
        """Whether a sample of ``sampled`` holds this delivery (see the module docstring)."""
        return sampled.holds(self.mtime, self.size, self.sha256, self.format, self.etag)

    def holds(
        self,
        mtime: float,
        size: int | None,
        sha256: str | None,
        fmt: str | None,
        etag: str | None = None,
    ) -> bool:
        """Whether a sample of this delivery holds the one of those fields (what
        :meth:`same_as` asks, without building it: the sensor asks for every line). An ETag
        on both sides must agree; a side without one is compared without it."""
        return (
            mtime == self.mtime
            and (size is None or self.size is None or size == self.size)
            and fmt == self.format
            and (sha256 is None or sha256 == self.sha256)
            and (etag is None or self.etag is None or etag == self.etag)
        )

    def change_from(self, sampled: Delivery | None) -> str:
        """Why this delivery is sampled when ``sampled`` is what the sample holds."""
        if sampled is None:
            return "new file"
        if self.mtime != sampled.mtime:
            return f"mtime changed from {sampled.mtime!r} to {self.mtime!r}"
        if self.size is not None and sampled.size is not None and self.size != sampled.size:
            return (
                f"size changed from {sampled.size} to {self.size} bytes (same mtime {self.mtime!r})"
            )
        if self.etag is not None and sampled.etag is not None and self.etag != sampled.etag:
            return (
                f"object replaced: ETag {sampled.etag} to {self.etag} (same mtime {self.mtime!r})"
            )
        if self.format != sampled.format:
            return (
                f"configured format options changed (fingerprint {sampled.format or 'none'} "
                f"to {self.format or 'none'})"
            )
        if sampled.sha256 is None:
            return f"restated: content checksum recorded (same mtime {self.mtime!r} and size)"
        return (
            f"content changed: sha256 {sampled.sha256[:12]}… to {(self.sha256 or '')[:12]}… "
            f"(same mtime {self.mtime!r} and size)"
        )


def not_data_version(delivery: Delivery, kind: str) -> str:
    """The version of a delivery recorded as not data of ``kind`` (``pdf``, ``documentation``,
    ...): Dagster indexes only the data version tag, so ``alchemy status`` counts such files
    by it."""
    return f"{delivery.version()} {NOT_DATA}={_UNSAFE.sub('_', kind.lower()) or 'unknown'}"


def not_data_kind(version: str) -> str | None:
    """The kind a version says its file was recorded as not data of, or None."""
    marker = f" {NOT_DATA}="
    at = version.find(marker)
    return version[at + len(marker) :].split(" ", 1)[0] if at >= 0 else None


def sha256_of(stream: IO[bytes]) -> str:
    """The SHA-256 of everything ``stream`` holds from where it is, in hex."""
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
