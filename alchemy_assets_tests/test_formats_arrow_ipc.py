import gzip
import io
import warnings
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pytest

from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.formats.arrow_ipc import ArrowReader
from alchemy_assets.formats.base import CERTAIN, NO, Options
from alchemy_assets.formats.compression import zstd
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.sampling import NotDataError, RefusedError, read_sample
from alchemy_assets_tests.conftest import RawWriter

# The first bytes of a zstd frame and of an LZ4 frame: how each buffer of a compressed batch
# starts (after its 8-byte length).
ZSTD_FRAME, LZ4_FRAME = b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"
CONTINUATION = b"\xff\xff\xff\xff"


def _table(rows: int) -> pa.Table:
    """Integers, text, a nested column and schema metadata, as pandas writes it."""
    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "name": pa.array([f"row {i}" for i in range(rows)], pa.string()),
            "tags": pa.array([[i, None] for i in range(rows)], pa.list_(pa.int32())),
        }
    )
    return table.replace_schema_metadata({"origin": "vendor export"})


def _random(rows: int) -> pa.Table:
    """Random doubles: about 16 bytes a row, compressed or not."""
    rng = np.random.default_rng(0)
    return pa.table({"id": np.arange(rows), "x": rng.random(rows)})


def _file(table: pa.Table, batch_rows: int = 100, **options: object) -> bytes:
    out = pa.BufferOutputStream()
    with ipc.new_file(out, table.schema, options=ipc.IpcWriteOptions(**options)) as writer:
        writer.write_table(table, max_chunksize=batch_rows)
    return bytes(out.getvalue().to_pybytes())


def _stream(table: pa.Table, batch_rows: int = 100, **options: object) -> bytes:
    out = pa.BufferOutputStream()
    with ipc.new_stream(out, table.schema, options=ipc.IpcWriteOptions(**options)) as writer:
        writer.write_table(table, max_chunksize=batch_rows)
    return bytes(out.getvalue().to_pybytes())


def _feather_v1(table: pa.Table) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pyarrow deprecates writing v1
        feather.write_feather(table.select(["id", "name"]), out, version=1)
    return out.getvalue()


def test_arrow_files_are_recognised_by_their_magic_and_streams_by_name_and_schema() -> None:
    reader = ArrowReader()
    stream = _stream(_table(3))
    assert reader.recognise(_file(_table(3))[:4096], "export.bin") == CERTAIN
    assert reader.recognise(_feather_v1(_table(3))[:4096], "frame.dat") == CERTAIN
    assert reader.recognise(stream[:4096], "events.arrows") == CERTAIN
    assert reader.recognise(stream[:4096], "events.bin") == NO  # a stream has no magic
    assert reader.recognise(b"id,name\n1,a\n", "events.arrows") == NO
    assert reader.recognise(b"ARROW1,FEA1\n1,2\n", "magic.csv") == NO


def test_an_ipc_file_sample_is_an_ipc_file_of_the_first_rows_written_as_the_file_was(
    tmp_path: Path,
) -> None:
    source = tmp_path / "export.arrow"
    table = _table(1000)
    source.write_bytes(_file(table, compression="zstd"))
    sample, content = read_sample(source, 150)
    written = ipc.open_file(pa.BufferReader(content))
    assert written.read_all().equals(table.slice(0, 150))
    assert ZSTD_FRAME in content  # its buffers are zstd frames, as the file's are
    assert [written.get_batch(i).num_rows for i in range(written.num_record_batches)] == [100, 50]
    assert written.schema.metadata == {b"origin": b"vendor export"}
    assert sample.kind == "arrow" and sample.rows == 150
    assert sample.schema == [("id", "int64"), ("name", "string"), ("tags", "list<item: int32>")]
    assert sample.contents.head[0] == ("0", "row 0", "[0, null]")
    assert sample.metadata["arrow"] == {
        "format": "file",
        "compression": "zstd",
        "batches_read": 2,
        "batches": 10,
        "metadata_version": "V5",
        "schema_metadata": {"origin": "vendor export"},
    }


