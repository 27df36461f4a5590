"""A file read through a budget: the bytes a binary reader (pyarrow's ORC and Arrow IPC
readers) may take from a file before its sample is refused, so that a first stripe or record
batch larger than the budget is refused before it is read, not after."""

from __future__ import annotations

import io
from typing import Any

from alchemy_assets.formats.base import Source


class OverBudgetError(ValueError):
    """A read that would take more bytes of the file than its sample may read."""

    def __init__(self, offset: int, size: int, limit: int) -> None:
        super().__init__(
            f"a read of {size} bytes at offset {offset} would pass the {limit} bytes "
            "a sample may read"
        )
        self.offset, self.size, self.limit = offset, size, limit


class StoppedError(EOFError):
    """A read after the reader has what it needs (:meth:`BoundedReader.stop`)."""


class BoundedReader(io.RawIOBase):
    """``source`` (seekable or not), refusing any read that would bring the bytes of it read
    past ``limit`` (a range read twice, as a footer is, counts once, as for
    ``Sample.bytes_read``): the read is refused whole, before it is made, and ``refused`` keeps why
    (a library that wraps the error in its own still leaves it there). After :meth:`stop`,
    every read fails. Closing it leaves ``source`` open: the caller owns it."""

    def __init__(self, source: Source, limit: int) -> None:
        self.source, self.limit = source, limit
        self.ranges: list[tuple[int, int]] = []  # disjoint, sorted: what was read
        self.refused: OverBudgetError | None = None
        self._seekable = source.seekable()
        self._position = 0  # of a stream, which cannot tell
        self._stopped = False

    def stop(self) -> None:
        """Fail every read from now on: a scanner that reads ahead, or reads the rest of the
        file when closed (pyarrow's ORC scanner does), reads nothing more."""
        self._stopped = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        return self.source.seek(offset, whence)

    def tell(self) -> int:
        return self.source.tell() if self._seekable else self._position

    def readinto(self, buffer: Any) -> int:
        if self._stopped:
            raise StoppedError("the sample has what it needs: no more reads")
        wanted, start = len(buffer), self.tell()
        if self.read_bytes + self._new(start, start + wanted) > self.limit:
            self.refused = OverBudgetError(start, wanted, self.limit)
            raise self.refused
        view = memoryview(buffer).cast("B")
        count = 0
        while count < wanted:  # a stream may hand out less than asked before its end
            got = self.source.readinto(view[count:])
            if not got:
                break
            count += got
        self._add(start, start + count)
        self._position += count
        return count

    @property
    def read_bytes(self) -> int:
        return sum(end - start for start, end in self.ranges)

    def _new(self, start: int, end: int) -> int:
        """How many of the bytes from ``start`` to ``end`` were not read yet."""
        seen = sum(max(0, min(end, e) - max(start, s)) for s, e in self.ranges)
        return end - start - seen

    def _add(self, start: int, end: int) -> None:
        merged: list[tuple[int, int]] = []
        for s, e in sorted([*self.ranges, (start, end)]):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        self.ranges = merged
