import errno
import gzip
import io
import json
import os
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats import archive
from alchemy_assets.formats.archive import ZipReader
from alchemy_assets.formats.base import NO
from alchemy_assets.formats.registry import Detected, detect
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.sampling import (
    NotDataError,
    RefusedError,
    Sample,
    SampleError,
    read_sample,
    sample_open_file,
)
from alchemy_assets_tests.conftest import RawWriter

PRICES = b"ticker,price\n" + b"".join(b"T%d,%d.5\n" % (i, i) for i in range(500))
EVENTS = b"".join(b'{"id": %d, "kind": "tick"}\n' % i for i in range(300))
STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED


def _zip(*members: tuple[str, bytes] | tuple[str, bytes, int]) -> bytes:
    """A zip of ``(name, data[, method])`` members, deflated unless said."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data, *method in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 2, 3, 4, 6))
            info.compress_type = method[0] if method else DEFLATED
            zf.writestr(info, data)
    return out.getvalue()


def _parquet(rows: int = 250, row_group_size: int = 50) -> bytes:
    out = io.BytesIO()
    ids = pa.array(range(rows), pa.int32())
    table = pa.table({"id": ids, "name": [f"n{i}" for i in range(rows)]})
    pq.write_table(table, out, row_group_size=row_group_size)
    return out.getvalue()


def _sample(tmp_path: Path, data: bytes, rows: int = 100, **kwargs: Any) -> tuple[Sample, bytes]:
    path = tmp_path / "delivery.zip"
    path.write_bytes(data)
    return read_sample(path, rows, **kwargs)


def _listed(sample: Sample) -> dict[str, dict[str, Any]]:
    summary = sample.metadata["zip"]
    assert isinstance(summary, dict) and isinstance(summary["listed"], list)
    return {str(e["name"]): e for e in summary["listed"] if isinstance(e, dict)}


def _refused(tmp_path: Path, data: bytes, match: str, **kwargs: Any) -> RefusedError:
    with pytest.raises(RefusedError, match=match) as refused:
        _sample(tmp_path, data, **kwargs)
    assert not isinstance(refused.value, NotDataError)
    return refused.value


# Recognition.


def test_a_zip_is_known_by_its_magic_bytes_but_office_documents_are_no_archives() -> None:
    data = _zip(("a.csv", b"x\n1\n"))
    assert detect(data[:4096], "delivery.zip") == Detected("zip", None, ".zip", ".zip")
    assert detect(data[:4096], "delivery.bin") == Detected("zip", None, ".bin", ".bin")
    empty = _zip()
    assert empty.startswith(b"PK\x05\x06")
    assert detect(empty, "empty.zip") == Detected("zip", None, ".zip", ".zip")
    for name in ("book.xlsx", "book.xlsm", "sheet.ods", "deck.pptx", "letter.docx"):
        assert ZipReader().recognise(data, name) == NO
    found = detect(data[:4096], "sheet.ods")
    assert not isinstance(found, Detected) or found.kind != "zip"
    assert ZipReader().recognise(b"PAR1\x00\x00", "a.zip") == NO


# The sample: each data member's own sample, under its name and method.


def test_each_data_member_is_sampled_by_its_own_reader_under_its_name_and_method(
    tmp_path: Path,
) -> None:
    data = _zip(
        ("prices.csv", PRICES),
        ("events.jsonl", EVENTS, STORED),
        ("sub/t.parquet", _parquet(), STORED),
        ("sub/more.csv.gz", gzip.compress(PRICES), STORED),
        ("README.txt", b"What these files are.\n"),
        ("report.pdf", b"%PDF-1.7\n%\xb5\xb5\n"),
        ("chart.bin", b"\x89PNG\r\n\x1a\n\x00\x00"),
    )
    sample, content = _sample(tmp_path, data, rows=7)
    assert sample.kind == "zip"
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert zf.namelist() == ["prices.csv", "events.jsonl", "sub/t.parquet", "sub/more.csv.gz"]
        assert [i.compress_type for i in zf.infolist()] == [DEFLATED, STORED, STORED, STORED]
        assert zf.read("prices.csv") == b"".join(PRICES.splitlines(keepends=True)[:8])
        assert zf.read("events.jsonl") == b"".join(EVENTS.splitlines(keepends=True)[:7])
        table = pq.read_table(io.BytesIO(zf.read("sub/t.parquet")))
        assert table.num_rows == 7 and table.schema == pq.read_schema(io.BytesIO(_parquet()))
        assert gzip.decompress(zf.read("sub/more.csv.gz")) == zf.read("prices.csv")
    listed = _listed(sample)
    assert listed["README.txt"]["not_data"].startswith("named 'README.txt': documentation")
    assert listed["report.pdf"]["not_data"].startswith("named '.pdf': documentation")
    assert listed["chart.bin"]["not_data"].startswith("a PNG image, not a data file")
    assert listed["sub/more.csv.gz"]["compression"] == "gzip"


def test_the_sample_says_what_it_holds_member_by_member(tmp_path: Path) -> None:
    data = _zip(("prices.csv", PRICES), ("sub/t.parquet", _parquet(), STORED))
    sample, _ = _sample(tmp_path, data, rows=7)
    assert sample.rows == 14
    assert sample.schema == [
        ("prices.csv:ticker", "String"),
        ("prices.csv:price", "Float64"),
        ("sub/t.parquet:id", "int32"),
        ("sub/t.parquet:name", "string"),
    ]
    assert sample.contents.head[0] == ("T0", "0.5")  # the first member's rows
    summary = sample.metadata["zip"]
    assert isinstance(summary, dict)
    assert {k: v for k, v in summary.items() if k != "listed"} == {
        "members": 2,
        "directories": 0,
        "sampled": 2,
        "not_data": 0,
        "not_sampled": 0,
        "failed": 0,
    }
    listed = _listed(sample)
    assert listed["prices.csv"]["method"] == "deflated"
    assert (listed["prices.csv"]["rows"], listed["prices.csv"]["columns"]) == (7, 2)
    assert listed["prices.csv"]["dialect"]["delimiter"] == ","  # to read the sample the same way
    assert listed["sub/t.parquet"] == {
        "name": "sub/t.parquet",
        "method": "stored",
        "kind": "parquet",
        "rows": 7,
        "columns": 2,
    }


def test_directories_are_skipped_and_an_archive_of_none_or_only_them_is_a_sample_of_no_rows(
    tmp_path: Path,
) -> None:
    for data in (_zip(), _zip(("a/", b""), ("a/b/", b""))):
        sample, content = _sample(tmp_path, data)
        assert (sample.rows, sample.schema) == (0, [])
        assert zipfile.ZipFile(io.BytesIO(content)).namelist() == []


def test_an_archive_of_members_none_of_them_data_is_not_data_with_its_members_named(
    tmp_path: Path,
) -> None:
    data = _zip(
        ("pkg/__init__.py", b"x = 1\n"), ("LICENSE", b"MIT\n"), ("logo.png", b"\x89PNG\r\n\x1a\n")
    )
    with pytest.raises(NotDataError, match="a zip archive of 3 member") as not_data:
        _sample(tmp_path, data)
    assert not_data.value.kind == "zip"
    assert "'pkg/__init__.py': unknown format '.py'" in not_data.value.reason


def test_a_zip_inside_the_archive_is_listed_and_not_recursed(tmp_path: Path) -> None:
    inner = _zip(("deep.csv", PRICES))
    sample, content = _sample(tmp_path, _zip(("inner.zip", inner), ("a.csv", PRICES)))
    assert zipfile.ZipFile(io.BytesIO(content)).namelist() == ["a.csv"]
    assert _listed(sample)["inner.zip"]["not_data"] == "a zip inside the archive: not recursed"


def test_a_member_that_fails_is_listed_with_its_reason_and_the_others_are_sampled(
    tmp_path: Path,
) -> None:
    data = _zip(("bad.csv", b'a,b\n1,"open\n2,3\n'), ("good.csv", PRICES))
    sample, content = _sample(tmp_path, data, rows=5)
    assert zipfile.ZipFile(io.BytesIO(content)).namelist() == ["good.csv"]
    assert "unterminated quote" in _listed(sample)["bad.csv"]["failed"]
    assert sample.notes["members"].startswith(
        "1 member(s) could not be sampled, the first 'bad.csv'"
    )


def test_an_archive_whose_every_data_member_fails_is_refused_naming_the_first(
    tmp_path: Path,
) -> None:
    data = _zip(("README", b"notes\n"), ("bad.csv", b'a,b\n1,"open\n'), ("bad2.csv", b'"x\n'))
    _refused(tmp_path, data, r"none of its members could be sampled; member 'bad\.csv': .*quote")


def test_a_seeking_format_compressed_in_the_archive_is_read_in_memory_up_to_the_cap(
    tmp_path: Path,
) -> None:
    parquet = _parquet(5000)
    sample, content = _sample(tmp_path, _zip(("t.parquet", parquet), ("a.csv", PRICES)), rows=3)
    assert (
        pq.read_table(io.BytesIO(zipfile.ZipFile(io.BytesIO(content)).read("t.parquet"))).num_rows
        == 3
    )
    cap = len(parquet) - 1
    sample, content = _sample(
        tmp_path, _zip(("t.parquet", parquet), ("a.csv", PRICES)), rows=3, max_prefix_bytes=cap
    )
    assert zipfile.ZipFile(io.BytesIO(content)).namelist() == ["a.csv"]
    assert _listed(sample)["t.parquet"]["not_sampled"].startswith(
        f"read by seeking, and deflated to {len(parquet):,} bytes, more than the {cap:,}"
    )


def test_zip64_data_descriptors_and_each_compression_method_zipfile_reads_are_sampled(
    tmp_path: Path,
) -> None:
    class Unseekable(io.RawIOBase):  # zipfile writes data descriptors to a stream it cannot seek
        def __init__(self) -> None:
            self.out = io.BytesIO()

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            return self.out.write(data)

    sink = Unseekable()
    methods = {"s.csv": STORED, "d.csv": DEFLATED, "b.csv": zipfile.ZIP_BZIP2}
    with zipfile.ZipFile(sink, "w") as zf:
        for name, method in {**methods, "l.csv": zipfile.ZIP_LZMA}.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            with zf.open(info, "w", force_zip64=True) as member:
                member.write(PRICES)
    data = sink.out.getvalue()
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert all(i.flag_bits & 0x08 for i in infos)  # data descriptors
    assert all(i.extract_version >= 45 for i in infos)  # ZIP64
    sample, content = _sample(tmp_path, data, rows=4)
    assert sample.rows == 16
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert [zf.read(i) for i in zf.infolist()] == [b"".join(PRICES.splitlines(True)[:5])] * 4


def test_the_dialect_options_configured_for_the_archive_apply_to_its_delimited_members(
    tmp_path: Path,
) -> None:
    options = FormatOptions(format="zip", header=False)
    sample, _ = _sample(tmp_path, _zip(("a.dat", b"x,y\n1,2\n")), format_options=options)
    assert sample.schema == [("a.dat:column_1", "String"), ("a.dat:column_2", "String")]
    assert sample.rows == 2


# Bounded reads.


def test_the_sample_reads_the_directory_and_the_first_bytes_of_each_member(tmp_path: Path) -> None:
    big = b"ticker,price\n" + b"".join(b"T%d,%d.5\n" % (i, i) for i in range(1_000_000))
    parquet = _parquet(200_000, row_group_size=1000)
    data = _zip(("a.csv", big, STORED), ("b.csv", big), ("c.parquet", parquet, STORED))
    sample, _ = _sample(tmp_path, data, rows=10)
    assert sample.rows == 30
    assert len(data) > 20_000_000 and sample.bytes_read < 400_000


def test_a_deflate_bomb_is_decompressed_only_as_far_as_its_sample_reads(tmp_path: Path) -> None:
    # 128 MiB of records, and 128 MiB of one record that never ends, in some 250 kB.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", DEFLATED) as zf:
        for name, first, repeat in [("rows.csv", b"a,b\n", b"1,2\n"), ("line.csv", b"a", b"aaaa")]:
            with zf.open(name, "w", force_zip64=True) as member:
                member.write(first)
                for _ in range(128):
                    member.write(repeat * (1 << 18))
    data = out.getvalue()
    assert len(data) < 1_000_000
    tracemalloc.start()
    try:
        sample, content = _sample(tmp_path, data, rows=100, max_prefix_bytes=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert zipfile.ZipFile(io.BytesIO(content)).read("rows.csv") == b"a,b\n" + b"1,2\n" * 100
    assert "does not end within the first 1048576 bytes" in _listed(sample)["line.csv"]["failed"]
    assert peak < 16 << 20  # not the 256 MiB they decompress to
    assert sample.bytes_read < 200_000


def test_a_member_whose_compressed_data_yields_nothing_is_not_read_past_twice_the_cap(
    tmp_path: Path,
) -> None:
    # 200,000 empty stored blocks (1 MB that decompress to nothing), then the records.
    empty_blocks = b"\x00\x00\x00\xff\xff" * 200_000
    packer = zlib.compressobj(wbits=-15)
    raw = empty_blocks + packer.compress(b"a,b\n1,2\n") + packer.flush()
    data = _hand_made(b"a.csv", raw, 8, zlib.crc32(b"a,b\n1,2\n"))
    assert zipfile.ZipFile(io.BytesIO(data)).read("a.csv") == b"a,b\n1,2\n"
    _refused(
        tmp_path,
        data,
        r"bytes of its data in the archive read, the most a member's sample reads",
        max_prefix_bytes=64 * 1024,
    )


def test_ten_thousand_members_are_listed_within_the_metadata_bound_and_sampled_up_to_the_cap(
    tmp_path: Path,
) -> None:
    day = b"id,v\n" + b"".join(b"%d,1\n" % i for i in range(20))
    data = _zip(*[(f"daily/{i:05}.csv", day, STORED) for i in range(10_000)])
    sample, content = _sample(tmp_path, data, rows=5)
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert names == [f"daily/{i:05}.csv" for i in range(archive.MAX_SAMPLED_MEMBERS)]
    summary = sample.metadata["zip"]
    assert isinstance(summary, dict) and isinstance(summary["listed"], list)
    assert (summary["members"], summary["sampled"]) == (10_000, 100)
    assert summary["not_sampled"] == 9_900
    assert summary["not_listed"] == 10_000 - len(summary["listed"])
    assert len(json.dumps(sample.metadata)) < archive.MAX_LISTED_BYTES + 1024
    assert sample.notes["members"] == (
        "9,900 member(s) not read: a sample takes at most 100 data members"
    )
    assert sample.bytes_read < len(data) / 2


def test_a_central_directory_over_the_bound_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "MAX_DIRECTORY_BYTES", 10_000)
    data = _zip(*[(f"{i:05}.csv", b"id\n1\n", STORED) for i in range(2_000)])  # 110 kB of it
    _refused(tmp_path, data, "its central directory is larger than 10,000 bytes")


# Hostile archives: refused whole, clearly, nothing extracted.


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../evil.csv", r"climbs out of the archive \('\.\.'\)"),
        ("data/../../evil.csv", r"climbs out of the archive"),
        ("..\\evil.csv", r"climbs out of the archive"),
        ("/etc/evil.csv", "is an absolute path"),
        ("\\evil.csv", "is an absolute path"),
        ("C:/evil.csv", "is an absolute path"),
        ("evil.csv\x00.exe", "holds a NUL byte"),
    ],
)
def test_a_member_name_that_would_write_outside_the_archive_is_refused(
    tmp_path: Path, name: str, problem: str
) -> None:
    # zipfile writes a name only up to a NUL byte: one is put in after.
    data = _zip(("good.csv", PRICES), (name.replace("\x00", "#"), PRICES))
    data = data.replace(b"evil.csv#", b"evil.csv\x00")
    _refused(tmp_path, data, rf"cannot read as zip: ArchiveError: member '.*': its name {problem}")


def test_dots_inside_a_member_name_are_no_climb(tmp_path: Path) -> None:
    sample, _ = _sample(tmp_path, _zip(("v1..2/a..b.csv", PRICES)))
    assert sample.rows == 100


def test_two_members_of_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = _zip(("a.csv", PRICES), ("a.csv", b"x\n1\n"))
    _refused(tmp_path, data, "two members are named 'a.csv': which one is the data is ambiguous")


def test_an_encrypted_member_is_refused(tmp_path: Path) -> None:
    data = _zip(("a.csv", PRICES), ("secret.csv", PRICES))
    data = _patch(data, 1, central={8: (2, 0x01)}, local={6: (2, 0x01)})  # flag bit 0
    _refused(tmp_path, data, "member 'secret.csv' is encrypted: an encrypted archive is not")


def test_a_member_whose_headers_claim_fewer_bytes_than_decompress_is_refused_by_its_crc(
    tmp_path: Path,
) -> None:
    # Both headers say 1 KiB; it decompresses to 5 MB: zipfile stops at 1 KiB, and its CRC
    # (of all 5 MB) shows it.
    big = b"a,b\n" + b"1,2\n" * 1_250_000
    data = _patch(_zip(("a.csv", big)), 0, central={24: (4, 1024)}, local={22: (4, 1024)})
    _refused(tmp_path, data, r"member 'a\.csv': Bad CRC-32 for file 'a\.csv': its data is not what")


def test_a_member_whose_headers_claim_more_bytes_than_decompress_is_refused(tmp_path: Path) -> None:
    small = b"a,b\n1,2\n"
    data = _patch(_zip(("a.csv", small)), 0, central={24: (4, 10**9)}, local={22: (4, 10**9)})
    _refused(
        tmp_path, data, r"its header gives 1,000,000,000 bytes uncompressed, and its data holds 8"
    )


def test_a_local_header_that_disagrees_with_the_central_directory_is_refused(
    tmp_path: Path,
) -> None:
    data = _zip(("a.csv", PRICES))
    _refused(
        tmp_path,
        _patch(data, 0, local={22: (4, 12345)}),
        f"its local header gives size 12,345, the central directory {len(PRICES):,}:",
    )
    renamed = data.replace(b"a.csv", b"b.csv", 1)  # the local header's name only
    _refused(tmp_path, renamed, r"File name in directory 'a\.csv' and header b'b\.csv' differ")


def test_overlapping_members_a_zip_bombs_trick_are_refused(tmp_path: Path) -> None:
    data = _zip(("a.csv", PRICES), ("b.csv", PRICES))
    first = zipfile.ZipFile(io.BytesIO(data)).infolist()[0].header_offset
    overlapping = _patch(data, 1, central={42: (4, first)})  # b.csv's data is a.csv's
    _refused(tmp_path, overlapping, "run into member .*: overlapping entries")


def test_a_read_of_the_archive_that_fails_is_no_refusal(tmp_path: Path) -> None:
    data = _zip(("a.csv", PRICES, STORED), ("b.csv", PRICES))
    second = zipfile.ZipFile(io.BytesIO(data)).infolist()[1].header_offset
    assert second > 4096  # past the first bytes every file's format is told from

    class Failing(io.RawIOBase):  # its second member's bytes are on a failing disk
        def __init__(self) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
            return self.data.seek(offset, whence)

        def tell(self) -> int:
            return self.data.tell()

        def readinto(self, buffer: Any) -> int:
            at = self.data.tell()
            if at < second + 100 and at + len(buffer) > second:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return self.data.readinto(buffer)

    with pytest.raises(SampleError, match=r"cannot read after \d+ bytes: \[Errno 5\]") as failed:
        sample_open_file(Failing(), "a.zip", 5)  # type: ignore[arg-type]
    assert not isinstance(failed.value, RefusedError)


def _entries(data: bytes) -> list[tuple[int, int]]:
    """Where each member's central directory entry and local header start."""
    offsets = []
    at = zipfile.ZipFile(io.BytesIO(data)).start_dir
    while data[at : at + 4] == b"PK\x01\x02":
        name, extra, comment = struct.unpack("<3H", data[at + 28 : at + 34])
        (local,) = struct.unpack("<L", data[at + 42 : at + 46])
        offsets.append((at, local))
        at += 46 + name + extra + comment
    return offsets


