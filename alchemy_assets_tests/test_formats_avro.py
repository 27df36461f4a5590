import datetime as dt
import gzip
import io
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import fastavro
import pytest

from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats.avro import HEADER_SCHEMA, AvroReader, avro_type
from alchemy_assets.formats.base import CERTAIN, NO
from alchemy_assets.formats.registry import Detected, NotData, detect
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.sampling import RefusedError, read_sample
from alchemy_assets_tests.conftest import RawWriter

LEG = {"type": "record", "name": "Leg", "fields": [{"name": "qty", "type": "int"}]}
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Trade",
    "namespace": "vendor.feed",
    "fields": [
        {"name": "id", "type": "long"},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        },
        {
            "name": "amount",
            "type": {
                "type": "fixed",
                "name": "Amount",
                "size": 8,
                "logicalType": "decimal",
                "precision": 18,
                "scale": 4,
            },
        },
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "raw", "type": "bytes"},
        {"name": "note", "type": ["null", "string"]},
        {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
        {"name": "tags", "type": {"type": "map", "values": "long"}},
        {"name": "legs", "type": {"type": "array", "items": LEG}},
        {"name": "venue", "type": ["null", "Leg", "string"]},
    ],
}
UTC = dt.UTC


def _trade(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "price": Decimal(f"{i}.25"),
        "amount": Decimal(f"-{i}.0001"),
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, i % 1_000_000, tzinfo=UTC),
        "day": dt.date(1900, 1, 1) + dt.timedelta(days=i),
        "ref": uuid.UUID(int=i),
        "raw": bytes([i % 256, 0, 255]),
        "note": None if i % 2 else f"note {i}",
        "side": "SELL" if i % 3 else "BUY",
        "tags": {"k": i},
        "legs": [{"qty": i}, {"qty": -i}],
        "venue": {"qty": 1} if i % 2 else "XLON",
    }


def _avro(
    records: list[Any],
    *,
    codec: str = "null",
    schema: Any = SCHEMA,
    sync_interval: int = 16_000,
    metadata: dict[str, str] | None = None,
) -> bytes:
    out = io.BytesIO()
    fastavro.writer(
        out,
        fastavro.parse_schema(schema),
        records,
        codec=codec,
        sync_interval=sync_interval,
        metadata=metadata,
    )
    return out.getvalue()


def _sample(tmp_path: Path, data: bytes, rows: int, name: str = "t.avro", **kw: Any) -> Any:
    path = tmp_path / name
    path.write_bytes(data)
    return read_sample(path, rows, **kw)


def _blocks(data: bytes) -> list[Any]:
    return list(fastavro.block_reader(io.BytesIO(data)))


def _read(data: bytes) -> tuple[Any, list[Any]]:
    reader = fastavro.reader(io.BytesIO(data))
    return reader, list(reader)


def test_an_avro_file_is_recognised_by_its_magic_whatever_its_name() -> None:
    head = _avro([_trade(1)])[:64]
    assert AvroReader().recognise(head, "x.bin") == CERTAIN
    assert AvroReader().recognise(b"Obj\x02", "x.avro") == NO
    assert detect(head, "export.dat") == Detected("avro", None, ".dat", ".dat")
    found = detect(b"col\n1\n", "t.avro")
    assert isinstance(found, NotData) and "not avro's magic bytes" in found.reason


@pytest.mark.parametrize("codec", ["null", "deflate", "bzip2", "snappy", "xz", "zstandard", "lz4"])
def test_the_sample_is_the_header_as_written_and_the_first_records_in_the_files_codec(
    tmp_path: Path, codec: str
) -> None:
    records = [_trade(i) for i in range(300)]
    data = _avro(records, codec=codec, sync_interval=2_000, metadata={"vendor": "acme"})
    sample, content = _sample(tmp_path, data, 100)
    header_end = _blocks(data)[0].offset
    assert content[:header_end] == data[:header_end]  # schema text, metadata, sync marker
    reader, kept = _read(content)
    assert reader.codec == codec and reader.metadata["vendor"] == "acme"
    # Decimals, timestamps, dates, uuids, bytes and unions come back as they were.
    assert kept == records[:100] and sample.rows == 100
    assert len(_blocks(content)) == 1


