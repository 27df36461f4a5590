import bz2
import errno
import gzip
import io
import lzma
import os
import stat
import struct
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats import registry
from alchemy_assets.formats.compression import zstd
from alchemy_assets.preview import markdown_table
from alchemy_assets.sampling import (
    MAX_PREFIX_BYTES,
    NotDataError,
    RefusedError,
    Sample,
    SampleError,
    read_sample,
    sample_open_file,
    take_sample,
)
from alchemy_assets_tests.conftest import FIGURES

ROWS = 1000


def _frame(rows: int = ROWS) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(range(rows)),
            "code": [f"{i:03d}" for i in range(rows)],
            "note": [
                'has "quotes", commas\nand a newline' if i % 7 == 0 else "x" for i in range(rows)
            ],
            "value": [i * 0.5 for i in range(rows)],
        }
    )


def _write(path: Path, frame: pl.DataFrame) -> Path:
    name = path.name
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        data = frame.write_csv().encode()
    elif name.endswith(".tsv") or name.endswith(".tsv.gz"):
        data = frame.write_csv(separator="\t").encode()
    elif name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
        data = frame.write_ndjson().encode()
    else:
        frame.write_parquet(path, row_group_size=100)
        return path
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize(
    "name", ["d.csv", "d.tsv", "d.jsonl", "d.parquet", "d.csv.gz", "d.tsv.gz", "d.jsonl.gz"]
)
def test_the_first_rows_are_written_in_the_sources_format(tmp_path: Path, name: str) -> None:
    source = _write(tmp_path / name, _frame())
    target = tmp_path / "out" / f"sample-{name}"
    sample = take_sample(source, target, rows=10)
    assert sample.rows == 10
    assert [row[0] for row in sample.contents.head] == [str(i) for i in range(10)]
    assert [n for n, _ in sample.schema] == ["id", "code", "note", "value"]
    data = target.read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    if name.startswith("d.parquet"):
        back = pl.read_parquet(io.BytesIO(data))
    elif ".jsonl" in name:
        back = pl.read_ndjson(io.BytesIO(data))
    else:
        sep = "\t" if ".tsv" in name else ","
        back = pl.read_csv(io.BytesIO(data), separator=sep, infer_schema=False)
    assert back.height == 10
    assert back["note"].to_list() == _frame()["note"].head(10).to_list()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_csv_values_are_kept_as_written(tmp_path: Path) -> None:
    source = _write(tmp_path / "d.csv", _frame())
    target = tmp_path / "s.csv"
    sample = take_sample(source, target, rows=3)
    assert target.read_text().splitlines()[1:3] == [
        '0,000,"has ""quotes"", commas',
        'and a newline",0.0',
    ]
    assert dict(sample.schema)["code"] == "Int64"  # the typed view is for schema and preview


def test_only_a_prefix_of_a_large_file_is_read(tmp_path: Path) -> None:
    big = _frame(200_000)
    for name in ("d.csv", "d.csv.gz", "d.parquet"):
        source = _write(tmp_path / name, big)
        sample, _ = read_sample(source, 100)
        assert sample.rows == 100
        # A footer with 2,000 row groups is itself large: compare with the file, not a constant.
        assert sample.bytes_read < source.stat().st_size // 4, (name, sample.bytes_read)
    assert (tmp_path / "d.csv").stat().st_size > 5_000_000


def test_a_file_shorter_than_n_rows_gives_all_its_rows(tmp_path: Path) -> None:
    source = _write(tmp_path / "d.csv", _frame(3))
    sample, _ = read_sample(source, 100)
    assert sample.rows == 3


def test_an_empty_csv_gives_an_empty_sample(tmp_path: Path) -> None:
    source = tmp_path / "d.csv"
    source.write_bytes(b"")
    sample = take_sample(source, tmp_path / "s.csv")
    assert (sample.rows, sample.schema) == (0, [])


def test_an_unknown_format_is_not_data_and_says_its_name(tmp_path: Path) -> None:
    source = tmp_path / "notes.xyz"
    source.write_text("hello")
    with pytest.raises(NotDataError, match=r"notes\.xyz: unknown format '\.xyz'") as raised:
        take_sample(source, tmp_path / "out" / "s.xyz")
    assert (raised.value.kind, raised.value.size, raised.value.first_bytes) == ("text", 5, b"hello")
    assert not (tmp_path / "out").exists()


