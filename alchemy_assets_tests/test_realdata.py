"""Real files that no one here wrote, end to end: every file of the corpus (``corpus.py``) is
ingested and staged by ``alchemy`` at N = 100 and at N = 7, and every sample, with the row
count and column names recorded for it, is compared with what an independent reader (the
csv and json modules, pyarrow) makes of the file's first N records. A file may be refused
only where that reader refuses it too."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import posixpath
import re
import shutil
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import fastavro
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.lookup import latest_records
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.formats.base import HEAD_ROWS, display
from alchemy_assets.formats.compression import zstd
from alchemy_assets.formats.delimited import dialect_of
from alchemy_assets.formats.dialect import Dialect
from alchemy_assets.formats.records import CHUNK
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets.sampling import NotDataError, Sample, SampleError, read_sample
from alchemy_assets.schema_drift import recorded_name
from alchemy_assets_tests import container_corpus
from alchemy_assets_tests.conftest import FIGURES, REPORTS
from alchemy_assets_tests.corpus import (
    KINDS,
    PACKAGES,
    REAL_KINDS,
    CorpusFile,
    build_corpus,
    package_dir,
)
from alchemy_assets_tests.dialect_corpus import CASES, Case

# One dataset per sample size, each holding the whole corpus under raw/env0/. The second
# records only the sample events (half the stored events: the test stays well under 90 s).
DATASETS = {100: DatasetId("corpus", "rows100", "1"), 7: DatasetId("corpus", "rows7", "1")}
OPTIONS = {100: "", 7: "bronze_events = false\nasset_checks = false\n"}
ENV = "env0"
BOM = b"\xef\xbb\xbf"
_FORMATS = {"csv": "csv", "tsv": "tsv", "tab": "tsv", "jsonl": "jsonl", "ndjson": "jsonl"}


@dataclass
class Reference:
    """What an independent reader makes of the first N records of a file: the bytes through
    the last of them (text formats), their values, the row count and the header's names."""

    refusal: str | None = None
    lenient: bool = False  # refused only by the strict csv reader: a lenient sample passes too
    content: bytes = b""
    values: list[Any] = field(default_factory=list)
    row_count: int = 0
    columns: list[str] = field(default_factory=list)
    table: pa.Table | None = None
    dialect: Dialect = field(default_factory=Dialect)


def _csv_prefix(
    data: bytes, rows: int, dialect: Dialect, *, strict: bool
) -> tuple[int, list[list[str]]]:
    """The length of the prefix through the preamble, the header and ``rows`` records, and
    those records: the csv module reads lines one by one and each non-empty row ends after the
    lines consumed. Without delimiter: the non-blank lines."""
    consumed = 0
    stream = io.StringIO(data.decode("latin-1"), newline="")
    for _ in range(dialect.preamble_lines):
        consumed += len(stream.readline())

    def lines() -> Iterator[str]:
        nonlocal consumed
        for line in stream:
            consumed += len(line)
            yield line

    want = rows + 1 if dialect.header else rows
    found: list[list[str]] = []
    end = 0
    if dialect.delimiter is None:
        for line in lines():
            if line.strip():
                found.append([line.rstrip("\r\n")])
                end = consumed
                if len(found) >= want:
                    break
        return end, found
    reader = csv.reader(
        lines(),
        delimiter=dialect.delimiter,
        quotechar=dialect.quotechar or '"',
        quoting=csv.QUOTE_MINIMAL if dialect.quotechar else csv.QUOTE_NONE,
        escapechar=dialect.escapechar,
        doublequote=dialect.doublequote,
        strict=strict,
    )
    for row in reader:
        if row:
            found.append(row)
            end = consumed
            if len(found) >= want:
                break
    return end, found


