"""One delivery of a raw file: what tells two versions of it apart.

A delivery is (mtime, size), rsync's quick check, plus the content's SHA-256 where the
dataset compares by checksum (``compare = "checksum"``, rsync ``-c``). A side that does not
record the size (a manifest line of another writer, a sample taken before sizes were
recorded) is compared by mtime alone. A checksum on the manifest's side that the sample does
not hold is a new delivery: ingest writes a checksum only when it copies a file, so such a
line is either the first of its file or a restatement that the quick check could not see.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import IO

SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Delivery:
    """A raw file's ``mtime`` (float seconds), its ``size`` in bytes and the SHA-256 of its
    content, each where known."""

    mtime: float
    size: int | None = None
    sha256: str | None = None

    def version(self) -> str:
        """The Dagster data version a sample of this delivery records: ``repr(mtime)``, then
        ``size=N`` and ``sha256=HEX`` where known (a bare mtime is what samples recorded
        before sizes were compared, and still parses)."""
        parts = [repr(self.mtime)]
        if self.size is not None:
            parts.append(f"size={self.size}")
        if self.sha256 is not None:
            parts.append(f"sha256={self.sha256}")
        return " ".join(parts)

    @classmethod
    def parse(cls, version: str) -> Delivery:
        """The delivery :meth:`version` wrote; raise ``ValueError`` for anything else."""
        first, *rest = version.split(" ")
        size: int | None = None
        sha256: str | None = None
        for part in rest:
            name, _, value = part.partition("=")
            if name == "size" and value.isdigit() and size is None:
                size = int(value)
            elif name == "sha256" and SHA256.fullmatch(value) and sha256 is None:
                sha256 = value
            else:
                raise ValueError(f"not a delivery version: {version!r}")
        return cls(float(first), size, sha256)

    def same_as(self, sampled: Delivery) -> bool:
        """Whether a sample of ``sampled`` holds this delivery (see the module docstring)."""
        if self.mtime != sampled.mtime:
            return False
        if self.size is not None and sampled.size is not None and self.size != sampled.size:
            return False
        return self.sha256 is None or self.sha256 == sampled.sha256

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
        if sampled.sha256 is None:
            return f"restated: content checksum recorded (same mtime {self.mtime!r} and size)"
        return (
            f"content changed: sha256 {sampled.sha256[:12]}… to {(self.sha256 or '')[:12]}… "
            f"(same mtime {self.mtime!r} and size)"
        )


def sha256_of(stream: IO[bytes]) -> str:
    """The SHA-256 of everything ``stream`` holds from where it is, in hex."""
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
