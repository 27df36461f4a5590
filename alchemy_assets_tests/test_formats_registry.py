import bz2
import gzip
import io
import lzma

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alchemy_assets.formats.compression import compression_of, zstd
from alchemy_assets.formats.registry import Detected, NotData, confirm_inside, detect

CSV = b"id,name\n1,a\n2,b\n"


def _parquet() -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2]}), out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "kind", "extension", "data_extension"),
    [
        ("data.csv", "delimited", ".csv", ".csv"),
        ("DATA.CSV", "delimited", ".CSV", ".csv"),
        ("data.tsv", "delimited", ".tsv", ".tsv"),
        ("data.tab", "delimited", ".tab", ".tab"),
        ("gics.txt", "delimited", ".txt", ".txt"),
        ("gics.dat", "delimited", ".dat", ".dat"),
        ("gics.psv", "delimited", ".psv", ".psv"),
        ("events.jsonl", "jsonl", ".jsonl", ".jsonl"),
        ("events.ndjson", "jsonl", ".ndjson", ".ndjson"),
        ("v1.2.data.csv", "delimited", ".csv", ".csv"),
    ],
)
def test_text_is_judged_by_its_name_once_its_content_says_it_is_text(
    name: str, kind: str, extension: str, data_extension: str
) -> None:
    assert detect(CSV, name) == Detected(kind, None, extension, data_extension)


@pytest.mark.parametrize(
    ("compress", "compression", "suffix"),
    [
        (lambda d: gzip.compress(d), "gzip", ".gz"),
        (bz2.compress, "bz2", ".bz2"),
        (lambda d: lzma.compress(d, format=lzma.FORMAT_XZ), "xz", ".xz"),
        (zstd.compress, "zstd", ".zst"),
    ],
)
@pytest.mark.parametrize("data_extension", [".csv", ".tsv", ".txt", ".dat", ".psv", ".jsonl"])
def test_each_text_name_is_taken_in_each_compression_known_by_its_magic_bytes(
    compress: object, compression: str, suffix: str, data_extension: str
) -> None:
    assert callable(compress)
    head = compress(CSV)[:64]
    found = detect(head, f"d{data_extension}{suffix}")
    kind = "jsonl" if data_extension == ".jsonl" else "delimited"
    assert found == Detected(kind, compression, f"{data_extension}{suffix}", data_extension)
    compressor = compression_of(head)
    assert compressor is not None and compressor.name == compression


def test_content_beats_the_name() -> None:
    assert detect(_parquet()[:4096], "d.csv") == Detected("parquet", None, ".csv", ".csv")
    assert detect(gzip.compress(CSV), "gics.txt") == Detected("delimited", "gzip", ".txt", ".txt")
    # A .gz name whose content is plain text is sampled as the text it is.
    assert detect(CSV, "d.csv.gz") == Detected("delimited", None, ".csv.gz", ".csv")
    # A bz2 stream named .gz is bz2.
    assert detect(bz2.compress(CSV), "d.csv.gz") == Detected("delimited", "bz2", ".csv.gz", ".csv")


@pytest.mark.parametrize(
    ("head", "name", "kind"),
    [
        (b"ORC\x0a\x05\x08\x00\x10\x00", "t.csv", "orc"),
        (b"Obj\x01\x04\x16avro.schema", "t.avro", "avro"),
        (b"ARROW1\x00\x00\xff\xff\xff\xff", "t.feather", "arrow"),
        (b"PK\x03\x04\x14\x00\x00\x00", "t.zip", "zip"),
        (b"PK\x03\x04\x14\x00\x00\x00", "book.xlsx", "xlsx"),
    ],
)
def test_formats_without_a_reader_yet_are_named(head: bytes, name: str, kind: str) -> None:
    found = detect(head, name)
    assert isinstance(found, Detected) and found.kind == kind


def test_a_text_file_that_starts_like_a_magic_is_still_text() -> None:
    assert detect(b"ORCID,name\n1,a\n", "people.csv") == Detected("delimited", None, ".csv", ".csv")
    assert detect(b"PAR1,PAR2\n1,2\n", "p.csv") == Detected("delimited", None, ".csv", ".csv")
    assert detect(b"BZh,x\n1,2\n", "b.csv.bz2") == Detected("delimited", None, ".csv.bz2", ".csv")
    # Unless the name agrees: then it is a (corrupt) file of that format.
    assert detect(b"PAR1 not really", "t.parquet") == Detected(
        "parquet", None, ".parquet", ".parquet"
    )
    assert detect(b"ORC text", "t.orc") == Detected("orc", None, ".orc", ".orc")