def test_an_ipc_stream_sample_is_a_stream_in_the_legacy_format_if_the_file_is(
    tmp_path: Path,
) -> None:
    source = tmp_path / "events.arrows"
    table = _table(300)
    source.write_bytes(
        _stream(table, use_legacy_format=True, metadata_version=ipc.MetadataVersion.V4)
    )
    sample, content = read_sample(source, 7)
    assert not content.startswith(CONTINUATION)  # pre-0.15 framing, as the file's
    assert ipc.open_stream(content).read_all().equals(table.slice(0, 7))
    assert ipc.read_message(content).metadata_version == ipc.MetadataVersion.V4
    entry = sample.metadata["arrow"]
    assert isinstance(entry, dict)
    assert (entry["format"], entry["legacy_format"], entry["metadata_version"]) == (
        "stream",
        True,
        "V4",
    )


def test_a_feather_v2_file_is_sampled_as_feather_v2_with_its_lz4_buffers(tmp_path: Path) -> None:
    source = tmp_path / "frame.feather"
    out = io.BytesIO()
    feather.write_feather(_table(500), out)  # LZ4 by default
    source.write_bytes(out.getvalue())
    sample, content = read_sample(source, 7)
    assert content.startswith(b"ARROW1")
    assert feather.read_table(pa.BufferReader(content)).equals(_table(7))
    assert LZ4_FRAME in content
    assert sample.metadata["arrow"]["compression"] == "lz4"  # type: ignore[index,call-overload]


def test_a_feather_v1_file_within_the_read_cap_is_sampled_as_feather_v1(tmp_path: Path) -> None:
    source = tmp_path / "old.feather"
    source.write_bytes(_feather_v1(_table(200)))
    sample, content = read_sample(source, 7)
    assert content.startswith(b"FEA1") and content.endswith(b"FEA1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert feather.read_table(pa.BufferReader(content)).equals(
            _table(7).select(["id", "name"]).replace_schema_metadata(None)
        )
    assert sample.rows == 7 and sample.bytes_read == source.stat().st_size
    assert sample.metadata["arrow"]["format"] == "feather v1"  # type: ignore[index,call-overload]


def test_a_feather_v1_file_larger_than_the_read_cap_is_recognised_but_not_sampled(
    tmp_path: Path,
) -> None:
    source = tmp_path / "old.feather"
    source.write_bytes(_feather_v1(_table(2000)))
    size = source.stat().st_size
    with pytest.raises(
        NotDataError,
        match=rf"old\.feather: Feather v1 \(FEA1\) stores each column whole, not in batches: "
        rf"its first rows are read with the whole file, which is larger than the 1000 bytes "
        rf"a sample may read \({size} bytes\)",
    ):
        read_sample(source, 7, max_prefix_bytes=1000)


def test_a_file_with_fewer_rows_than_asked_is_sampled_whole(tmp_path: Path) -> None:
    source = tmp_path / "few.arrow"
    source.write_bytes(_file(_table(5)))
    sample, content = read_sample(source, 100)
    assert sample.rows == 5
    assert ipc.open_file(pa.BufferReader(content)).read_all().equals(_table(5))


def test_only_the_first_batch_of_a_large_ipc_file_is_read(tmp_path: Path) -> None:
    source = tmp_path / "big.arrow"
    source.write_bytes(_file(_random(400_000), batch_rows=50_000))
    first = ipc.open_file(source).get_batch(0).nbytes  # 800,000 bytes
    sample, content = read_sample(source, 100)
    assert sample.rows == 100 and first < sample.bytes_read < first + 10_000
    assert sample.bytes_read < source.stat().st_size / 4
    assert ipc.open_file(pa.BufferReader(content)).read_all().equals(_random(100))


def test_only_the_first_batches_of_a_large_ipc_stream_are_read(tmp_path: Path) -> None:
    source = tmp_path / "big.arrows"
    source.write_bytes(_stream(_random(400_000), batch_rows=50_000))
    sample, content = read_sample(source, 50_010)  # the first batch and 10 rows of the next
    assert sample.bytes_read < source.stat().st_size / 3
    written = ipc.open_stream(content)
    assert [b.num_rows for b in written] == [50_000, 10]
    assert sample.metadata["arrow"]["batches_read"] == 2  # type: ignore[index,call-overload]


def test_a_first_batch_larger_than_the_read_cap_is_refused_naming_it(tmp_path: Path) -> None:
    source = tmp_path / "big.arrow"
    source.write_bytes(_file(_random(400_000), batch_rows=50_000))
    with source.open("rb") as raw, pytest.raises(ValueError) as refused:
        ArrowReader().sample(raw, 100, max_bytes=100_000, options=Options(".arrow"))
    assert str(refused.value).startswith(
        "record batch 0 is too large to read: a read of 800192 bytes at offset 184 would "
        "pass the 100000 bytes a sample may read"
    )