def test_a_csv_with_an_unterminated_quote_fails_within_the_prefix_limit(tmp_path: Path) -> None:
    source = tmp_path / "d.csv"
    source.write_bytes(b'a,b\n1,"never closed\n' + b"x,y\n" * 400_000)
    with pytest.raises(
        SampleError,
        match=r"d\.csv: unterminated quote: the quoted field opened on line 2 \(byte 6\) "
        "does not close within the first 1048576 bytes",
    ):
        read_sample(source, 100, max_prefix_bytes=1024 * 1024)


def test_a_single_huge_line_fails_without_reading_it_all(tmp_path: Path) -> None:
    source = tmp_path / "d.csv"
    source.write_bytes(b"a,b\n" + b"x" * (8 * 1024 * 1024))
    with pytest.raises(
        SampleError,
        match="the record on line 2 does not end within the first 1048576 bytes",
    ):
        read_sample(source, 100, max_prefix_bytes=1024 * 1024)


def test_a_fifo_fails_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "d.csv"
    os.mkfifo(fifo)
    with pytest.raises(SampleError, match="not a regular file"):
        read_sample(fifo)


def test_a_truncated_gzip_fails_clearly(tmp_path: Path) -> None:
    source = tmp_path / "d.csv.gz"
    source.write_bytes(gzip.compress(b"a,b\n1,2\n" * 10)[:-12])
    with pytest.raises(SampleError, match=r"d\.csv\.gz: cannot read"):
        read_sample(source)


def test_parquet_sample_keeps_the_arrow_schema(tmp_path: Path) -> None:
    source = _write(tmp_path / "d.parquet", _frame())
    target = tmp_path / "s.parquet"
    take_sample(source, target, rows=5)
    assert pq.read_schema(target).names == ["id", "code", "note", "value"]
    assert pq.read_metadata(target).num_rows == 5


def _corrupt(good: bytes, kind: str) -> bytes:
    if kind == "truncated footer":
        return good[:-20]
    if kind == "bad magic":
        return good[:-4] + b"XXXX"
    # absurd footer length: the 4 bytes before the trailing magic claim a 2 GiB footer
    return good[:-8] + struct.pack("<I", 2**31 - 1) + good[-4:]


@pytest.mark.parametrize("kind", ["truncated footer", "bad magic", "absurd footer length"])
def test_a_corrupt_parquet_fails_clearly_and_writes_no_sample(tmp_path: Path, kind: str) -> None:
    good = _write(tmp_path / "good.parquet", _frame()).read_bytes()
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(_corrupt(good, kind))
    with pytest.raises(SampleError, match=r"bad\.parquet: cannot read as parquet"):
        take_sample(bad, tmp_path / "out" / "s.parquet")
    assert not (tmp_path / "out").exists()
    FIGURES["corrupt parquet kinds failed clearly"] += 1


def test_a_single_200_mb_csv_line_fails_after_reading_at_most_64_mib(tmp_path: Path) -> None:
    source = tmp_path / "wide.csv"
    with source.open("wb") as f:
        f.write(b"a,b\n")
        chunk = b"x" * (8 * 1024 * 1024)
        for _ in range(25):
            f.write(chunk)
    with pytest.raises(
        SampleError, match=f"record on line 2 does not end within the first {MAX_PREFIX_BYTES}"
    ):
        take_sample(source, tmp_path / "out" / "s.csv")
    assert not (tmp_path / "out").exists()


def test_a_device_file_fails_without_hanging(tmp_path: Path) -> None:
    device = tmp_path / "d.csv"
    try:
        os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero: endless
    except PermissionError:
        pytest.skip("creating a device node needs root")
    with pytest.raises(SampleError, match="not a regular file"):
        read_sample(device)


# Each class of wrong or refused sample seen on real files (issue 11), one test each.


def _sampled(tmp_path: Path, name: str, data: bytes, rows: int) -> tuple[Sample, bytes]:
    source = tmp_path / name
    source.write_bytes(data)
    target = tmp_path / "out" / name
    sample = take_sample(source, target, rows=rows)
    return sample, target.read_bytes()


