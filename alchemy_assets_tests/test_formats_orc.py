import datetime
import gzip
from decimal import Decimal
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.orc as po
import pytest

from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.formats.base import CERTAIN, NO, Options
from alchemy_assets.formats.orc import OrcReader, read_tail
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.sampling import NotDataError, RefusedError, read_sample
from alchemy_assets_tests.conftest import RawWriter
from alchemy_assets_tests.corpus import package_dir

ORC_DATA = package_dir("pyarrow") / "tests" / "data" / "orc"


def _orc(table: pa.Table, **options: object) -> bytes:
    out = pa.BufferOutputStream()
    po.write_table(table, out, **options)
    return bytes(out.getvalue().to_pybytes())


def _typed(rows: int) -> pa.Table:
    """A table of the types ORC has: decimals, timestamps, dates, binary, nested."""
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "price": pa.array([Decimal(i) / 100 for i in range(rows)], pa.decimal128(10, 2)),
            "at": pa.array([i * 1_000_000_007 for i in range(rows)], pa.timestamp("ns")),
            "day": pa.array([datetime.date(2026, 1, 1)] * rows, pa.date32()),
            "raw": pa.array([bytes([i % 256]) for i in range(rows)], pa.binary()),
            "tags": pa.array([[f"t{i}", None] for i in range(rows)], pa.list_(pa.string())),
            "point": pa.array(
                [{"x": i, "y": -i} for i in range(rows)],
                pa.struct([("x", pa.int32()), ("y", pa.int32())]),
            ),
            "attrs": pa.array([[("k", i)] for i in range(rows)], pa.map_(pa.string(), pa.int64())),
        }
    )


def _stripes(rows: int = 400_000) -> bytes:
    """A ZLIB file of about 3 MB in 3 stripes (random doubles compress badly)."""
    rng = np.random.default_rng(0)
    table = pa.table({"id": np.arange(rows), "x": rng.random(rows)})
    return _orc(table, compression="zlib", stripe_size=1 << 20)


def test_an_orc_file_is_recognised_by_its_magic_whatever_its_name() -> None:
    reader = OrcReader()
    assert reader.recognise(b"ORC\x0a\x05\x08\x00\x10\x00", "export.dat") == CERTAIN
    assert reader.recognise(b"ORC text", "t.orc") == CERTAIN  # named so: a corrupt ORC file
    assert reader.recognise(b"ORCID,name\n1,a\n", "people.csv") == NO
    assert reader.recognise(b"PAR1\x15\x04", "t.orc") == NO


def test_the_sample_is_an_orc_file_of_the_first_rows_with_the_same_schema_and_compression(
    tmp_path: Path,
) -> None:
    source = tmp_path / "hive.orc"
    table = _typed(500)
    source.write_bytes(_orc(table, compression="zstd"))
    sample, content = read_sample(source, 7)
    written = po.ORCFile(pa.BufferReader(content))
    assert written.compression == "ZSTD"
    assert written.read().equals(table.slice(0, 7))
    assert sample.kind == "orc" and sample.rows == 7
    assert sample.schema == [(f.name, str(f.type)) for f in table.schema]
    assert sample.contents.head[0][:4] == ("0", "0.00", "1970-01-01 00:00:00", "2026-01-01")
    entry = sample.metadata["orc"]
    assert isinstance(entry, dict)
    assert (entry["compression"], entry["stripes_read"], entry["stripes"]) == ("ZSTD", 1, 1)
    assert entry["file_rows"] == 500 and entry["writer"] == "ORC_CPP"
    assert entry["types"] == {
        "id": "bigint",
        "price": "decimal(10,2)",
        "at": "timestamp",
        "day": "date",
        "raw": "binary",
        "tags": "array<string>",
        "point": "struct<x:int,y:int>",
        "attrs": "map<string,bigint>",
    }


def test_a_file_with_fewer_rows_than_asked_is_sampled_whole(tmp_path: Path) -> None:
    source = tmp_path / "few.orc"
    source.write_bytes(_orc(_typed(5), compression="snappy"))
    sample, content = read_sample(source, 100)
    assert sample.rows == 5
    assert po.ORCFile(pa.BufferReader(content)).read().equals(_typed(5))


def test_only_the_first_stripe_and_the_tail_of_a_multi_stripe_file_are_read(
    tmp_path: Path,
) -> None:
    source = tmp_path / "big.orc"
    source.write_bytes(_stripes())
    stripes = read_tail(po.ORCFile(source).reader.serialized_file_tail()).stripes
    assert len(stripes) >= 3
    sample, _ = read_sample(source, 100)
    # The tail's 16 KiB, and a compression block of each stream of stripe 0.
    assert sample.bytes_read < stripes[0].length < source.stat().st_size / 2
    assert sample.metadata["orc"]["stripes_read"] == 1  # type: ignore[index,call-overload]


def test_rows_past_the_first_stripe_are_read_from_the_next_ones(tmp_path: Path) -> None:
    source = tmp_path / "big.orc"
    source.write_bytes(_stripes())
    stripes = read_tail(po.ORCFile(source).reader.serialized_file_tail()).stripes
    rows = stripes[0].rows + 10
    sample, content = read_sample(source, rows)
    assert po.ORCFile(pa.BufferReader(content)).read().equals(po.read_table(source)[:rows])
    entry = sample.metadata["orc"]
    assert isinstance(entry, dict) and (entry["stripes_read"], entry["stripes"]) == (2, 3)
    assert sample.bytes_read < source.stat().st_size


