import pytest

from alchemy_assets.file_formats import (
    Kind,
    UnknownFormatError,
    detect_format,
    sample_relpath,
    split_extension,
)


@pytest.mark.parametrize(
    ("name", "kind", "gz", "ext"),
    [
        ("data.csv", Kind.CSV, False, ".csv"),
        ("DATA.CSV", Kind.CSV, False, ".CSV"),
        ("data.tsv", Kind.TSV, False, ".tsv"),
        ("data.csv.gz", Kind.CSV, True, ".csv.gz"),
        ("data.tsv.gz", Kind.TSV, True, ".tsv.gz"),
        ("events.jsonl", Kind.JSONL, False, ".jsonl"),
        ("events.ndjson.gz", Kind.JSONL, True, ".ndjson.gz"),
        ("file.parquet", Kind.PARQUET, False, ".parquet"),
        ("v1.2.file.parquet", Kind.PARQUET, False, ".parquet"),
    ],
)
def test_the_format_is_read_from_the_name(name: str, kind: Kind, gz: bool, ext: str) -> None:
    fmt = detect_format(name)
    assert (fmt.kind, fmt.gzip, fmt.extension) == (kind, gz, ext)


@pytest.mark.parametrize("name", ["notes.txt", "archive.tar.gz", "file.parquet.gz", "README"])
def test_an_unknown_format_is_refused_by_name(name: str) -> None:
    with pytest.raises(UnknownFormatError, match=f"{name}: unknown format"):
        detect_format(name)


def test_split_extension_keeps_the_compression_suffix() -> None:
    assert split_extension("data.csv.gz") == ("data", ".csv.gz")
    assert split_extension("data.csv") == ("data", ".csv")
    assert split_extension("archive.gz") == ("archive", ".gz")


def test_the_sample_path_keeps_env_and_sub_folders() -> None:
    assert sample_relpath("raw/env0/data.csv") == "samples/env0/data_sample.csv"
    assert sample_relpath("raw/env1/data.csv") == "samples/env1/data_sample.csv"
    assert sample_relpath("raw/env0/a/b/x.csv.gz") == "samples/env0/a/b/x_sample.csv.gz"
    with pytest.raises(ValueError, match="is not under raw/"):
        sample_relpath("bronze/x.csv")


def test_a_sample_name_too_long_for_the_file_system_is_shortened_uniquely() -> None:
    long_a, long_b = "é" * 124 + "a.csv", "é" * 124 + "b.csv"
    a, b = sample_relpath(f"raw/env0/{long_a}"), sample_relpath(f"raw/env0/{long_b}")
    name_a = a.rsplit("/", 1)[1]
    assert a != b and name_a.endswith("_sample.csv") and "~" in name_a
    assert len(name_a.encode()) <= 255
    assert sample_relpath("raw/env0/short.csv") == "samples/env0/short_sample.csv"