@pytest.mark.parametrize(
    ("head", "name", "kind", "reason"),
    [
        (b"%PDF-1.7\n%\xe2\xe3", "report.csv", "pdf", "a PDF document, not a data file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "chart.txt", "png", "a PNG image, not a data file"),
        (b"\x00\x01\x02id,name", "d.csv", "binary", "binary data (it holds NUL bytes)"),
        (CSV, "notes.xyz", "text", "unknown format '.xyz'; samples are taken of .arrow, .arrows,"),
        (CSV, "data", "text", "unknown format '(no extension)'"),
        (CSV, "d.parquet", "text", "named '.parquet', but its first bytes b'id,name\\n' are not"),
        # mtime=0: the header's time is in the test's id, which both xdist workers must agree on.
        (
            gzip.compress(CSV, mtime=0),
            "d.gz",
            "gzip",
            "gzip-compressed, and its name ('.gz') says no",
        ),
        (
            gzip.compress(_parquet(), mtime=0),
            "d.parquet.gz",
            "gzip",
            "parquet inside gzip: not sampled",
        ),
    ],
)
def test_what_is_not_data_says_what_it_is(head: bytes, name: str, kind: str, reason: str) -> None:
    found = detect(head, name)
    assert isinstance(found, NotData)
    assert found.kind == kind
    assert reason in found.reason


def test_a_compressed_files_inner_format_is_confirmed_by_its_decompressed_bytes() -> None:
    outer = detect(gzip.compress(CSV), "d.csv.gz")
    assert isinstance(outer, Detected)
    assert confirm_inside(outer, CSV) == outer
    assert confirm_inside(outer, b"%PDF-1.4") == NotData(
        "pdf in gzip", "inside the gzip stream: a PDF document, not a data file (named '.csv')"
    )
    assert confirm_inside(outer, _parquet()[:64]) == NotData(
        "parquet in gzip", "parquet inside the gzip stream: not sampled"
    )
    assert confirm_inside(outer, gzip.compress(CSV)) == NotData(
        "gzip in gzip", "a gzip stream inside the gzip stream: not sampled"
    )


def test_utf16_text_with_a_byte_order_mark_is_text_not_binary() -> None:
    assert detect("a\tb\n".encode("utf-16"), "excel.txt") == Detected(
        "delimited", None, ".txt", ".txt"
    )


@pytest.mark.parametrize(
    "name",
    [
        "README.txt",
        "readme",
        "bronze/2026/01/18/143000--README.txt",
        "LICENSE",
        "License.md",
        "NOTICE.txt",
        "CHANGELOG.rst",
        "changes.txt",
        "COPYING",
        "AUTHORS.txt",
        "notes.md",
        "spec.HTML",
        "layout.htm",
        "manual.doc",
        "manual.docx",
        "file_layout.pdf",
        "README.txt.gz",
    ],
)
def test_documentation_is_not_data_by_its_name_whatever_it_holds(name: str) -> None:
    found = detect(CSV, name)
    assert isinstance(found, NotData)
    assert found.kind == "documentation"
    assert found.reason.endswith("documentation, not a data file")


@pytest.mark.parametrize("name", ["authors.csv", "changes_2026.csv", "notices.jsonl", "gics.txt"])
def test_a_documentation_word_in_the_name_of_a_data_format_is_still_data(name: str) -> None:
    assert isinstance(detect(CSV, name), Detected)


def test_a_configured_kind_beats_the_name_and_keeps_the_compression() -> None:
    line = b'{"a": 1}\n'
    assert detect(line, "events.log", kind="jsonl") == Detected(
        "jsonl", None, ".log", ".log", configured=True
    )
    found = detect(gzip.compress(line), "events.log.gz", kind="jsonl")
    assert found == Detected("jsonl", "gzip", ".log.gz", ".log", configured=True)
    assert confirm_inside(found, line) == found
