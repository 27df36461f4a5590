import errno

import pyarrow as pa

from alchemy_assets.sample_errors import BYTES, RefusedError, SampleError, classify

EIO = OSError(errno.EIO, "Input/output error")


def test_an_os_error_of_a_reader_is_a_refusal_unless_the_files_own_read_failed() -> None:
    # What pyarrow raises for a corrupt footer: an OSError, about the bytes.
    thrift = OSError("Couldn't deserialize thrift: No more data to read.")
    parquet = "parquet"
    refused = classify(thrift, "d.parquet", parquet, read_failure=None, bytes_read=20)
    assert isinstance(refused, RefusedError) and refused.because == BYTES
    assert str(refused) == "d.parquet: cannot read as parquet: " + str(thrift)
    failed = classify(thrift, "d.parquet", parquet, read_failure=EIO, bytes_read=20)
    assert type(failed) is SampleError
    assert str(failed) == "d.parquet: cannot read after 20 bytes: [Errno 5] Input/output error"


def test_running_out_of_memory_is_no_refusal() -> None:
    err = pa.ArrowMemoryError("malloc of size 1073741824 failed")
    failed = classify(err, "d.parquet", "parquet", read_failure=None, bytes_read=0)
    assert type(failed) is SampleError
    assert str(failed) == (
        "d.parquet: out of memory while reading: ArrowMemoryError: malloc of size 1073741824 failed"
    )


def test_a_reader_s_surprise_on_the_content_is_a_refusal_naming_the_format() -> None:
    err = KeyError("column")
    refused = classify(err, "d.jsonl", "jsonl", read_failure=None, bytes_read=9)
    assert isinstance(refused, RefusedError)
    assert str(refused) == "d.jsonl: cannot read as jsonl: KeyError: 'column'"