@pytest.mark.parametrize("write", [_file, _stream], ids=["file", "stream"])
def test_an_arrow_file_without_rows_is_sampled_as_its_schema(tmp_path: Path, write: object) -> None:
    source = tmp_path / "empty.arrow"
    assert callable(write)
    source.write_bytes(write(_table(0)))
    sample, content = read_sample(source)
    assert sample.rows == 0 and sample.contents.head == ()
    assert sample.schema == [("id", "int64"), ("name", "string"), ("tags", "list<item: int32>")]
    assert content == write(_table(0))


def test_a_truncated_ipc_file_is_refused_clearly(tmp_path: Path) -> None:
    data = _file(_table(1000))
    source = tmp_path / "cut.arrow"
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        RefusedError,
        match=r"cut\.arrow: cannot read as arrow: ValueError: not a readable Arrow IPC file "
        r"\(truncated, or its footer is corrupt\): ",
    ):
        read_sample(source)


def test_a_stream_cut_inside_its_first_batch_is_refused_clearly(tmp_path: Path) -> None:
    source = tmp_path / "cut.arrows"
    source.write_bytes(_stream(_table(1000))[:500])
    with pytest.raises(
        RefusedError,
        match=r"cut\.arrows: cannot read as arrow: ValueError: record batch 0 of the Arrow IPC "
        r"stream \(after 0 rows\): Expected to read \d+ metadata bytes, but only read \d+",
    ):
        read_sample(source)


def test_a_corrupt_compressed_batch_is_refused_clearly(tmp_path: Path) -> None:
    data = bytearray(_file(_table(1000), compression="zstd"))
    frame = data.index(b"\x28\xb5\x2f\xfd")  # the first zstd frame: batch 0's first buffer
    data[frame + 10 : frame + 30] = b"\xff" * 20
    source = tmp_path / "bad.arrow"
    source.write_bytes(bytes(data))
    with pytest.raises(
        RefusedError,
        match=r"bad\.arrow: cannot read as arrow: ValueError: record batch 0 of the Arrow IPC "
        r"file: ZSTD decompression failed",
    ):
        read_sample(source)


def test_an_ipc_stream_inside_gzip_is_sampled_and_its_sample_gzipped(tmp_path: Path) -> None:
    source = tmp_path / "events.arrows.gz"
    stream = _stream(_random(200_000), batch_rows=25_000)
    source.write_bytes(gzip.compress(stream, compresslevel=1))
    sample, content = read_sample(source, 7)
    assert sample.compression == "gzip" and sample.rows == 7
    assert ipc.open_stream(gzip.decompress(content)).read_all().equals(_random(7))
    assert sample.bytes_read < source.stat().st_size / 3


def test_an_ipc_file_inside_zstd_is_read_as_the_stream_it_holds(tmp_path: Path) -> None:
    source = tmp_path / "export.arrow.zst"
    source.write_bytes(zstd.compress(_file(_table(1000))))
    sample, content = read_sample(source, 7)
    assert sample.compression == "zstd"
    written = ipc.open_file(pa.BufferReader(zstd.decompress(content)))
    assert written.read_all().equals(_table(7))
    entry = sample.metadata["arrow"]
    assert isinstance(entry, dict) and entry["format"] == "file"
    assert entry["not_kept"] == ["footer metadata: not read (the file was read as a stream)"]


def test_a_feather_file_is_staged_with_its_column_schema_and_row_count(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    out = io.BytesIO()
    feather.write_feather(_table(30), out)
    write_raw("env0/frame.feather", out.getvalue(), 1737200000.0)
    ingest(layout)
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/frame.feather"])
    result = defs.resolve_job_def(spec.job_name).execute_in_process(
        instance=instance, partition_key="env0/frame.feather"
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
    assert [(c.name, c.type) for c in schema.schema.columns] == [
        ("id", "int64"),
        ("name", "string"),
        ("tags", "list<item: int32>"),
    ]
    written = feather.read_table(layout.samples / "env0" / "frame_sample.feather")
    assert written.equals(_table(5))
