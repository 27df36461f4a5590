"""The ranged reader on moto's S3 server: a seekable file whose reads are ranged GETs pinned
to one ETag, costing few requests and refusing, before it asks, to fetch past its limit."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

import pytest

from alchemy_assets.object_store import StorePreconditionError, StoreRoot
from alchemy_assets.ranged_reader import FIRST_WINDOW, MAX_WINDOW, FetchLimitError, RangedReader

KEY = "sp/gics/1.0/bronze/2026/01/18/143000--data.bin"


def _object(s3_root: str, size: int, seed: int = 1) -> tuple[StoreRoot, bytes, str]:
    store = StoreRoot.open(s3_root)
    data = random.Random(seed).randbytes(size)
    store.put(KEY, data)
    return store, data, store.head(KEY).etag


def test_seek_and_read_give_the_bytes_at_each_position(s3_root: str) -> None:
    store, data, etag = _object(s3_root, 300_000)
    reader = RangedReader(store, KEY, len(data), etag)
    assert reader.read(10) == data[:10]
    assert reader.seek(-10, io.SEEK_END) == len(data) - 10
    assert reader.read(100) == data[-10:]
    assert reader.read(5) == b""
    assert reader.seek(1000) == 1000
    assert reader.seek(24, io.SEEK_CUR) == 1024
    assert reader.tell() == 1024
    assert reader.read(3) == data[1024:1027]
    reader.seek(len(data) + 50)
    assert reader.read(5) == b""
    with pytest.raises(OSError, match="seek to -1, before the start"):
        reader.seek(-1)


def test_a_read_across_windows_returns_every_byte_asked_for(s3_root: str) -> None:
    store, data, etag = _object(s3_root, 3 * FIRST_WINDOW)
    reader = RangedReader(store, KEY, len(data), etag)
    reader.seek(FIRST_WINDOW - 10)
    assert reader.read(10) == data[FIRST_WINDOW - 10 : FIRST_WINDOW]
    reader.seek(FIRST_WINDOW - 10)
    # The window holds bytes from FIRST_WINDOW - 10 on; this read goes past it.
    assert reader.read(FIRST_WINDOW + 20) == data[FIRST_WINDOW - 10 : 2 * FIRST_WINDOW + 10]


def test_reading_front_to_back_doubles_the_window_and_a_footer_costs_one_small_request(
    s3_root: str,
) -> None:
    size = 1024 * 1024
    store, data, etag = _object(s3_root, size)
    reader = RangedReader(store, KEY, size, etag)
    buffered = io.BufferedReader(reader, buffer_size=8192)
    assert buffered.read() == data
    # 64 + 128 + 256 + 512 KiB, then the last 64 KiB.
    assert reader.requests == 5
    assert reader.bytes_fetched == size
    footer = RangedReader(store, KEY, size, etag)
    footer.seek(-8, io.SEEK_END)
    assert footer.read(8) == data[-8:]
    assert (footer.requests, footer.bytes_fetched) == (1, 8)


@dataclass(frozen=True)
class RecordingStore(StoreRoot):
    """The store, keeping the length asked for by each ranged GET."""

    asked: list[int] = field(default_factory=list, compare=False)

    def get_range(self, key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
        self.asked.append(end - start)
        return super().get_range(key, start, end, etag=etag)


def test_the_window_doubles_up_to_its_maximum_and_stays_there(s3_root: str) -> None:
    doublings = [FIRST_WINDOW * 2**i for i in range(8)]
    assert doublings[-1] == MAX_WINDOW
    size = sum(doublings) + MAX_WINDOW + 1000
    plain, _, etag = _object(s3_root, size)
    store = RecordingStore(plain.url, plain.store)
    reader = RangedReader(store, KEY, size, etag)
    while reader.read(4096):
        pass
    assert store.asked == [*doublings, MAX_WINDOW, 1000]
    assert reader.bytes_fetched == size


def test_a_read_past_the_limit_is_refused_before_its_request_is_made(s3_root: str) -> None:
    store, data, etag = _object(s3_root, 10_000)
    reader = RangedReader(store, KEY, len(data), etag, limit=1000)
    with pytest.raises(FetchLimitError, match="would fetch more than the 1000 bytes a sample"):
        reader.read(2000)
    assert (reader.requests, reader.bytes_fetched) == (0, 0)
    assert isinstance(reader.failure, FetchLimitError)


def test_under_a_limit_the_window_shrinks_to_what_is_left_of_it(s3_root: str) -> None:
    store, data, etag = _object(s3_root, 10_000)
    reader = RangedReader(store, KEY, len(data), etag, limit=1000)
    assert reader.read(10) == data[:10]
    assert reader.bytes_fetched == 1000
    reader.seek(990)
    assert reader.read(10) == data[990:1000]
    with pytest.raises(FetchLimitError, match="reading bytes 1000-1001"):
        reader.read(1)
    assert reader.requests == 1


def test_a_replaced_object_fails_the_next_request_instead_of_mixing_versions(
    s3_root: str,
) -> None:
    store, data, etag = _object(s3_root, 300_000)
    reader = RangedReader(store, KEY, len(data), etag)
    assert reader.read(10) == data[:10]
    store.put(KEY, random.Random(2).randbytes(len(data)))
    # Still inside the first window: served from what was fetched of the old version.
    assert reader.read(10) == data[10:20]
    reader.seek(200_000)
    with pytest.raises(StorePreconditionError, match=r"GET bytes 200000-.*failed.*precondition"):
        reader.read(10)
    assert isinstance(reader.failure, StorePreconditionError)
    assert KEY in str(reader.failure)


def test_without_an_etag_the_reader_reads_the_current_object(s3_root: str) -> None:
    store, _, _ = _object(s3_root, 1000)
    replacement = random.Random(3).randbytes(1000)
    store.put(KEY, replacement)
    assert RangedReader(store, KEY, 1000, None).read(1000) == replacement


def test_a_closed_reader_reads_nothing(s3_root: str) -> None:
    store, data, etag = _object(s3_root, 1000)
    reader = RangedReader(store, KEY, len(data), etag)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)
    assert reader.requests == 0
