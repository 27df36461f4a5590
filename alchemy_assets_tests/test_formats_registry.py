import pytest

from alchemy_assets.formats.registry import Kind, UnknownFormatError, detect_format


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