def _column_name(value: str, first: bool) -> str:
    raw = value.encode("latin-1")
    if first and raw.startswith(BOM):
        raw = raw[len(BOM) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def csv_reference(data: bytes, rows: int, dialect: Dialect) -> Reference:
    """The header and first ``rows`` records as Python's csv module reads them in
    ``dialect``."""
    try:
        end, found = _csv_prefix(data, rows, dialect, strict=True)
        refusal, lenient = None, False
    except csv.Error as err:
        refusal = f"csv module (strict): {err}"
        if "unexpected end of data" in str(err):  # an unterminated quote: refused, no sample
            return Reference(refusal=refusal)
        try:
            end, found = _csv_prefix(data, rows, dialect, strict=False)
        except csv.Error as lenient_err:
            return Reference(refusal=f"csv module: {lenient_err}")
        lenient = True
    if dialect.delimiter is None:
        names = ["line"] if found else []
    elif dialect.header:
        names = [_column_name(v, i == 0) for i, v in enumerate(found[0] if found else [])]
    else:
        names = [f"column_{i + 1}" for i in range(len(found[0]) if found else 0)]
    return Reference(
        refusal=refusal,
        lenient=lenient,
        content=data[:end],
        values=found,
        row_count=max(len(found) - 1, 0) if dialect.header else len(found),
        columns=names,
        dialect=dialect,
    )


def reference_dialect(data: bytes, extension: str) -> Dialect:
    """The dialect staging detects from the first 64 KiB of ``data`` (the whole content): the
    dialect the reference reads with. Whether detection is right is checked on the dialect
    corpus, whose true dialects are stated (``dialect_corpus.py``)."""
    return dialect_of(data[:CHUNK], eof=len(data) < CHUNK, extension=extension)


def jsonl_reference(data: bytes, rows: int) -> Reference:
    """The first ``rows`` records: lines ending at LF, CRLF or CR, whitespace-only ones skipped."""
    kept: list[bytes] = []
    end = position = 0
    for line in data.splitlines(keepends=True):
        position += len(line)
        if not line.strip():
            continue
        if len(kept) == rows:
            break
        kept.append(line)
        end = position
    try:
        values = [json.loads(line) for line in kept]
    except ValueError as err:
        return Reference(refusal=f"json: {err}")
    keys = dict.fromkeys(k for v in values if isinstance(v, dict) for k in v)
    return Reference(content=data[:end], values=values, row_count=len(values), columns=list(keys))


def parquet_reference(path: Path, rows: int) -> Reference:
    """``pq.read_table(path).slice(0, rows)``."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        return Reference(refusal=f"pyarrow: {err}")
    return Reference(
        table=table.slice(0, rows).combine_chunks(),
        row_count=min(rows, table.num_rows),
        columns=list(table.schema.names),
    )


def file_format(relpath: str) -> tuple[str, bool]:
    """(``csv`` | ``tsv`` | ``jsonl`` | ``parquet``, gzip-compressed) of a corpus file."""
    name = relpath.lower()
    compressed = name.endswith(".gz")
    ext = name.removesuffix(".gz").rsplit(".", 1)[1]
    return ("parquet" if ext in ("parquet", "pq") else _FORMATS[ext]), compressed


def reference(path: Path, relpath: str, rows: int) -> Reference:
    fmt, compressed = file_format(relpath)
    if fmt == "parquet":
        return parquet_reference(path, rows)
    data = path.read_bytes()
    if compressed:
        data = gzip.decompress(data)
    if fmt == "jsonl":
        return jsonl_reference(data, rows)
    return csv_reference(data, rows, reference_dialect(data, f".{fmt}"))


def sample_path(layout: DatasetLayout, relpath: str) -> Path:
    """``samples/env0/<folder>/<stem>_sample<ext>``, as DESIGN.md lays it out."""
    folder, _, name = relpath.rpartition("/")
    lower = name.lower()
    cut = 2 if lower.endswith(".gz") and lower.count(".") >= 2 else 1
    stem, *exts = name.rsplit(".", cut)
    return layout.samples / ENV / folder / f"{stem}_sample.{'.'.join(exts)}"


def _clip(value: object, width: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _first_difference(got: bytes, want: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    at = min(len(got), len(want)) if at is None else at
    start = max(0, at - 15)
    return (
        f"{len(got)} bytes, expected {len(want)}; first difference at byte {at}: "
        f"expected {want[start : at + 25]!r}, got {got[start : at + 25]!r}"
    )


def _bytes_class(got: bytes, want: bytes) -> str:
    def lf(data: bytes) -> bytes:
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    if want.startswith(BOM) and not got.startswith(BOM):
        return "bytes differ: BOM dropped"
    if lf(got) == lf(want):
        return "bytes differ: line endings rewritten"
    if want.startswith(got):
        return "bytes differ: sample ends early"
    if got.startswith(want):
        return "bytes differ: sample runs past the last kept record"
    return "bytes differ: rewritten"


def _list_difference(got: list[Any], want: list[Any]) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    if at is None:
        return f"{len(got)} items, expected {len(want)}"
    return (
        f"item {at} of {len(want)}: expected {_clip(want[at])}, got {_clip(got[at])}"
        f"{'' if len(got) == len(want) else f' ({len(got)} items)'}"
    )


def _sample_values(data: bytes, fmt: str, dialect: Dialect) -> list[Any]:
    if fmt == "jsonl":
        return [json.loads(line) for line in data.splitlines() if line.strip()]
    _, found = _csv_prefix(data, len(data) + 1, dialect, strict=False)
    return found


def check_text(path: Path, relpath: str, ref: Reference) -> list[tuple[str, str]]:
    """What differs between a text sample and the reference's bytes and values."""
    fmt, compressed = file_format(relpath)
    data = path.read_bytes()
    if compressed:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            return [("sample is not gzip", str(err))]
    problems = []
    if data != ref.content:
        problems.append((_bytes_class(data, ref.content), _first_difference(data, ref.content)))
    try:
        values = _sample_values(data, fmt, ref.dialect)
    except (ValueError, csv.Error) as err:
        return [*problems, ("values differ", f"sample unreadable: {err}")]
    if values != ref.values:
        problems.append(("values differ", _list_difference(values, ref.values)))
    return problems


def check_parquet(path: Path, ref: Reference) -> list[tuple[str, str]]:
    """What differs between a Parquet sample and ``read_table(source).slice(0, N)``."""
    assert ref.table is not None
    try:
        got = pq.read_table(path).combine_chunks()
    except (pa.ArrowException, OSError) as err:
        return [("sample unreadable as parquet", str(err))]
    want = ref.table
    problems = []
    if not got.schema.equals(want.schema):
        problems.append(("parquet schema differs", f"expected {want.schema}, got {got.schema}"))
    elif not got.equals(want):
        problems.append(("parquet values differ", f"{got.num_rows} rows, expected {want.num_rows}"))
    if got.schema.metadata != want.schema.metadata:
        keys = sorted(set(want.schema.metadata or {}) ^ set(got.schema.metadata or {}))
        problems.append(("parquet schema metadata differs", f"keys differing: {keys}"))
    return problems


def check_metadata(record: dg.EventLogRecord | None, ref: Reference) -> list[tuple[str, str]]:
    """What differs between the recorded row count and column names and the reference's."""
    event = record.asset_materialization if record else None
    if event is None:
        return [("no materialization recorded", "")]
    problems = []
    count = event.metadata.get("dagster/row_count")
    recorded = count.value if isinstance(count, dg.IntMetadataValue) else None
    if recorded != ref.row_count:
        problems.append(("row_count", f"recorded {recorded!r}, expected {ref.row_count}"))
    schema = event.metadata.get("dagster/column_schema")
    names = (
        [column.name for column in schema.schema.columns]
        if isinstance(schema, dg.TableSchemaMetadataValue)
        else None
    )
    # A wide file's schema is recorded in part (its first columns), with the count of all.
    total = event.metadata.get("columns")
    # ... and a name over MAX_NAME_CHARS characters cut and told apart by a hash.
    listed = [recorded_name(name) for name in ref.columns]
    listed = listed if names is None else listed[: len(names)]
    if names is None or names != listed:
        detail = "none recorded" if names is None else _list_difference(names, listed)
        problems.append(("column names", detail))
    elif len(names) < len(ref.columns) and "column_schema_note" not in event.metadata:
        problems.append(("column names", f"{len(names)} of {len(ref.columns)}, unsaid"))
    if not isinstance(total, dg.IntMetadataValue) or total.value != len(ref.columns):
        problems.append(("column count", f"recorded {total!r}, expected {len(ref.columns)}"))
    return problems


@dataclass(frozen=True)
class Failure:
    """A sample (or a count) that is not what the contract says."""

    rows: int
    where: str
    kind: str
    what: str
    detail: str

    def __str__(self) -> str:
        return f"N={self.rows} {self.where} [{self.kind}] {self.what}: {self.detail}"


def _stage_failures(stderr: str) -> dict[str, str]:
    """The ``  FAILED key: reason`` lines that ``alchemy stage`` printed."""
    failed = {}
    for line in stderr.splitlines():
        if line.startswith("  FAILED "):
            key, _, reason = line[len("  FAILED ") :].partition(": ")
            failed[key] = reason
    return failed


def _status_failures(
    rows: int, doc: dict[str, Any], total: int, refused: int, stage_line: str
) -> list[Failure]:
    expected = {
        "files": total,
        "partitions": total,
        "sampled": total - refused,
        "up_to_date": total - refused,
        "stale": 0,
        "unsampled": refused,
        "failed": refused,
    }
    got = {key: doc.get(key) for key in expected}
    out = []
    if got != expected:
        out.append(Failure(rows, "alchemy status --json", "-", "counts", f"{got} != {expected}"))
    summary = (
        f"{doc.get('dataset')}: {total} new partitions, {total - refused} sampled, "
        f"0 unchanged, {refused} failed, 0 quarantined lines"
    )
    if stage_line != summary:
        out.append(Failure(rows, "alchemy stage", "-", "summary", f"{stage_line!r}"))
    return out


def _table(files: list[CorpusFile], outcomes: dict[tuple[int, str], str]) -> list[str]:
    """Per kind: files, and at each N how many passed and how many both refused."""
    sizes = sorted(DATASETS, reverse=True)
    columns = "".join(f"  pass@{n:<3}  refused@{n:<3}" for n in sizes)
    lines = [f"{'kind':<26}{'files':>6}{columns}  (refused: by sampler and reference alike)"]
    kinds = sorted({f.kind for f in files}, key=lambda k: (k not in REAL_KINDS, k))
    for kind in [*kinds, "total"]:
        chosen = [f for f in files if kind in (f.kind, "total")]
        cells = ""
        for n in sizes:
            results = Counter(outcomes[(n, f.relpath)] for f in chosen)
            cells += f"  {results['pass']:>8}  {results['refused by both']:>11}"
        lines.append(f"{kind:<26}{len(chosen):>6}{cells}")
    return lines


def test_the_corpus_holds_100_real_files_of_every_package_and_every_kind(tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path / "corpus")
    real = [f for f in corpus.files if f.kind in REAL_KINDS]
    assert len(real) >= 100
    assert sorted(set(KINDS) - {f.kind for f in corpus.files}) == []
    assert sorted({f.origin.split("/")[0] for f in real}) == sorted(PACKAGES)
    again = build_corpus(tmp_path / "again")
    assert again.files == corpus.files
    for f in corpus.files:
        assert (tmp_path / "corpus" / f.relpath).read_bytes() == (
            (tmp_path / "again" / f.relpath).read_bytes()
        ), f.relpath


def test_every_real_file_is_sampled_as_an_independent_reader_reads_its_first_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = build_corpus(tmp_path / "corpus")
    fp_prefix = tmp_path / "fp"
    layouts = {}
    for rows, dataset_id in DATASETS.items():
        layout = DatasetLayout.under(fp_prefix, dataset_id)
        layout.ensure()
        shutil.copytree(tmp_path / "corpus", layout.raw / ENV)
        (layout.root / "alchemy.toml").write_text(f"sample_rows = {rows}\n{OPTIONS[rows]}")
        layouts[rows] = layout
    root = ["--root", str(fp_prefix)]
    home = tmp_path / "dagster_home"
    home.mkdir()
    failures: list[Failure] = []
    outcomes: dict[tuple[int, str], str] = {}
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        assert main(["ingest", *map(str, DATASETS.values()), *root]) == 0
        capsys.readouterr()
        refusals, summaries = {}, {}
        for rows, dataset_id in DATASETS.items():
            main(["stage", str(dataset_id), *root])
            out, err = capsys.readouterr()
            refusals[rows] = _stage_failures(err)
            summaries[rows] = out.strip().splitlines()[-1] if out.strip() else ""
        assert main(["status", "--json", *root]) == 0
        status = {d["dataset"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}

        for rows, layout in layouts.items():
            spec = DatasetSpec(layout.dataset_id)
            keys = [f"{ENV}/{f.relpath}" for f in corpus.files]
            records = latest_records(instance, spec.sample_key, keys)
            refused = refusals[rows]
            failures += _status_failures(
                rows, status[str(layout.dataset_id)], len(keys), len(refused), summaries[rows]
            )
            for f in corpus.files:
                key = f"{ENV}/{f.relpath}"
                ref = reference(layout.raw / key, f.relpath, rows)
                problems = _compare(layout, f, key, ref, refused, records.get(key))
                for what, detail in problems:
                    failures.append(Failure(rows, key, f.kind, what, detail))
                if problems:
                    outcomes[(rows, f.relpath)] = "fail"
                else:
                    outcomes[(rows, f.relpath)] = "refused by both" if key in refused else "pass"

    REPORTS["real-data corpus: samples against independent readers"] = _table(
        corpus.files, outcomes
    )
    by_class = Counter(f.what for f in failures)
    if by_class:
        REPORTS["real-data corpus: failures by class"] = [
            f"{what}: {count}" for what, count in by_class.most_common()
        ]
    FIGURES["real-data corpus files"] = len(corpus.files)
    FIGURES["real-data samples checked"] = len(outcomes)
    if failures:  # every difference, not pytest's truncated assertion message
        lines = sorted(failures, key=lambda f: (f.what, f.kind, f.where, f.rows))
        pytest.fail(
            f"{len(failures)} differences from the reference readers:\n"
            + "\n".join(str(f) for f in lines),
            pytrace=False,
        )


def _compare(
    layout: DatasetLayout,
    f: CorpusFile,
    key: str,
    ref: Reference,
    refused: dict[str, str],
    record: dg.EventLogRecord | None,
) -> list[tuple[str, str]]:
    """What is wrong with one file's outcome: its refusal, or its sample and metadata."""
    path = sample_path(layout, f.relpath)
    if key in refused:
        if ref.refusal is None:
            return [("refused, but the reference reads it", refused[key])]
        if path.exists():
            return [("refused, but a sample file exists", str(path))]
        return []
    if ref.refusal is not None and not ref.lenient:
        return [("sampled, but the reference refuses it", ref.refusal)]
    if not path.exists():
        return [("no sample file", str(path))]
    if ref.table is not None:
        problems = check_parquet(path, ref)
    else:
        problems = check_text(path, f.relpath, ref)
    return problems + check_metadata(record, ref)


# --- the dialect corpus: real delimited files of every dialect ------------------------------


def _true_records(data: bytes, d: Dialect) -> tuple[list[str], list[list[str]]]:
    """The column names and records of ``data`` as an independent reader makes them, given
    the true dialect ``d``: pandas (every field as text, nothing taken as missing), or, for
    text read as lines, its non-blank lines."""
    if d.delimiter is None:
        text = data.decode(d.encoding).removeprefix("\ufeff")
        lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
        return ["line"], [[line] for line in lines]
    frame = pd.read_csv(
        io.BytesIO(data),
        sep=d.delimiter,
        quotechar=d.quotechar or '"',
        quoting=csv.QUOTE_MINIMAL if d.quotechar else csv.QUOTE_NONE,
        escapechar=d.escapechar,
        doublequote=d.doublequote,
        # pandas takes the byte order mark of UTF-16 and UTF-32 from the file itself.
        encoding=d.encoding[:6] if d.encoding.startswith(("utf-16", "utf-32")) else d.encoding,
        skiprows=d.preamble_lines,
        header=None,  # names taken as written below: pandas would rename repeated ones
        dtype=str,
        keep_default_na=False,
        engine="python" if d.delimiter in "^\x01" else "c",
    )
    rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    if d.header:
        return rows[0], rows[1:]
    return [f"column_{i + 1}" for i in range(frame.shape[1])], rows


def _case_file(tmp_path: Path, case: Case, data: bytes, suffix: str = "") -> Path:
    # Named after the case, keeping the extension: the census READMEs would otherwise be
    # documentation by their name (test_sampling: a README is not data).
    ext = posixpath.splitext(case.path)[1]
    path = tmp_path / f"{case.name}{ext}{suffix}"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("rows", [100, 7])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_dialect_corpus_file_is_sampled_as_pandas_reads_the_whole_file_in_its_dialect(
    tmp_path: Path, case: Case, rows: int
) -> None:
    data = case.data()
    d = case.dialect
    names, records = _true_records(data, d)
    sample, content = read_sample(_case_file(tmp_path, case, data), rows)
    assert sample.kind == "delimited"
    got = sample.metadata["dialect"]
    assert got == {**d.to_dict(), "source": "detected"}
    assert [name for name, _ in sample.schema] == names
    assert sample.rows == min(rows, len(records))
    assert data.startswith(content)  # the file's own bytes, through its last kept record
    sample_names, sample_records = _true_records(content, d)
    assert sample_names == names
    assert sample_records == records[:rows]
    assert [list(r) for r in sample.contents.head] == [
        r + [""] * (len(names) - len(r)) for r in records[: min(rows, HEAD_ROWS)]
    ]


COMPRESSED_CASES = ("pipe-nrc-events", "semicolon-quoted-newline-istat", "utf16-tab-unicode-text")
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": zstd.compress,
}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
@pytest.mark.parametrize("name", COMPRESSED_CASES)
def test_a_compressed_real_file_keeps_its_records_in_its_compression(
    tmp_path: Path, name: str, suffix: str
) -> None:
    # No real file of the corpus is shipped compressed: these are compressed here, at test time.
    case = next(c for c in CASES if c.name == name)
    data = case.data()
    plain, plain_content = read_sample(_case_file(tmp_path, case, data), 7)
    sample, content = read_sample(_case_file(tmp_path, case, COMPRESSORS[suffix](data), suffix), 7)
    assert sample.compression == {".gz": "gzip", ".zst": "zstd"}.get(suffix, suffix[1:])
    assert decompress(content, suffix) == plain_content
    assert (sample.rows, sample.schema, sample.metadata) == (
        plain.rows,
        plain.schema,
        plain.metadata,
    )
    _, records = _true_records(data, case.dialect)
    assert _true_records(plain_content, case.dialect)[1] == records[:7]


def decompress(data: bytes, suffix: str) -> bytes:
    return {
        ".gz": gzip.decompress,
        ".bz2": bz2.decompress,
        ".xz": lzma.decompress,
        ".zst": zstd.decompress,
    }[suffix](data)


# The container kinds: each compared with an independent reader of the whole original
# (``container_corpus.py``). A comparer gets the original file, the sample's bytes, what the
# sample says it holds and N; it returns what differs (nothing: the sample is right).
Comparer = Callable[[Path, bytes, Sample, int], list[str]]
_JSON_WS = re.compile(r"[ \t\r\n]*")


def _json_records(case: container_corpus.Case, whole: Any) -> tuple[str | None, list[Any]]:
    """Where a JSON document's records are, read from the parsed whole: the document that is
    an array, else the key configured, else the first key whose value is an array of
    objects; else the document is one record."""
    if isinstance(whole, list):
        return None, whole
    path = case.options.records if case.options else None
    if path is None and isinstance(whole, dict):
        path = next(
            (k for k, v in whole.items() if isinstance(v, list) and v and isinstance(v[0], dict)),
            None,
        )
    if path is None:
        return None, [whole]
    value = whole
    for key in path.split("."):
        value = value[key]
    return path, value


def _json_end(text: str, path: str | None, count: int) -> int:
    """Where the ``count``-th element of the records' array ends in ``text``, as the json
    module's decoder finds it (``raw_decode``), walking the keys of ``path`` to it."""
    decoder = json.JSONDecoder()
    pos = _JSON_WS.match(text).end()  # type: ignore[union-attr]  # matches ""
    for key in path.split(".") if path else []:
        pos = _JSON_WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        while True:
            name, pos = decoder.raw_decode(text, pos)
            pos = _JSON_WS.match(text, text.index(":", pos) + 1).end()  # type: ignore[union-attr]
            if name == key:
                break
            _, pos = decoder.raw_decode(text, pos)
            pos = _JSON_WS.match(text, text.index(",", pos) + 1).end()  # type: ignore[union-attr]
    pos = _JSON_WS.match(text, pos + 1).end()  # type: ignore[union-attr]  # after the "["
    end = pos
    for _ in range(count):
        _, end = decoder.raw_decode(text, pos)
        pos = _JSON_WS.match(text, end).end()  # type: ignore[union-attr]
        if text[pos] == ",":
            pos = _JSON_WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    return end


def _compare_json(original: Path, content: bytes, sample: Sample, rows: int) -> list[str]:
    """A JSON document sampled as the json module reads the whole original: the same records'
    place (metadata ``json``), the first min(N, records) records, their keys as the columns,
    and the sample the original's own bytes through the last of them, then only the
    brackets that close it."""
    case = next(c for c in container_corpus.JSON_CASES if c.file_name == original.name)
    data = original.read_bytes()
    problems: list[str] = []
    if original.name.endswith(".gz"):
        data, content = gzip.decompress(data), gzip.decompress(content)
        if sample.compression != "gzip":
            problems.append(f"compression {sample.compression}, the original's gzip")
    text = data.decode("utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:  # more than one value: one a line
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        path, expected, layout = None, lines[:rows], "json lines"
        got = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        if not data.startswith(content) or got != expected:
            problems.append("the sample is not the original's first lines")
    else:
        path, records = _json_records(case, whole)
        expected = records[:rows]
        layout = "array" if isinstance(whole, list) else ("object" if path else "value")
        parsed = json.loads(content)
        kept = [parsed] if layout == "value" else _json_records(case, parsed)[1]
        if kept != expected:
            problems.append("the sample's records differ from the original's first records")
        end = len(text) if layout == "value" else _json_end(text, path, len(expected))
        cut = len(text[:end].encode())
        if content[:cut] != data[:cut] or content[cut:].strip(b" \t\r\n]}"):
            problems.append(f"the sample is not the original's bytes through byte {cut}, closed")
    entry = sample.metadata["json"]
    assert isinstance(entry, dict)
    if (entry["layout"], entry["records"]) != (layout, path):
        problems.append(f"metadata json {entry} says other than {layout}, {path}")
    if sample.rows != len(expected):
        problems.append(f"{sample.rows} rows, the original's first records are {len(expected)}")
    objects = [r if isinstance(r, dict) else {"value": r} for r in expected]
    names = list(dict.fromkeys(k for r in objects for k in r))
    if [name for name, _ in sample.schema] != names:
        problems.append(f"columns {sample.schema}, the records' keys {names}")
    return problems


def _recorded_dialect(recorded: object) -> Dialect:
    """A dialect as the metadata records it (``Dialect.to_dict``)."""
    assert isinstance(recorded, dict)
    return Dialect(
        recorded["delimiter"],
        recorded["quotechar"],
        recorded["escapechar"],
        recorded["escapechar"] is None,
        bool(recorded["header"]),
        int(recorded["preamble_lines"]),
        str(recorded["encoding"]),
    )


def _compare_zip(original: Path, content: bytes, sample: Sample, rows: int) -> list[str]:
    """A zip's sample against zipfile's reading of the whole original: every member listed
    in order; the members sampled, and only they, in the sample under the same names, in the
    same order, by the same method; a delimited member's sample its own first bytes through
    the header and first min(N, records) records as the csv module reads the whole member in
    the dialect recorded for it (its rows and header names the sample's); any other member's
    sample the same as the sample of that member alone (its format has its own comparer), and
    a member not sampled not sampled alone either."""
    summary = sample.metadata["zip"]
    assert isinstance(summary, dict) and isinstance(summary["listed"], list)
    entries = [e for e in summary["listed"] if isinstance(e, dict)]
    listed = {str(e["name"]): e for e in entries}
    problems: list[str] = []
    names: list[str] = []
    total = 0
    with zipfile.ZipFile(original) as whole, zipfile.ZipFile(io.BytesIO(content)) as got:
        files = [info for info in whole.infolist() if not info.is_dir()]
        if [info.filename for info in files] != list(listed):
            problems.append(f"members listed {list(listed)}, in the archive {whole.namelist()}")
        sampled = [info for info in files if "rows" in listed.get(info.filename, {})]
        if got.namelist() != [info.filename for info in sampled]:
            problems.append(
                f"sample members {got.namelist()}, sampled {[i.filename for i in sampled]}"
            )
            return problems
        for index, info in enumerate(files):
            entry, data = listed[info.filename], whole.read(info)
            alone = original.parent / f"member{index}" / posixpath.basename(info.filename)
            alone.parent.mkdir()
            alone.write_bytes(data)
            if info not in sampled:
                with pytest.raises(NotDataError if "not_data" in entry else SampleError):
                    read_sample(alone, rows)
                continue
            kept = got.read(info.filename)
            if got.getinfo(info.filename).compress_type != info.compress_type:
                problems.append(f"{info.filename}: not compressed by its method")
            if entry["kind"] != "delimited":
                alone_sample, alone_content = read_sample(alone, rows)
                if (kept, entry["rows"]) != (alone_content, alone_sample.rows):
                    problems.append(f"{info.filename}: not its sample alone")
                names += [f"{info.filename}:{name}" for name, _ in alone_sample.schema]
                total += alone_sample.rows
                continue
            dialect = _recorded_dialect(entry["dialect"])
            end, records = _csv_prefix(data, rows, dialect, strict=False)
            if kept != data[:end]:
                problems.append(f"{info.filename}: not its first {end} bytes")
            kept_rows = len(records) - dialect.header
            if entry["rows"] != kept_rows:
                problems.append(
                    f"{info.filename}: {entry['rows']} rows, the csv module {kept_rows}"
                )
            total += kept_rows
            if dialect.delimiter is None:
                header = ["line"]
            elif dialect.header and records:
                header = [_column_name(v, i == 0) for i, v in enumerate(records[0])]
            else:
                header = [f"column_{i + 1}" for i in range(len(records[0]) if records else 0)]
            names += [f"{info.filename}:{name}" for name in header]
    if [name for name, _ in sample.schema] != names:
        problems.append(f"columns {sample.schema}, the members' {names}")
    if sample.rows != total:
        problems.append(f"{sample.rows} rows, the members {total}")
    return problems


def compare_avro(original: Path, content: bytes, sample: Sample, rows: int) -> list[str]:
    """fastavro reading the whole original and the sample: the same header (schema parsed,
    codec, all metadata), the sample's records the original's first min(N, records) ones,
    its columns the record's fields."""
    with original.open("rb") as file:
        whole = fastavro.reader(file)
        records = list(whole)
    taken = fastavro.reader(io.BytesIO(content))
    kept = list(taken)
    differs = []
    if taken.writer_schema != whole.writer_schema:
        differs.append(f"schema: {taken.writer_schema} != {whole.writer_schema}")
    if (taken.codec, taken.metadata) != (whole.codec, whole.metadata):
        differs.append(f"header: {taken.codec} {taken.metadata} != {whole.codec} {whole.metadata}")
    if kept != records[:rows]:
        differs.append(f"records: {kept[:3]}... != {records[:3]}...")
    if sample.rows != len(kept) or len(kept) != min(rows, len(records)):
        differs.append(f"rows: {sample.rows} said, {len(kept)} kept, of {len(records)}")
    schema = json.loads(whole.metadata["avro.schema"])
    record = isinstance(schema, dict) and schema.get("type") in ("record", "error")
    names = [f["name"] for f in schema["fields"]] if record else ["value"]
    if [name for name, _ in sample.schema] != names:
        differs.append(f"columns: {sample.schema} != {names}")
    entry = sample.metadata["avro"]
    if not isinstance(entry, dict) or entry.get("codec") != whole.codec:
        differs.append(f"avro entry: {entry}, codec {whole.codec}")
    return differs


def _sheet_rows(sheet: object, rows: int) -> list[dict[int, tuple[str, Any]]]:
    """A sheet's header and first ``rows`` records as openpyxl reads the whole workbook: its
    rows with a value (empty text is none), each as its cells' (type, value) by column."""
    if not isinstance(sheet, Worksheet):
        return []  # a chartsheet: no cells
    taken: list[dict[int, tuple[str, Any]]] = []
    for row in sheet.iter_rows():
        cells = {
            c.column: (type(c.value).__name__, c.value) for c in row if c.value not in ("", None)
        }
        if cells:
            taken.append(cells)
        if len(taken) > rows:
            break
    return taken


def compare_xlsx(original: Path, content: bytes, sample: Sample, rows: int) -> list[str]:
    """openpyxl's full load of the whole original (cached values) against the sample: the
    same sheets in order, each with the same state, header and first records, typed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns of the extensions it does not keep
        whole = openpyxl.load_workbook(original, data_only=True)
        taken = openpyxl.load_workbook(io.BytesIO(content), data_only=True)
    problems: list[str] = []
    if taken.sheetnames != whole.sheetnames:
        return [f"sheets {taken.sheetnames} != {whole.sheetnames}"]
    columns: list[str] = []
    records = 0
    for name in whole.sheetnames:
        expected = _sheet_rows(whole[name], rows)
        if _sheet_rows(taken[name], rows) != expected:
            problems.append(f"sheet {name!r}: its first rows differ")
        if taken[name].sheet_state != whole[name].sheet_state:
            problems.append(
                f"sheet {name!r}: {taken[name].sheet_state} != {whole[name].sheet_state}"
            )
        records += max(len(expected) - 1, 0)
        width = max((max(cells) for cells in expected), default=0)
        header = expected[0] if expected else {}
        columns += [f"{name}!{display(header.get(c, ('', None))[1])}" for c in range(1, width + 1)]
    if sample.rows != records:
        problems.append(f"rows {sample.rows} != {records}")
    if [name for name, _ in sample.schema] != columns:
        problems.append(f"columns {sample.schema} != {columns}")
    return problems


COMPARERS: dict[str, Comparer] = {
    "json": _compare_json,
    "zip": _compare_zip,
    "avro": compare_avro,
    "xlsx": compare_xlsx,
}


@pytest.mark.parametrize("rows", [100, 7])
@pytest.mark.parametrize(
    "case", container_corpus.CASES, ids=[c.name for c in container_corpus.CASES]
)
def test_each_real_container_file_is_sampled_as_an_independent_reader_reads_the_whole_file(
    tmp_path: Path, case: container_corpus.Case, rows: int
) -> None:
    original = tmp_path / case.file_name
    original.write_bytes(case.data())
    sample, content = read_sample(original, rows, format_options=case.options)
    assert sample.kind == case.kind
    assert COMPARERS[case.kind](original, content, sample, rows) == []


# --- ORC and Arrow IPC: pyarrow.orc / pyarrow.ipc of the whole original, and for ORC also
# the Apache ORC project's own JSON rendering of each of its files (``.jsn.gz`` beside it).


def _first(table: pa.Table, rows: int) -> pa.Table:
    return table.slice(0, min(rows, table.num_rows))


def _described(sample: Sample, want: pa.Table) -> list[str]:
    problems = []
    if sample.rows != want.num_rows:
        problems.append(f"row count {sample.rows}, expected {want.num_rows}")
    columns = [(f.name, str(f.type)) for f in want.schema]
    if sample.schema != columns:
        problems.append(f"columns {sample.schema}, expected {columns}")
    return problems


def _as_json(value: Any) -> Any:
    """A value read by pyarrow as the ORC project's JSON renders it."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):  # a map
            return [{"key": _as_json(k), "value": _as_json(v)} for k, v in value]
        return [_as_json(v) for v in value]
    if isinstance(value, bytes):
        return list(value)
    if hasattr(value, "hour") and hasattr(value, "isoformat"):  # a timestamp
        text: str = value.isoformat(sep=" ")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if hasattr(value, "isoformat"):  # a date
        return value.isoformat()
    return value


def _orc_json(original: Path) -> list[dict[str, Any]] | None:
    """The ``.jsn.gz`` rendering shipped beside a corpus ORC file, if there is one."""
    case = next(c for c in container_corpus.ORC_CASES if c.file_name == original.name)
    if case.derive:
        return None
    rendering = package_dir("pyarrow") / case.path.partition("/")[2]
    rendering = rendering.with_name(rendering.name.removesuffix(".orc") + ".jsn.gz")
    if not rendering.is_file():
        return None
    lines = gzip.decompress(rendering.read_bytes()).decode().splitlines()
    return [json.loads(line, parse_float=Decimal) for line in lines if line.strip()]


def compare_orc(original: Path, content: bytes, sample: Sample, rows: int) -> list[str]:
    """The sample against pyarrow.orc's reading of the whole original (and the ORC project's
    JSON of it): same schema, same compression, the same first min(N, rows) rows."""
    import pyarrow.orc as po

    whole = po.ORCFile(original)
    want = _first(whole.read(), rows)
    written = po.ORCFile(pa.BufferReader(content))
    got = written.read()
    problems = _described(sample, want)
    if got.schema != want.schema:
        problems.append(f"schema {got.schema}, expected {want.schema}")
    elif not got.equals(want):
        problems.append("values differ from pyarrow.orc's first rows")
    if written.compression != whole.compression:
        problems.append(f"compression {written.compression}, expected {whole.compression}")
    entry = sample.metadata.get("orc")
    if not isinstance(entry, dict) or entry.get("compression") != whole.compression:
        problems.append(f"orc metadata {entry}")
    rendering = _orc_json(original)
    if rendering is not None:
        expected = rendering[: min(rows, len(rendering))]
        shown = [_as_json(row) for row in got.to_pylist()]
        if shown != expected:
            problems.append("values differ from the ORC project's JSON of the file")
    return problems


def _ipc_codec(data: bytes, start: int) -> str | None:
    """The codec of the first (dictionary) batch of the IPC stream at ``start``, from the
    message headers pyarrow's MessageReader frames."""
    from alchemy_assets.formats.arrow_ipc import DICTIONARY_BATCH, RECORD_BATCH, message_header

    reader = pa.ipc.MessageReader.open_stream(pa.BufferReader(data[start:]))
    for message in reader:
        header = message_header(bytes(message.metadata))
        if header.kind in (DICTIONARY_BATCH, RECORD_BATCH):
            return header.codec
    return None


def compare_arrow(original: Path, content: bytes, sample: Sample, rows: int) -> list[str]:
    """The sample against pyarrow's reading of the whole original (pyarrow.ipc, or
    pyarrow.feather for Feather v1): same format, schema and metadata, same compression, the
    same first min(N, rows) rows in the same batches."""
    import warnings

    import pyarrow.feather

    data = original.read_bytes()
    problems: list[str] = []
    if data.startswith(b"FEA1"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            want = _first(pyarrow.feather.read_table(original), rows)
            got = pyarrow.feather.read_table(pa.BufferReader(content))
        if not content.startswith(b"FEA1"):
            problems.append("the sample of a Feather v1 file is not Feather v1")
        batches, got_batches = [want.num_rows], [got.num_rows]
    else:
        is_file = data.startswith(b"ARROW1")
        if content.startswith(b"ARROW1") != is_file:
            problems.append("the sample is not in the original's IPC format (file or stream)")
        opened = pa.ipc.open_file if is_file else pa.ipc.open_stream
        whole, back = opened(pa.BufferReader(data)), opened(pa.BufferReader(content))
        full = whole.read_all()
        want, got = _first(full, rows), back.read_all()
        if is_file and whole.metadata != back.metadata:
            problems.append(f"footer metadata {back.metadata}, expected {whole.metadata}")
        lengths = [b.num_rows for b in full.to_batches()]
        batches, taken = [], 0
        for length in lengths:
            if taken >= want.num_rows:
                break
            batches.append(min(length, want.num_rows - taken))
            taken += batches[-1]
        got_batches = [b.num_rows for b in got.to_batches()]
        start = 8 if is_file else 0
        codec, expected_codec = _ipc_codec(content, start), _ipc_codec(data, start)
        if codec != expected_codec:
            problems.append(f"compression {codec}, expected {expected_codec}")
    problems += _described(sample, want)
    if got.schema != want.schema or got.schema.metadata != want.schema.metadata:
        problems.append(f"schema {got.schema}, expected {want.schema}")
    elif not got.equals(want):
        problems.append("values differ from the original's first rows")
    if got_batches != batches:
        problems.append(f"batches of {got_batches} rows, expected {batches}")
    return problems


COMPARERS["orc"] = compare_orc
COMPARERS["arrow"] = compare_arrow
