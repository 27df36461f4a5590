"""A read-only, seekable file over ranged GETs of one object version: what readers sample.

Every format reader takes a seekable binary file; this is one whose reads are HTTP range
requests (``Range: bytes=a-b``) pinned to the object's ETag (``If-Match``), so an object
replaced while it is sampled fails the next request instead of mixing two versions. Reads
are served from a window that starts at 64 KiB and doubles while reading goes on forward (a
file read front to back costs few requests, a footer lookup costs one small one), up to
8 MiB. A read returns every byte asked for up to the end of the object (crossing windows
as needed), as a disk file does. ``requests`` and ``bytes_fetched`` say what it cost;
``limit`` refuses, before it is made, a request that would fetch past that many bytes in
total; ``failure`` keeps the first failed request (a format reader may report it as
something else).
"""

from __future__ import annotations

import io
from typing import Any

from alchemy_assets.object_store import StoreError, StoreRoot

FIRST_WINDOW = 64 * 1024
MAX_WINDOW = 8 * 1024 * 1024


class FetchLimitError(StoreError):
    """A read that would fetch more of the object than the sample may."""


class RangedReader(io.RawIOBase):
    """``key`` of ``store`` at version ``etag`` and ``size`` bytes, read by ranged GETs."""

    def __init__(
        self,
        store: StoreRoot,
        key: str,
        size: int,
        etag: str | None,
        *,
        limit: int | None = None,
    ) -> None:
        super().__init__()
        self.store, self.key, self.size, self.etag, self.limit = store, key, size, etag, limit
        self.requests = 0
        self.bytes_fetched = 0
        self._pos = 0
        self._window_start = 0
        self._window = b""
        self._next_window = FIRST_WINDOW
        self.failure: StoreError | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise OSError(f"{self.store.location(self.key)}: seek to {target}, before the start")
        self._pos = target
        return target

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError(f"{self.store.location(self.key)}: read of a closed reader")
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(0, self.size - self._pos))
        done = 0
        # A read that runs past the window goes on in the next one: readers may take a short
        # read before the end for the end of the file.
        while done < wanted:
            window_end = self._window_start + len(self._window)
            if not (self._window_start <= self._pos < window_end):
                self._fetch(wanted - done)
                window_end = self._window_start + len(self._window)
            start = self._pos - self._window_start
            count = min(wanted - done, window_end - self._pos)
            view[done : done + count] = self._window[start : start + count]
            self._pos += count
            done += count
        return done

    def close(self) -> None:
        self._window = b""
        super().close()

    def _fetch(self, wanted: int) -> None:
        sequential = self._pos == self._window_start + len(self._window) and self._window
        if not sequential:
            self._next_window = FIRST_WINDOW
        length = max(wanted, self._next_window)
        end = min(self.size, self._pos + length)
        if self.limit is not None and self.bytes_fetched + (end - self._pos) > self.limit:
            end = min(self.size, self._pos + max(wanted, self.limit - self.bytes_fetched))
            if self.bytes_fetched + (end - self._pos) > self.limit:
                raise self._failed(
                    FetchLimitError(
                        f"{self.store.location(self.key)}: reading bytes {self._pos}-{end} "
                        f"would fetch more than the {self.limit} bytes a sample may read"
                    )
                )
        self.requests += 1
        try:
            data = self.store.get_range(self.key, self._pos, end, etag=self.etag)
        except StoreError as err:
            raise self._failed(err) from None
        self.bytes_fetched += len(data)
        self._window_start, self._window = self._pos, data
        self._next_window = min(MAX_WINDOW, self._next_window * 2)
        if not data:
            raise self._failed(
                StoreError(
                    f"{self.store.location(self.key)}: empty answer for bytes {self._pos}-{end}"
                )
            )

    def _failed(self, err: StoreError) -> StoreError:
        if self.failure is None:
            self.failure = err
        return err