def test_a_stripe_whose_first_rows_take_more_than_the_read_cap_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    source = tmp_path / "big.orc"
    source.write_bytes(_stripes())
    stripes = read_tail(po.ORCFile(source).reader.serialized_file_tail()).stripes
    with source.open("rb") as raw, pytest.raises(ValueError) as refused:
        OrcReader().sample(raw, 100, max_bytes=40_000, options=Options(".orc"))
    assert str(refused.value).startswith(
        f"stripe 0 ({stripes[0].length} bytes at offset 3, {stripes[0].rows} rows): reading "
        "its first rows takes more than the 40000 bytes a sample may read (a read of "
    )


def test_a_truncated_orc_file_is_refused_clearly(tmp_path: Path) -> None:
    data = _orc(_typed(50), compression="zlib")
    source = tmp_path / "cut.orc"
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        RefusedError,
        match=r"cut\.orc: cannot read as orc: ValueError: not a readable ORC file \(truncated, "
        r"or its tail is corrupt\): ",
    ):
        read_sample(source)


def test_corrupt_stripe_data_is_refused_clearly(tmp_path: Path) -> None:
    table = pa.table({"id": np.arange(2000), "s": [f"row {i}" for i in range(2000)]})
    data = bytearray(_orc(table, compression="zlib"))
    data[200:208] = b"\xff" * 8  # inside the first compressed stream of stripe 0
    source = tmp_path / "bad.orc"
    source.write_bytes(bytes(data))
    with pytest.raises(
        RefusedError, match=r"bad\.orc: cannot read as orc: ValueError: corrupt ORC stripe data, "
    ):
        read_sample(source)


def test_an_empty_orc_file_is_sampled_as_its_schema(tmp_path: Path) -> None:
    source = tmp_path / "empty.orc"
    source.write_bytes((ORC_DATA / "TestOrcFile.emptyFile.orc").read_bytes())
    sample, content = read_sample(source)
    assert sample.rows == 0 and sample.contents.head == ()
    assert po.ORCFile(pa.BufferReader(content)).schema == po.ORCFile(source).schema
    assert sample.metadata["orc"]["stripes_read"] == 0  # type: ignore[index,call-overload]


def test_what_the_sample_cannot_keep_of_the_file_is_said(tmp_path: Path) -> None:
    # ORC Java's file: a compression block of 10,000 bytes, which pyarrow cannot write.
    source = tmp_path / "test1.orc"
    source.write_bytes((ORC_DATA / "TestOrcFile.test1.orc").read_bytes())
    sample, _ = read_sample(source)
    entry = sample.metadata["orc"]
    assert isinstance(entry, dict)
    assert (entry["writer_version"], entry["software_version"]) == ("HIVE_8732", "ORC Java")
    assert entry["not_kept"] == [
        "writer: the sample's is pyarrow's ORC C++ writer (the file's: ORC Java, HIVE_8732)",
        "stripe size: the sample's stripes are pyarrow's (64 MiB)",
        "compression block size 10000: pyarrow writes multiples of 65536 only; 65536",
    ]
    assert entry["user_metadata"] == {}


def test_an_orc_file_is_staged_with_its_column_schema_and_row_count(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/hive.orc", _orc(_typed(30), compression="zlib"), 1737200000.0)
    ingest(layout)
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/hive.orc"])
    result = defs.resolve_job_def(spec.job_name).execute_in_process(
        instance=instance, partition_key="env0/hive.orc"
    )
    assert result.success
    (event,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == spec.sample_key
    ]
    assert event.metadata["dagster/row_count"] == dg.MetadataValue.int(5)  # the spec's N
    schema = event.metadata["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchemaMetadataValue)
    assert [(c.name, c.type) for c in schema.schema.columns][:3] == [
        ("id", "int64"),
        ("price", "decimal128(10, 2)"),
        ("at", "timestamp[ns]"),
    ]
    written = po.read_table(layout.samples / "env0" / "hive_sample.orc")
    assert written.equals(_typed(30).slice(0, 5))


def test_a_tail_larger_than_the_read_cap_is_refused_saying_so(tmp_path: Path) -> None:
    source = tmp_path / "big.orc"
    source.write_bytes(_stripes())
    with source.open("rb") as raw, pytest.raises(ValueError) as refused:
        OrcReader().sample(raw, 100, max_bytes=100, options=Options(".orc"))
    assert str(refused.value).startswith("the ORC file's tail is too large to read: a read of ")


def test_an_orc_file_inside_gzip_is_not_sampled_saying_why(tmp_path: Path) -> None:
    source = tmp_path / "hive.orc.gz"
    source.write_bytes(gzip.compress(_orc(_typed(20))))
    with pytest.raises(
        NotDataError,
        match=r"hive\.orc\.gz: .*orc inside gzip: not sampled \(orc is read by seeking in the "
        r"file, not as a stream\)",
    ):
        read_sample(source)