def test_a_sample_of_a_short_file_holds_all_its_records_and_a_header_only_file_its_header(
    tmp_path: Path,
) -> None:
    records = [_trade(i) for i in range(5)]
    sample, content = _sample(tmp_path, _avro(records, codec="deflate"), 100)
    assert (sample.rows, _read(content)[1]) == (5, records)
    empty = _avro([], metadata={"exported": "2026-01-02"})
    sample, content = _sample(tmp_path, empty, 100, "e.avro")
    assert content == empty and sample.rows == 0
    assert sample.metadata["avro"]["metadata"] == {"exported": "2026-01-02"}


def test_a_file_of_many_blocks_is_read_only_as_far_as_its_first_blocks(tmp_path: Path) -> None:
    data = _avro([_trade(i) for i in range(20_000)], codec="deflate", sync_interval=4_000)
    assert len(data) > 500_000
    sample, content = _sample(tmp_path, data, 10)
    assert sample.bytes_read < 16_000 and sample.metadata["avro"]["blocks_read"] == 1
    assert _read(content)[1] == [_trade(i) for i in range(10)]


def test_the_columns_are_the_records_fields_with_their_avro_types_as_a_person_reads_them(
    tmp_path: Path,
) -> None:
    sample, _ = _sample(tmp_path, _avro([_trade(1), _trade(2)]), 100)
    assert sample.schema == [
        ("id", "long"),
        ("price", "decimal(10, 2)"),
        ("amount", "decimal(18, 4)"),
        ("at", "timestamp-micros"),
        ("day", "date"),
        ("ref", "uuid"),
        ("raw", "bytes"),
        ("note", "string?"),
        ("side", "enum vendor.feed.Side{BUY, SELL}"),  # fastavro writes full names
        ("tags", "map<long>"),
        ("legs", "array<record vendor.feed.Leg{qty: int}>"),
        ("venue", "union<null, vendor.feed.Leg, string>"),
    ]
    assert sample.contents.head[0] == (
        "1",
        "1.25",
        "-1.0001",
        "2026-01-02 03:04:05.000001+00:00",
        "1900-01-02",
        "00000000-0000-0000-0000-000000000001",
        "b'\\x01\\x00\\xff'",
        "",
        "SELL",
        '{"k": 1}',
        '[{"qty": 1}, {"qty": -1}]',
        '{"qty": 1}',
    )
    assert sample.metadata == {
        "avro": {
            "codec": "null",
            "type": "record",
            "name": "Trade",
            "namespace": "vendor.feed",
            "metadata": {},
            "blocks_read": 1,
        }
    }


def test_types_that_are_not_in_a_record_or_are_named_or_unknown_read_plainly() -> None:
    assert avro_type({"type": "fixed", "name": "Md5", "size": 16}) == "fixed Md5(16)"
    assert avro_type(["string", "null"]) == "string?"
    assert avro_type({"type": "long", "logicalType": "epoch-days"}) == "long (epoch-days)"
    assert avro_type({"type": "array", "items": ["null", "double"]}) == "array<double?>"


def test_a_schema_that_is_not_a_record_has_one_value_column(tmp_path: Path) -> None:
    sample, content = _sample(tmp_path, _avro([1, 2, 3], schema="long"), 2)
    assert (sample.schema, sample.contents.head) == ([("value", "long")], (("1",), ("2",)))
    assert _read(content)[1] == [1, 2]


def test_a_logical_value_python_cannot_hold_is_kept_as_stored_and_shown_so(
    tmp_path: Path,
) -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "day", "type": {"type": "int", "logicalType": "date"}}],
    }
    data = _avro([{"day": 5_000_000}, {"day": 1}], schema=schema)  # year 15659, then 1970
    sample, content = _sample(tmp_path, data, 10)
    assert sample.rows == 2 and sample.contents.head == (("5000000",), ("1970-01-02",))
    assert sample.notes["unshown"].startswith("record 1: a logical value is shown as stored")
    assert content == data  # one block of both records: the file as it was


def test_a_gzip_compressed_avro_file_is_sampled_inside_the_same_compression(
    tmp_path: Path,
) -> None:
    records = [_trade(i) for i in range(50)]
    sample, content = _sample(tmp_path, gzip.compress(_avro(records)), 7, "t.avro.gz")
    assert (sample.kind, sample.compression) == ("avro", "gzip")
    assert _read(gzip.decompress(content))[1] == records[:7]