def test_values_after_the_kept_rows_never_fail_the_file(tmp_path: Path) -> None:
    csv_data = b"id,price\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(10)) + b"10,17.5\n"
    sample, content = _sampled(tmp_path, "d.csv", csv_data, 7)
    assert content == b"".join(csv_data.splitlines(keepends=True)[:8])
    assert sample.schema == [("id", "Int64"), ("price", "Int64")]
    lines = [b'{"v": %d}\n' % i for i in range(150)] + [b'{"v": "text"}\n', b'{"v": 1.5}\n']
    sample, content = _sampled(tmp_path, "d.jsonl", b"".join(lines), 150)
    assert (sample.rows, sample.schema, content) == (150, [("v", "Int64")], b"".join(lines[:150]))


def test_parquet_gives_exactly_n_rows_across_small_row_groups_with_dictionary_columns(
    tmp_path: Path,
) -> None:
    table = pa.table(
        {
            "id": list(range(1000)),
            "cat": pa.array([f"c{i % 3}" for i in range(1000)]).dictionary_encode(),
        }
    )
    source = tmp_path / "d.parquet"
    pq.write_table(table, source, row_group_size=30, use_dictionary=True)
    sample = take_sample(source, tmp_path / "s.parquet", rows=100)
    written = pq.read_table(tmp_path / "s.parquet")
    assert sample.rows == 100 and written.num_rows == 100
    assert written.equals(pq.read_table(source).slice(0, 100))
    assert sample.bytes_read <= source.stat().st_size


def test_cr_only_line_endings_end_records(tmp_path: Path) -> None:
    data = b"a,b\r" + b"".join(b"%d,x\r" % i for i in range(50))
    sample, content = _sampled(tmp_path, "mac.csv", data, 10)
    assert (sample.rows, sample.schema) == (10, [("a", "Int64"), ("b", "String")])
    assert content == b"a,b\r" + b"".join(b"%d,x\r" % i for i in range(10))


def test_repeated_and_empty_header_names_are_kept_as_written(tmp_path: Path) -> None:
    # Text names above numbers: detected as a header (names of numbers above numbers are
    # taken as data, as csv.Sniffer does).
    data = b"a,a,,x\n1,2,3,4\n5,6,7,8\n"
    sample, content = _sampled(tmp_path, "d.csv", data, 5)
    assert content == data
    assert [name for name, _ in sample.schema] == ["a", "a", "", "x"]
    assert "header" in sample.notes


def test_blank_last_lines_backslash_quotes_and_quoted_crlf_are_kept_as_written(
    tmp_path: Path,
) -> None:
    sample, content = _sampled(tmp_path, "blank.csv", b"a,b\n1,2\n\n", 5)
    assert (sample.rows, content) == (1, b"a,b\n1,2\n")
    data = b'a,b\r\n"say \\"hi\\"",1\r\n"two\r\nlines",2\r\n'
    sample, content = _sampled(tmp_path, "quotes.csv", data, 5)
    assert (sample.rows, content) == (2, data)
    preview = markdown_table([n for n, _ in sample.schema], sample.contents.head)
    assert "\r" not in preview and "| two lines | 2 |" in preview


@pytest.mark.parametrize(
    "column",
    [
        pa.array([Decimal("1.5"), None], pa.decimal256(50, 3)),
        pa.array([0, 1], pa.timestamp("ms", tz="+05:30")),
        pa.array([[1], []], pa.list_(pa.int64())),
        pa.array([{"k": 1}, None], pa.struct([("k", pa.int64())])),
    ],
    ids=["decimal256", "fixed-offset-tz", "list", "struct"],
)
def test_parquet_types_that_crashed_readers_are_sampled(tmp_path: Path, column: pa.Array) -> None:
    source = tmp_path / "d.parquet"
    table = pa.table({"c": column}).replace_schema_metadata({"vendor": "kept"})
    pq.write_table(table, source)
    sample = take_sample(source, tmp_path / "s.parquet", rows=1)
    written = pq.read_table(tmp_path / "s.parquet")
    assert written.equals(table.slice(0, 1))
    assert written.schema.metadata == {b"vendor": b"kept"}
    assert sample.schema == [("c", str(pq.read_schema(source).field("c").type))]


