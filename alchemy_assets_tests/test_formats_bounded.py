import io

import pytest

from alchemy_assets.formats.bounded import BoundedReader, OverBudgetError, StoppedError

DATA = bytes(range(256)) * 40  # 10,240 bytes


class _Trickle(io.RawIOBase):
    """A stream that cannot seek and hands out at most 3 bytes a read, as pipes may."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(3, len(buffer), len(self.data))
        buffer[:count] = self.data[:count]
        self.data = self.data[count:]
        return count


def test_reads_within_the_limit_hand_out_the_file_bytes() -> None:
    bounded = BoundedReader(io.BytesIO(DATA), 1000)
    assert bounded.read(600) == DATA[:600]
    bounded.seek(9000)
    assert bounded.read(400) == DATA[9000:9400]
    assert bounded.read_bytes == 1000 and bounded.refused is None


def test_a_read_past_the_limit_is_refused_whole_before_it_is_made() -> None:
    source = io.BytesIO(DATA)
    bounded = BoundedReader(source, 1000)
    bounded.read(600)
    with pytest.raises(
        OverBudgetError,
        match=r"^a read of 500 bytes at offset 600 would pass the 1000 bytes a sample may read$",
    ):
        bounded.readinto(bytearray(500))
    assert source.tell() == 600  # nothing of it was read
    assert bounded.refused is not None and bounded.refused.offset == 600


def test_a_range_read_twice_counts_once_as_a_footer_read_again_does() -> None:
    bounded = BoundedReader(io.BytesIO(DATA), 1000)
    for _ in range(5):  # five times the footer: 5 x 800 bytes, 800 of the file
        bounded.seek(len(DATA) - 800)
        assert bounded.read(800) == DATA[-800:]
    bounded.seek(len(DATA) - 900)  # overlapping: 100 more bytes
    bounded.read(200)
    assert bounded.read_bytes == 900 and bounded.ranges == [(len(DATA) - 900, len(DATA))]
    bounded.seek(0)
    with pytest.raises(OverBudgetError, match="a read of 101 bytes at offset 0 "):
        bounded.read(101)


def test_a_stream_that_hands_out_little_at_a_time_is_counted_in_order() -> None:
    bounded = BoundedReader(_Trickle(DATA), 100)
    assert not bounded.seekable()
    assert bounded.readinto(buffer := bytearray(64)) == 64 and bytes(buffer) == DATA[:64]
    assert bounded.tell() == 64
    with pytest.raises(OverBudgetError, match="a read of 64 bytes at offset 64 "):
        bounded.readinto(bytearray(64))
    with pytest.raises(io.UnsupportedOperation):
        bounded.seek(0)


def test_after_stop_every_read_fails_and_the_source_stays_open() -> None:
    source = io.BytesIO(DATA)
    bounded = BoundedReader(source, 1000)
    bounded.read(10)
    bounded.stop()
    with pytest.raises(StoppedError, match="the sample has what it needs: no more reads"):
        bounded.read(10)
    bounded.close()
    assert not source.closed and source.tell() == 10