def _patch(
    data: bytes,
    index: int,
    *,
    central: dict[int, tuple[int, int]] | None = None,
    local: dict[int, tuple[int, int]] | None = None,
) -> bytes:
    """``data`` with fields of member ``index``'s headers set: offset -> (width, value)."""
    out = bytearray(data)
    cd, lh = _entries(data)[index]
    for base, fields in ((cd, central or {}), (lh, local or {})):
        for offset, (width, value) in fields.items():
            out[base + offset : base + offset + width] = value.to_bytes(width, "little")
    return bytes(out)


def _hand_made(name: bytes, raw: bytes, size: int, crc: int) -> bytes:
    """A one-member zip whose member's deflated bytes are ``raw``, written field by field."""
    fields = (8, 0, 0x21, crc, len(raw), size, len(name), 0)  # deflated, 1980-01-01
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, *fields) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, 0)
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), len(local) + len(raw), 0
    )
    return local + raw + central + name + end


# End to end: staged, with its metadata; a hostile one writes nothing anywhere.


def test_a_staged_zip_gets_its_sample_and_its_members_columns_and_rows(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/prices.zip", _zip(("prices.csv", PRICES), ("README.txt", b"notes\n")), 1000.0)
    write_raw("env0/hostile.zip", _zip(("../../../../escaped.csv", PRICES)), 1000.0)
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    before = {p for p in fp_prefix.parent.rglob("*") if "dagster_home" not in p.parts}
    assert main(["stage", *root]) == 1  # the hostile one failed
    after = {p for p in fp_prefix.parent.rglob("*") if "dagster_home" not in p.parts}
    failure = capsys.readouterr().err
    assert "FAILED env0/hostile.zip: " in failure
    assert "'../../../../escaped.csv': its name climbs out of the archive ('..')" in failure
    written = {p.relative_to(layout.samples).as_posix() for p in after - before if p.is_file()}
    assert {name for name in written if not name.startswith("env0/.")} == {"env0/prices_sample.zip"}
    sample = zipfile.ZipFile(layout.samples / "env0" / "prices_sample.zip")
    assert sample.namelist() == ["prices.csv"]
    (record,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key, asset_partitions=["env0/prices.zip"]),
        limit=1,
    ).records
    assert record.asset_materialization is not None
    metadata = record.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == 100
    schema, members = metadata["dagster/column_schema"], metadata["zip"]
    assert isinstance(schema, dg.TableSchemaMetadataValue)
    assert [c.name for c in schema.schema.columns] == ["prices.csv:ticker", "prices.csv:price"]
    assert isinstance(members, dg.JsonMetadataValue) and isinstance(members.data, dict)
    assert [m["name"] for m in members.data["listed"]] == ["prices.csv", "README.txt"]