def test_a_reader_panic_fails_only_that_file_with_its_own_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class PanicException(BaseException):  # what pyo3 raises for a Rust panic
        pass

    def panic(data: bytes, separator: str) -> None:
        raise PanicException("decimal256 not implemented")

    monkeypatch.setattr("alchemy_assets.formats.delimited.describe_delimited", panic)
    source = tmp_path / "d.csv"
    source.write_bytes(b"a\n1\n")
    with pytest.raises(SampleError, match=r"d\.csv: reader crashed on it: PanicException: decimal"):
        read_sample(source)


def test_a_wide_file_gives_a_valid_preview_and_small_parquet_reads_at_most_its_size(
    tmp_path: Path,
) -> None:
    header = ",".join(f"column_{i}" for i in range(2500)).encode()
    data = header + b"\n" + b",".join(b"1" for _ in range(2500)) + b"\n"
    sample, content = _sampled(tmp_path, "wide.csv", data, 5)
    assert content == data and len(sample.schema) == 2500
    lines = markdown_table([n for n, _ in sample.schema], sample.contents.head).splitlines()
    assert len({line.count(" | ") for line in lines[:3] if line.startswith("| ")}) == 1
    source = _write(tmp_path / "small.parquet", _frame(5))
    small = take_sample(source, tmp_path / "s.parquet", rows=100)
    assert 0 < small.bytes_read <= source.stat().st_size


def test_a_latin1_file_is_sampled_and_the_encoding_is_noted(tmp_path: Path) -> None:
    data = "nom,ville\nJosé,Zürich\n".encode("latin-1")
    sample, content = _sampled(tmp_path, "fr.csv", data, 5)
    assert content == data
    assert sample.contents.head == (("José", "Zürich"),)
    assert sample.notes["encoding"].startswith("not UTF-8 (0xe9 at byte 13 (line 2))")