def test_a_block_cut_short_is_refused_naming_the_block_and_its_offset(tmp_path: Path) -> None:
    data = _avro([_trade(i) for i in range(300)], sync_interval=2_000)
    second = _blocks(data)[1]
    cut = data[: second.offset + 40]
    with pytest.raises(
        RefusedError, match=rf"block 2 at offset {second.offset:,} is cut short: it holds [\d,]+ "
    ):
        _sample(tmp_path, cut, 100)


def test_a_corrupt_block_after_the_first_is_refused_only_when_the_sample_reaches_it(
    tmp_path: Path,
) -> None:
    data = bytearray(_avro([_trade(i) for i in range(300)], sync_interval=2_000))
    first, second, third = _blocks(bytes(data))[:3]
    data[third.offset - 1] ^= 0xFF  # the last byte of block 2's sync marker
    sample, _ = _sample(tmp_path, bytes(data), first.num_records)  # block 1 alone
    assert sample.rows == first.num_records
    with pytest.raises(
        RefusedError,
        match=rf"block 2 at offset {second.offset:,}: the 16 bytes after its [\d,]+ bytes are "
        "not the header's sync marker",
    ):
        _sample(tmp_path, bytes(data), first.num_records + 1)


@pytest.mark.parametrize(
    ("codec", "damage", "says"),
    [
        ("deflate", lambda b: b"\xff" * len(b), r"its deflate data is corrupt \(Error -3"),
        ("snappy", lambda b: b[:-1] + bytes([b[-1] ^ 1]), r"its snappy data is corrupt \(the CRC"),
        ("bzip2", lambda b: b[:10] + b"\x00" * (len(b) - 10), "its bzip2 data is corrupt"),
    ],
)
def test_corrupt_compressed_data_is_refused_naming_the_codec_and_block(
    tmp_path: Path, codec: str, damage: Any, says: str
) -> None:
    data = _avro([_trade(i) for i in range(10)], codec=codec)
    (block,) = _blocks(data)
    framing = _framing(block.num_records, block.size)
    start = block.offset + framing
    end = block.offset + block.size - 16
    broken = data[:start] + damage(data[start:end]) + data[end:]
    with pytest.raises(RefusedError, match=rf"block 1 at offset {block.offset:,}: {says}"):
        _sample(tmp_path, broken, 5)