def test_a_gzip_sample_holds_exactly_the_first_records_as_written(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfa;b,c\r\n" + b"".join(b'%d;x,"q"""\r\n' % i for i in range(500))
    sample, content = _sampled(tmp_path, "d.csv.gz", gzip.compress(data), 3)
    assert gzip.decompress(content) == b"".join(data.splitlines(keepends=True)[:4])
    assert sample.rows == 3


def _parquet_bytes() -> bytes:
    out = io.BytesIO()
    _frame(50).write_parquet(out)
    return out.getvalue()


def _zeroed_middle(good: bytes) -> bytes:
    # Magic and footer length intact, the footer itself zeroed: pyarrow raises a plain
    # OSError ("Couldn't deserialize thrift") about the bytes.
    return good[:4] + b"\x07" * (len(good) - 12) + good[-8:]


REFUSED = {
    "d.csv": ("quote open to the end", b'a,b\n1,"never closed\n2,3\n', "unterminated quote"),
    "u.jsonl": ("UTF-16 JSON Lines", '{"a": 1}\n'.encode("utf-16"), "UTF-16 text"),
    "l.jsonl": ("first line over the cap", b'{"a": "' + b"x" * 2048 + b'"}\n', "read cap"),
    "e.parquet": ("0 bytes", b"", "are not parquet's magic bytes"),
    "m.parquet": ("no magic", b"PAR1 not really", "magic bytes not found"),
    "t.parquet": ("zeroed footer", _zeroed_middle(_parquet_bytes()), "deserialize thrift"),
    "g.csv.gz": ("truncated gzip", gzip.compress(b"a,b\n1,2\n")[:-12], "gzip stream ends"),
    "n.csv.gz": ("gzip not whole", gzip.compress(b"a,b\n1,2\n")[:12], "gzip"),
}


@pytest.mark.parametrize("name", sorted(REFUSED), ids=[REFUSED[n][0] for n in sorted(REFUSED)])
def test_what_the_bytes_of_a_file_decide_is_a_refusal(tmp_path: Path, name: str) -> None:
    _, data, said = REFUSED[name]
    source = tmp_path / name
    source.write_bytes(data)
    with pytest.raises(RefusedError, match=said) as refused:
        read_sample(source, 5, max_prefix_bytes=1024)
    assert refused.value.because == "depends only on the bronze file's bytes"


class _FailingFile(io.RawIOBase):
    """A file whose reads past byte ``good`` fail with EIO, as on a failing disk or mount."""

    def __init__(self, data: bytes, good: int) -> None:
        self.data = io.BytesIO(data)
        self.good = good

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.data.seek(offset, whence)

    def tell(self) -> int:
        return self.data.tell()

    def readinto(self, buffer: Any) -> int:
        if self.data.tell() + len(buffer) > self.good:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return self.data.readinto(buffer)


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.parquet"])
def test_a_read_that_fails_with_an_io_error_is_no_refusal_whatever_the_reader_makes_of_it(
    name: str,
) -> None:
    csv = b"a,b\n" + b"1,2\n" * 100_000
    data = {"d.csv": csv, "d.csv.gz": gzip.compress(csv), "d.parquet": _parquet_bytes()}[name]
    with pytest.raises(SampleError, match=r": cannot read after \d+ bytes: \[Errno 5\]") as failed:
        sample_open_file(_FailingFile(data, 100), name, 5)  # type: ignore[arg-type]
    assert not isinstance(failed.value, RefusedError)


# Names vendors use, compressions, content over names, files that are not data (issue 22).

PIPE = b"gics_code|sector_name|as_of\n" + b"".join(
    b'%d|"Sector | %d\nsecond line"|2026-01-01\n' % (i, i) for i in range(300)
)
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": lambda data: gzip.compress(data),
    ".bz2": bz2.compress,
    ".xz": lambda data: lzma.compress(data, format=lzma.FORMAT_XZ),
    ".zst": zstd.compress,
}
DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.decompress,
    ".bz2": bz2.decompress,
    ".xz": lzma.decompress,
    ".zst": zstd.decompress,
}


def _first_records(data: bytes, records: int) -> bytes:
    """The header and ``records`` records of :data:`PIPE`-like data (two lines a record)."""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[: 1 + 2 * records])


@pytest.mark.parametrize(
    ("name", "delimiter"), [("gics.txt", b","), ("gics.dat", b","), ("gics.psv", b"|")]
)
def test_txt_dat_and_psv_files_are_sampled_with_the_delimiter_their_name_implies(
    tmp_path: Path, name: str, delimiter: bytes
) -> None:
    data = PIPE.replace(b"|", delimiter)
    sample, content = _sampled(tmp_path, name, data, 5)
    assert content == _first_records(data, 5)
    assert (sample.rows, sample.kind) == (5, "delimited")
    assert [n for n, _ in sample.schema] == ["gics_code", "sector_name", "as_of"]
    assert sample.contents.head[0][1] == f"Sector {delimiter.decode()} 0\nsecond line"


@pytest.mark.parametrize("suffix", [".bz2", ".xz", ".zst"])
def test_a_bz2_xz_or_zstd_sample_is_the_first_records_byte_for_byte_in_that_compression(
    tmp_path: Path, suffix: str
) -> None:
    data = PIPE.replace(b"|", b",")
    sample, content = _sampled(tmp_path, f"d.csv{suffix}", COMPRESS[suffix](data), 7)
    assert DECOMPRESS[suffix](content) == _first_records(data, 7)
    assert content[:4] == COMPRESS[suffix](b"")[:4]  # the same compression's magic
    assert (sample.rows, sample.compression) == (7, {".zst": "zstd"}.get(suffix, suffix[1:]))
    assert [n for n, _ in sample.schema] == ["gics_code", "sector_name", "as_of"]


def test_a_compressed_psv_uses_the_delimiter_of_the_name_inside_the_compression(
    tmp_path: Path,
) -> None:
    sample, content = _sampled(tmp_path, "gics.psv.zst", zstd.compress(PIPE), 3)
    assert zstd.decompress(content) == _first_records(PIPE, 3)
    assert len(sample.schema) == 3


def test_a_txt_that_is_gzip_is_decompressed_and_its_sample_is_gzip_too(tmp_path: Path) -> None:
    data = PIPE.replace(b"|", b",")
    sample, content = _sampled(tmp_path, "gics.txt", gzip.compress(data), 4)
    assert gzip.decompress(content) == _first_records(data, 4)
    assert (sample.rows, sample.compression) == (4, "gzip")


def test_a_csv_that_is_parquet_is_sampled_as_parquet(tmp_path: Path) -> None:
    real = _write(tmp_path / "real.parquet", _frame())
    sample, content = _sampled(tmp_path, "d.csv", real.read_bytes(), 5)
    assert sample.kind == "parquet"
    assert pq.read_table(io.BytesIO(content)).equals(pq.read_table(real).slice(0, 5))


def test_a_pdf_named_csv_is_not_data_and_no_sample_is_written(tmp_path: Path) -> None:
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + b"x" * 200
    source = tmp_path / "report.csv"
    source.write_bytes(pdf)
    with pytest.raises(NotDataError, match=r"report\.csv: a PDF document, not a data file") as e:
        take_sample(source, tmp_path / "out" / "report.csv")
    assert (e.value.kind, e.value.size, e.value.first_bytes) == ("pdf", len(pdf), pdf[:64])
    assert not (tmp_path / "out").exists()


def test_a_format_with_no_reader_yet_is_not_data_naming_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A made-up kind: each real one gets its reader in turn.
    placeholder = registry.Unsampled("demo", (".demo",), (b"DEMO\x00",))
    monkeypatch.setattr(registry, "READERS", (placeholder, *registry.READERS))
    source = tmp_path / "t.demo"
    source.write_bytes(b"DEMO\x00\x05\x08\x00\x10\x00" + b"\x00" * 100)
    with pytest.raises(NotDataError, match=r"t\.demo: demo files are recognised, but no reader"):
        read_sample(source)


@pytest.mark.parametrize("suffix", [".bz2", ".xz", ".zst"])
def test_a_truncated_bz2_xz_or_zstd_fails_clearly_even_after_whole_records(
    tmp_path: Path, suffix: str
) -> None:
    whole = COMPRESS[suffix](PIPE.replace(b"|", b","))
    source = tmp_path / f"d.csv{suffix}"
    source.write_bytes(whole[: len(whole) - 20])
    name = {".zst": "zstd"}.get(suffix, suffix[1:])
    with pytest.raises(
        SampleError,
        match=rf"d\.csv\{suffix}: cannot read: the {name} stream ends before its end-of-stream "
        r"marker, after \d+ decompressed bytes \(the file is cut short\)",
    ):
        read_sample(source, 1000)


def test_a_corrupt_compressed_stream_fails_clearly(tmp_path: Path) -> None:
    whole = bytearray(bz2.compress(PIPE * 10))
    whole[200:260] = b"\x00" * 60
    source = tmp_path / "d.csv.bz2"
    source.write_bytes(bytes(whole))
    with pytest.raises(SampleError, match=r"d\.csv\.bz2: cannot read: corrupt bz2 data after 0"):
        read_sample(source, 1000)


def test_a_compressed_sample_reads_only_what_its_records_need(tmp_path: Path) -> None:
    big = _frame(200_000).write_csv().encode()
    for suffix in (".bz2", ".xz", ".zst"):
        source = tmp_path / f"d.csv{suffix}"
        source.write_bytes(COMPRESS[suffix](big))
        sample, _ = read_sample(source, 100)
        assert sample.rows == 100
        assert sample.bytes_read < source.stat().st_size // 4, (suffix, sample.bytes_read)


def test_a_compressed_stream_that_yields_nothing_is_refused_within_its_cap(tmp_path: Path) -> None:
    source = tmp_path / "d.csv.gz"
    source.write_bytes(gzip.compress(b"") * 200_000)  # 4 MB of empty gzip members
    with pytest.raises(SampleError, match=r"cannot read: \d+ bytes of gzip data read and"):
        read_sample(source, 5, max_prefix_bytes=64 * 1024)


def test_excel_unicode_text_is_sampled_in_utf16_byte_for_byte(tmp_path: Path) -> None:
    rows = ["id\tname\tnote"] + [f'{i}\tÉlise {i}\t"a\tb\r\nc"' for i in range(300)]
    data = b"\xff\xfe" + ("\r\n".join(rows) + "\r\n").encode("utf-16-le")
    sample, content = _sampled(tmp_path, "export.txt", data, 7)
    want = b"\xff\xfe" + ("\r\n".join(rows[:8]) + "\r\n").encode("utf-16-le")
    assert content == want
    assert sample.rows == 7
    assert sample.schema == [("id", "Int64"), ("name", "String"), ("note", "String")]
    assert sample.contents.head[0] == ("0", "Élise 0", "a\tb\r\nc")
    assert sample.metadata["dialect"] == {
        "delimiter": "\t",
        "quotechar": '"',
        "escapechar": None,
        "header": True,
        "preamble_lines": 0,
        "encoding": "utf-16-le",
        "source": "detected",
    }


def test_utf32_text_with_its_byte_order_mark_is_sampled_in_its_own_bytes(tmp_path: Path) -> None:
    text = "a|b\n1|x\n2|y\n3|z\n"
    data = b"\x00\x00\xfe\xff" + text.encode("utf-32-be")
    sample, content = _sampled(tmp_path, "d.psv", data, 2)
    assert content == b"\x00\x00\xfe\xff" + "a|b\n1|x\n2|y\n".encode("utf-32-be")
    assert (sample.rows, sample.schema) == (2, [("a", "Int64"), ("b", "String")])


def test_utf16_without_a_byte_order_mark_is_binary_not_data(tmp_path: Path) -> None:
    (tmp_path / "d.txt").write_bytes("a\tb\r\n1\t2\r\n".encode("utf-16-le"))
    with pytest.raises(NotDataError, match="binary data"):
        read_sample(tmp_path / "d.txt")


def test_prose_in_a_txt_not_named_readme_is_sampled_as_its_first_lines(tmp_path: Path) -> None:
    data = (
        b"Delivery notes, March 2026.\n\n"
        b"The sector file is pipe-delimited; codes are as of the first of the month.\n"
        b"Questions: data@vendor.example\n"
    )
    sample, content = _sampled(tmp_path, "notes.txt", data, 2)
    assert content == data[: data.index(b"Questions")]
    assert sample.rows == 2
    assert sample.schema == [("line", "String")]


def test_a_readme_is_not_data_and_is_not_read_as_such(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_bytes(b"id,name\n1,a\n")
    with pytest.raises(NotDataError, match="documentation, not a data file") as err:
        read_sample(tmp_path / "README.txt")
    assert err.value.kind == "documentation"


def test_configured_options_beat_detection_and_the_dialect_says_configured(
    tmp_path: Path,
) -> None:
    (tmp_path / "d.csv").write_bytes(b"a,b;c\n1,2;3\n4,5;6\n")
    sample, _ = read_sample(tmp_path / "d.csv", format_options=FormatOptions(delimiter=";"))
    assert [name for name, _ in sample.schema] == ["a,b", "c"]
    assert sample.metadata["dialect"]["source"] == "configured"  # type: ignore[index,call-overload]
    (tmp_path / "events.log").write_bytes(b'{"a": 1}\n{"a": 2}\n')
    jsonl, _ = read_sample(tmp_path / "events.log", format_options=FormatOptions(format="jsonl"))
    assert (jsonl.kind, jsonl.rows, jsonl.schema) == ("jsonl", 2, [("a", "Int64")])


@pytest.mark.parametrize(
    ("compress", "suffix", "decompress"),
    [
        (gzip.compress, ".gz", gzip.decompress),
        (bz2.compress, ".bz2", bz2.decompress),
        (lzma.compress, ".xz", lzma.decompress),
        (zstd.compress, ".zst", zstd.decompress),
    ],
)
def test_a_compressed_pipe_txt_is_detected_inside_its_compression(
    tmp_path: Path,
    compress: Callable[[bytes], bytes],
    suffix: str,
    decompress: Callable[[bytes], bytes],
) -> None:
    data = b"code|name\n" + b"".join(b'%d|"n|\n%d"\n' % (i, i) for i in range(50))
    sample, content = _sampled(tmp_path, f"gics.txt{suffix}", compress(data), 5)
    assert [n for n, _ in sample.schema] == ["code", "name"] and sample.rows == 5
    assert decompress(content) == b"code|name\n" + b"".join(
        b'%d|"n|\n%d"\n' % (i, i) for i in range(5)
    )


def test_a_utf16_sample_reads_a_bounded_prefix_of_a_large_file(tmp_path: Path) -> None:
    text = "id\tname\r\n" + "".join(f"{i}\tn{i}\r\n" for i in range(200_000))
    (tmp_path / "big.txt").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    sample, content = read_sample(tmp_path / "big.txt", 5)
    assert sample.rows == 5 and content.decode("utf-16").startswith("id\tname\r\n0\tn0")
    assert sample.bytes_read <= 3 * 64 * 1024