def _framing(count: int, size: int) -> int:
    """The bytes of a block's count and size varints (size: the whole block's)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, "long", count)
    body = size - 16 - len(out.getvalue())
    for _ in range(2):  # the size varint's length depends on the size it says
        probe = io.BytesIO()
        fastavro.schemaless_writer(probe, "long", body - len(probe.getvalue()))
        body = size - 16 - len(out.getvalue()) - len(probe.getvalue())
    fastavro.schemaless_writer(out, "long", body)
    return len(out.getvalue())


def _container(meta: dict[str, bytes], *blocks: tuple[int, bytes]) -> bytes:
    """A container written by hand: the header with ``meta``, then (count, data) blocks."""
    out = io.BytesIO()
    sync = b"0123456789abcdef"
    fastavro.schemaless_writer(
        out, HEADER_SCHEMA, {"magic": b"Obj\x01", "meta": meta, "sync": sync}
    )
    for count, data in blocks:
        fastavro.schemaless_writer(out, "long", count)
        fastavro.schemaless_writer(out, "bytes", data)
        out.write(sync)
    return out.getvalue()


@pytest.mark.parametrize(
    ("meta", "says"),
    [
        ({"avro.schema": b"{not json"}, r"the header's avro.schema is not valid JSON \("),
        ({"avro.schema": b'{"type": "nosuch"}'}, "the header's avro.schema is not a schema"),
        ({"avro.codec": b"null"}, "the header has no avro.schema"),
        (
            {"avro.schema": b'"long"', "avro.codec": b"brotli"},
            "the header's codec 'brotli' is none of null, deflate, bzip2",
        ),
        ({"avro.schema": b'"long"', "x": b"\xff"}, "the header's metadata 'x' is not UTF-8"),
    ],
)
def test_a_header_fastavro_cannot_read_or_write_is_refused_saying_why(
    tmp_path: Path, meta: dict[str, bytes], says: str
) -> None:
    with pytest.raises(RefusedError, match=f"cannot read as avro: ValueError: {says}"):
        _sample(tmp_path, _container(meta), 5)


def test_a_header_cut_short_and_a_configured_avro_that_is_not_one_are_refused(
    tmp_path: Path,
) -> None:
    data = _avro([_trade(1)])
    with pytest.raises(RefusedError, match="the header is cut short: the file ends at byte 30"):
        _sample(tmp_path, data[:30], 5)
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(RefusedError, match=r"not an Avro container: it starts b'a,b\\n1,2\\n'"):
        read_sample(path, 5, format_options=FormatOptions(format="avro"))


def test_a_block_holding_fewer_records_than_it_says_is_refused_naming_the_record(
    tmp_path: Path,
) -> None:
    two = io.BytesIO()
    for value in (7, 8):
        fastavro.schemaless_writer(two, "long", value)
    data = _container({"avro.schema": b'"long"'}, (5, two.getvalue()))
    with pytest.raises(
        RefusedError, match=r"block 1 at offset [\d,]+, record 3 of 5: not what the header's"
    ):
        _sample(tmp_path, data, 10)
    sample, _ = _sample(tmp_path, data, 2)  # the first two are whole
    assert sample.contents.head == (("7",), ("8",))


def test_a_first_block_over_the_read_cap_is_refused_naming_its_size(tmp_path: Path) -> None:
    data = _avro([_trade(i) for i in range(2_000)], sync_interval=1 << 30)
    (block,) = _blocks(data)
    with pytest.raises(
        RefusedError,
        match=rf"block 1 at offset {block.offset:,} is [\d,]+ bytes, over the 65,536 bytes",
    ):
        _sample(tmp_path, data, 10, max_prefix_bytes=64 * 1024)


def test_a_later_block_over_the_read_cap_ends_the_sample_there_saying_so(tmp_path: Path) -> None:
    records = [_trade(i) for i in range(3_000)]
    data = _avro(records, sync_interval=30_000)
    sample, content = _sample(tmp_path, data, 1_000, max_prefix_bytes=64 * 1024)
    kept = _read(content)[1]
    assert 0 < len(kept) < 1_000 and kept == records[: len(kept)] and sample.rows == len(kept)
    assert sample.notes["cut"] == (
        f"only {len(kept)} of the first 1000 records end within the first 65,536 bytes of the "
        "file; the sample holds those"
    )
    assert sample.bytes_read <= 64 * 1024


def test_a_block_is_decompressed_only_as_far_as_the_cap_and_its_records_there_are_kept(
    tmp_path: Path,
) -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "s", "type": "string"}]}
    records = [{"s": "x" * 1_000} for _ in range(5_000)]  # 5 MB that deflate makes ~10 KB
    data = _avro(records, codec="deflate", schema=schema, sync_interval=1 << 30)
    assert len(data) < 64 * 1024
    sample, content = _sample(tmp_path, data, 1_000, max_prefix_bytes=64 * 1024)
    assert 0 < sample.rows < 1_000 and _read(content)[1] == records[: sample.rows]
    assert sample.notes["cut"].endswith(
        "end within the first 65,536 decompressed bytes of block 1; the sample holds those"
    )
    snappy = _avro(records, codec="snappy", schema=schema, sync_interval=1 << 30)
    with pytest.raises(RefusedError, match="no record ends within the first 2,000,000 decompr"):
        _sample(tmp_path, snappy, 1_000, max_prefix_bytes=2_000_000)


def test_an_avro_file_is_staged_with_its_sample_columns_and_row_count(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
) -> None:
    records = [_trade(i) for i in range(30)]
    write_raw("env0/trades.avro", _avro(records, codec="snappy"), 1.0)
    (layout.root / "alchemy.toml").write_text("sample_rows = 7\n")
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 0
    _, kept = _read((layout.samples / "env0" / "trades_sample.avro").read_bytes())
    assert kept == records[:7]
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key, asset_partitions=["env0/trades.avro"]),
        limit=1,
    ).records[0]
    event = record.asset_materialization
    assert event is not None
    assert event.metadata["dagster/row_count"].value == 7
    columns = event.metadata["dagster/column_schema"].value.columns  # type: ignore[union-attr]
    assert [(c.name, c.type) for c in columns][:3] == [
        ("id", "long"),
        ("price", "decimal(10, 2)"),
        ("amount", "decimal(18, 4)"),
    ]
    entry = event.metadata["avro"].value
    assert isinstance(entry, dict) and entry["codec"] == "snappy"
