"""Real files of the container kinds that no one on this project wrote: JSON documents, Avro,
ORC, Arrow IPC / Feather, Excel workbooks and zip archives.

Each ships inside a PyPI package: in an installed wheel (pyarrow's test data, say) or in a
release archive (a source distribution or a wheel) that ``make install`` puts in
``.venv/realdata-sdists`` (``python -m alchemy_assets_tests.container_corpus download``:
pinned versions, fetched from the package index and checked against the index's SHA-256, as
pip does); never downloaded at test time. Where no shipped file of a kind exists, a real file
is converted with the format's own library, and its entry says how (``derive``).

``test_realdata.py`` samples each file and compares the sample with an independent reader of
the whole original. ``python -m alchemy_assets_tests.container_corpus`` prints the corpus as
a Markdown table.
"""

from __future__ import annotations

import hashlib
import html.parser
import io
import json
import sys
import tarfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alchemy_assets.format_options import FormatOptions
from alchemy_assets_tests.corpus import package_dir

ARCHIVE_DIR = Path(sys.prefix) / "realdata-sdists"
INDEX = "https://pypi.org/simple"

# Release archives the corpus takes files from: package -> (version, file name on the index).
ARCHIVES: dict[str, tuple[str, str]] = {
    # JSON documents of csvkit's and agate's examples (their sdists hold the dialect corpus too).
    "csvkit": ("2.2.0", "csvkit-2.2.0.tar.gz"),
    "agate": ("1.14.2", "agate-1.14.2.tar.gz"),
    # Also in the dialect corpus (dialect_corpus.SDISTS): one download serves both.
    "frictionless": ("5.21.0", "frictionless-5.21.0.tar.gz"),
    # Avro container files written by Apache Avro (Java, Python) and fastavro: its tests.
    "fastavro": ("1.13.1", "fastavro-1.13.1.tar.gz"),
    # Excel workbooks (XLSX_CASES): the test data of two xlsx readers' source archives.
    "python-calamine": ("0.9.1", "python_calamine-0.9.1.tar.gz"),
    "xlsx2csv": ("0.8.6", "xlsx2csv-0.8.6.tar.gz"),
    # An Arrow IPC file written by R's arrow package (pins-python's compatibility tests).
    "pins": ("0.9.2", "pins-0.9.2-py2.py3-none-any.whl"),
}


class ContainerCorpusError(RuntimeError):
    """A package of the corpus is missing, or lacks a file the corpus names."""


@dataclass(frozen=True)
class Case:
    """One file: its reader's ``kind``, where it comes from (``package``, and ``path`` inside
    the installed wheel, starting with the package's import name, or inside the archive of
    :data:`ARCHIVES`, under its top folder), what it shows and, for a conversion, how it was
    made (``derive``: a key of :data:`DERIVES`); ``options``: what is configured for it, where
    detection alone does not sample it as shown."""

    name: str
    kind: str
    package: str
    path: str
    shows: str
    derive: str | None = None
    options: FormatOptions | None = None

    @property
    def version(self) -> str:
        if self.package in ARCHIVES:
            return ARCHIVES[self.package][0]
        from importlib.metadata import version

        return version(self.package)

    @property
    def file_name(self) -> str:
        """The name the file is delivered under (its own, or its conversion's)."""
        name = self.path.rsplit("/", 1)[-1]
        rename = DERIVED_NAMES.get(self.derive) if self.derive else None
        return rename(name) if rename else name

    def data(self) -> bytes:
        """The file's bytes (converted, if ``derive`` says so)."""
        raw = _archive_file(self) if self.package in ARCHIVES else _wheel_file(self.path)
        return DERIVES[self.derive](raw) if self.derive else raw


# Conversions of real files, where no shipped file of a kind exists: name -> bytes -> bytes,
# and the name the converted file gets.
DERIVES: dict[str, Callable[[bytes], bytes]] = {}
DERIVED_NAMES: dict[str, Callable[[str], str]] = {}


# ORC and Arrow IPC: the ORC files shipped (pyarrow's, from the Apache ORC project) show
# neither Snappy nor LZ4, and of the Arrow formats only two IPC files ship (pyarrow's Feather
# v2, R's through pins): no stream, no legacy stream, no zstd, no Feather v1. Those are
# converted, with pyarrow, from real files (CSV read by pyarrow.csv, or pyarrow's ORC files).
def _csv_table(data: bytes) -> Any:
    import pyarrow.csv

    return pyarrow.csv.read_csv(io.BytesIO(data))


def _to_orc(compression: str) -> Callable[[bytes], bytes]:
    def convert(data: bytes) -> bytes:
        import pyarrow as pa
        import pyarrow.orc

        out = pa.BufferOutputStream()
        pyarrow.orc.write_table(_csv_table(data), out, compression=compression)
        return bytes(out.getvalue().to_pybytes())

    return convert


def _to_ipc(
    *, stream: bool, chunk: int, compression: str | None = None, legacy: bool = False
) -> Callable[[bytes], bytes]:
    def convert(data: bytes) -> bytes:
        import pyarrow as pa
        import pyarrow.ipc
        import pyarrow.orc

        if data.startswith(b"ORC"):
            table = pyarrow.orc.read_table(pa.BufferReader(data))
        else:
            table = _csv_table(data)
            if not stream:  # the airports' state and country, as pandas' categoricals are
                for name in ("state", "country"):
                    index = table.schema.get_field_index(name)
                    if index >= 0:
                        table = table.set_column(
                            index, name, table.column(name).dictionary_encode()
                        )
        options = pyarrow.ipc.IpcWriteOptions(
            compression=compression,
            use_legacy_format=legacy,
            metadata_version=pyarrow.ipc.MetadataVersion.V4
            if legacy
            else pyarrow.ipc.MetadataVersion.V5,
        )
        out = pa.BufferOutputStream()
        new = pyarrow.ipc.new_stream if stream else pyarrow.ipc.new_file
        with new(out, table.schema, options=options) as writer:
            writer.write_table(table, max_chunksize=chunk)
        return bytes(out.getvalue().to_pybytes())

    return convert


def _to_feather_v1(data: bytes) -> bytes:
    import warnings

    import pyarrow.feather

    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pyarrow deprecates v1 (25.0)
        pyarrow.feather.write_feather(_csv_table(data), out, version=1)
    return out.getvalue()


DERIVES |= {
    "pyarrow.orc.write_table(pyarrow.csv.read_csv(f), compression='snappy')": _to_orc("snappy"),
    "pyarrow.orc.write_table(pyarrow.csv.read_csv(f), compression='lz4')": _to_orc("lz4"),
    "IPC stream (new_stream), 50-row batches": _to_ipc(stream=True, chunk=50),
    "legacy IPC stream (use_legacy_format, V4), 1-row batches": _to_ipc(
        stream=True, chunk=1, legacy=True
    ),
    "IPC file (new_file), zstd, 1000-row batches": _to_ipc(
        stream=False, chunk=1000, compression="zstd"
    ),
    "Feather v2 (IPC file), uncompressed, dictionary-encoded state and country": _to_ipc(
        stream=False, chunk=1 << 20
    ),
    "pyarrow.feather.write_feather(version=1)": _to_feather_v1,
}
DERIVED_NAMES |= {
    "pyarrow.orc.write_table(pyarrow.csv.read_csv(f), compression='snappy')": lambda n: n.replace(
        ".csv", ".snappy.orc"
    ),
    "pyarrow.orc.write_table(pyarrow.csv.read_csv(f), compression='lz4')": lambda n: n.replace(
        ".csv", ".lz4.orc"
    ),
    "IPC stream (new_stream), 50-row batches": lambda n: n.replace(".csv", ".arrows"),
    "legacy IPC stream (use_legacy_format, V4), 1-row batches": lambda n: n.replace(
        ".orc", ".legacy.arrows"
    ),
    "IPC file (new_file), zstd, 1000-row batches": lambda n: n.replace(".orc", ".zstd.arrow"),
    "Feather v2 (IPC file), uncompressed, dictionary-encoded state and country": lambda n: (
        n.replace(".csv", ".feather")
    ),
    "pyarrow.feather.write_feather(version=1)": lambda n: n.replace(".csv", ".v1.feather"),
}

# The corpus, a tuple per kind (each kind's reader has its own).
_VEGA = "vega_datasets/_data"
_OPENML = "sklearn/datasets/tests/data/openml"
JSON_CASES: tuple[Case, ...] = (
    Case(
        "json-cars-vega",
        "json",
        "vega_datasets",
        f"{_VEGA}/cars.json",
        "array of 406 objects, pretty-printed (3-space indent, one key a line), nulls",
    ),
    Case(
        "json-barley-vega",
        "json",
        "vega_datasets",
        f"{_VEGA}/barley.json",
        "array of 120 objects, one a line without indent (`[{...},` on the first)",
    ),
    Case(
        "json-test-agate",
        "json",
        "agate",
        "examples/test.json",
        "array of 3 objects, fewer than N: the whole file; non-ASCII (👍)",
    ),
    Case(
        "json-mixed-agate",
        "json",
        "agate",
        "examples/test_mixed.json",
        "array of objects whose keys differ (columns: their union), a null",
    ),
    Case(
        "json-geojson-csvkit",
        "json",
        "csvkit",
        "examples/test_geojson.json",
        'GeoJSON `{"type": ..., "features": [...]}`: records under the key after another; '
        "tab indent, `}, {` between elements, nested geometry",
    ),
    Case(
        "json-tableset-agate",
        "json",
        "agate",
        "examples/test_tableset.json",
        "object of three arrays: the first (`table1`) holds the records, the others are left out",
    ),
    Case(
        "json-studentized-scipy",
        "json",
        "scipy",
        "scipy/stats/tests/data/studentized_range_mpmath_ref.json",
        '`{"COMMENT": ..., "moment_data": [...], "cdf_data": ...}`: a key before the records '
        "and large arrays after them",
    ),
    Case(
        "json-influence-statsmodels",
        "json",
        "statsmodels",
        "statsmodels/stats/tests/results/influence_lsdiag_R.json",
        "one line, an object of number arrays (no array of objects): one record",
    ),
    Case(
        "json-openml-features-sklearn",
        "json",
        "scikit-learn",
        f"{_OPENML}/id_1119/api-v1-jdf-1119.json.gz",
        'OpenML API response, gzip, minified on one line: `{"data_features": {"feature": '
        "[...]}}`: records two keys deep",
        options=FormatOptions(records="data_features.feature"),
    ),
    Case(
        "json-lines-agate",
        "json",
        "agate",
        "examples/test_newline.json",
        "JSON Lines named `.json` (one object a line, non-ASCII, nulls): sampled as JSON Lines",
    ),
)
_FASTAVRO = "tests/avro-files"
AVRO_CASES: tuple[Case, ...] = (
    Case(
        "avro-weather",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/weather.avro",
        "Apache Avro's weather file: a namespaced record, codec null",
    ),
    Case(
        "avro-weather-snappy",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/weather-snappy.avro",
        "codec snappy (each block with its CRC-32), a record with a doc",
    ),
    Case(
        "avro-weather-sorted",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/weather-sorted.avro",
        'codec deflate, a field with `"order": "ignore"`',
    ),
    Case(
        "avro-deflate-blocks",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/test-deflate-1-A.avro",
        "24 deflate blocks of 400 records: N = 100 takes 6 of them",
    ),
    Case(
        "avro-uuid",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/java-generated-uuid.avro",
        "written by Java: a `uuid` logical type, 151 records in one block",
    ),
    Case(
        "avro-triple-pair",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/a_triple_pair.avro",
        "nested records and an enum, a named type used twice",
    ),
    Case(
        "avro-recursive",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/recursive.avro",
        "a recursive record (a linked list): a union of itself and null",
    ),
    Case(
        "avro-nullable",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/m.avro",
        'a `["null", "string"]` union',
    ),
    Case(
        "avro-bytes",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/deflate.avro",
        "a schema that is not a record (`bytes`), codec deflate",
    ),
    Case(
        "avro-header-only",
        "avro",
        "fastavro",
        f"{_FASTAVRO}/testDataFileMeta.avro",
        "no records (a header only), user metadata `hello`",
    ),
)
FR = "frictionless"
ZIP_CASES: tuple[Case, ...] = (
    Case("zip-stored-one-csv", "zip", FR, "data/table.csv.zip", "one stored CSV member, UTF-8"),
    Case(
        "zip-data-descriptor",
        "zip",
        FR,
        "data/chunk1.csv.zip",
        "one deflated member written as a stream: sizes in a data descriptor",
    ),
    Case(
        "zip-two-stored-csvs",
        "zip",
        FR,
        "data/table-multiple-files.zip",
        "two stored CSV members",
    ),
    Case(
        "zip-csv-and-json",
        "zip",
        FR,
        "data/resource.zip",
        "a CSV member and a JSON descriptor member",
    ),
    Case(
        "zip-data-package",
        "zip",
        FR,
        "data/package.zip",
        "two CSVs and datapackage.json, data descriptors",
    ),
    Case(
        "zip-folder-of-csvs",
        "zip",
        FR,
        "data/innerpath.package.zip",
        "a directory entry, ten CSVs inside it and a YAML descriptor (not data)",
    ),
    Case(
        "zip-header-only-csv",
        "zip",
        FR,
        "data/without-rows.csv.zip",
        "a CSV member with a header and no records",
    ),
    Case(
        "zip-wide-quoted-csv",
        "zip",
        FR,
        "data/doublequote.csv.zip",
        "a 17-column CSV member: long quoted Spanish text, unquoted numbers",
    ),
    Case(
        "zip-ragged-and-crlf-csvs",
        "zip",
        FR,
        "data/zipped-resources/ogd10_catalogs.zip",
        "a ragged CSV with a repeated header name and a blank line; a quoted CRLF one",
    ),
)
XLSX_CASES: tuple[Case, ...] = (
    Case(
        "xlsx-any-sheets",
        "xlsx",
        "python-calamine",
        "tests/data/any_sheets.xlsx",
        "a hidden and a very hidden sheet, and a chartsheet",
    ),
    Case(
        "xlsx-base",
        "xlsx",
        "python-calamine",
        "tests/data/base.xlsx",
        "four sheets: a header below a blank row, an empty sheet, merged cells",
    ),
    Case(
        "xlsx-tables",
        "xlsx",
        "python-calamine",
        "tests/data/table-multiple.xlsx",
        "Excel tables on three sheets; integers, decimals, text",
    ),
    Case(
        "xlsx-cyrillic-sheets",
        "xlsx",
        "xlsx2csv",
        "test/sheets.xlsx",
        "two sheets with Cyrillic names, trailing empty columns",
    ),
    Case(
        "xlsx-sheet-order",
        "xlsx",
        "xlsx2csv",
        "test/sheets_order.xlsx",
        "four sheets whose order is not their parts' order; 25 formulas (cached values)",
    ),
    Case(
        "xlsx-1904",
        "xlsx",
        "xlsx2csv",
        "test/xlsx2csv-test-file.xlsx",
        "five sheets, 134 records; the 1904 date system",
    ),
    Case(
        "xlsx-blank-rows",
        "xlsx",
        "xlsx2csv",
        "test/skip_empty_lines.xlsx",
        "blank rows among the records",
    ),
    Case(
        "xlsx-no-cell-ids",
        "xlsx",
        "xlsx2csv",
        "test/no_cell_ids.xlsx",
        "cells without references; a row of empty strings above the header",
    ),
    Case(
        "xlsx-times",
        "xlsx",
        "xlsx2csv",
        "test/timeformat.xlsx",
        "dates and times of day, by number format",
    ),
    Case(
        "xlsm-hyperlinks",
        "xlsx",
        "xlsx2csv",
        "test/hyperlinks_continous.xlsm",
        "a macro-enabled workbook (.xlsm) of hyperlinks",
    ),
)
_ORC = "pyarrow/tests/data/orc"
ORC_CASES: tuple[Case, ...] = (
    Case(
        "orc-test1",
        "orc",
        "pyarrow",
        f"{_ORC}/TestOrcFile.test1.orc",
        "every primitive ORC type, struct, list and map columns; ZLIB; 2 rows (ORC Java)",
    ),
    Case(
        "orc-date1900",
        "orc",
        "pyarrow",
        f"{_ORC}/TestOrcFile.testDate1900.orc",
        "70,000 rows in 8 stripes, ZLIB: timestamps and dates before 1970",
    ),
    Case(
        "orc-decimal",
        "orc",
        "pyarrow",
        f"{_ORC}/decimal.orc",
        "decimal(10,5), uncompressed, 6,000 rows, writer version ORIGINAL",
    ),
    Case(
        "orc-empty",
        "orc",
        "pyarrow",
        f"{_ORC}/TestOrcFile.emptyFile.orc",
        "no stripe, no row: the schema alone (nested types)",
    ),
    Case(
        "orc-penguins-snappy",
        "orc",
        "palmerpenguins",
        "palmerpenguins/data/penguins-raw.csv",
        "Snappy; dates, nulls, column names with spaces and parentheses",
        derive="pyarrow.orc.write_table(pyarrow.csv.read_csv(f), compression='snappy')",
    ),
    Case(
        "orc-airports-lz4",
        "orc",
        "vega_datasets",
        "vega_datasets/_data/airports.csv",
        "LZ4; 3,376 rows of text and coordinates",
        derive="pyarrow.orc.write_table(pyarrow.csv.read_csv(f), compression='lz4')",
    ),
)
ARROW_CASES: tuple[Case, ...] = (
    Case(
        "feather-v2-lz4-pyarrow017",
        "arrow",
        "pyarrow",
        "pyarrow/tests/data/feather/v0.17.0.version.2-compression.lz4.feather",
        "Feather v2 by pyarrow 0.17: LZ4 buffers marked the pre-1.0 way, metadata V4",
    ),
    Case(
        "arrow-r-pins",
        "arrow",
        "pins",
        "pins/tests/pins-compat/df_arrow/20220214T163720Z-ad0c1/df_arrow.arrow",
        "IPC file by R's arrow package: LZ4 buffers, R attributes as schema metadata",
    ),
    Case(
        "arrow-penguins-stream",
        "arrow",
        "palmerpenguins",
        "palmerpenguins/data/penguins.csv",
        "IPC stream of 7 batches: the first 100 rows span 2; nulls",
        derive="IPC stream (new_stream), 50-row batches",
    ),
    Case(
        "arrow-test1-legacy-stream",
        "arrow",
        "pyarrow",
        f"{_ORC}/TestOrcFile.test1.orc",
        "pre-0.15 stream (no continuation markers), metadata V4; struct, list, map columns",
        derive="legacy IPC stream (use_legacy_format, V4), 1-row batches",
    ),
    Case(
        "arrow-date1900-zstd",
        "arrow",
        "pyarrow",
        f"{_ORC}/TestOrcFile.testDate1900.orc",
        "IPC file of 70 zstd batches: timestamps (ns) and dates",
        derive="IPC file (new_file), zstd, 1000-row batches",
    ),
    Case(
        "feather-v2-airports-dictionary",
        "arrow",
        "vega_datasets",
        "vega_datasets/_data/airports.csv",
        "Feather v2, uncompressed, one batch; dictionary-encoded columns",
        derive="Feather v2 (IPC file), uncompressed, dictionary-encoded state and country",
    ),
    Case(
        "feather-v1-seattle",
        "arrow",
        "vega_datasets",
        "vega_datasets/_data/seattle-weather.csv",
        "Feather v1 (FEA1): columns stored whole, read whole (under the read cap)",
        derive="pyarrow.feather.write_feather(version=1)",
    ),
)
CASES = (*JSON_CASES, *AVRO_CASES, *ORC_CASES, *ARROW_CASES, *XLSX_CASES, *ZIP_CASES)


def _wheel_file(path: str) -> bytes:
    package, _, inner = path.partition("/")
    file = package_dir(package) / inner
    if not file.is_file():
        raise ContainerCorpusError(f"{file} is missing from the installed package {package}")
    return file.read_bytes()


def _archive(package: str) -> Path:
    return ARCHIVE_DIR / ARCHIVES[package][1]


def _archive_file(case: Case) -> bytes:
    members = _archive_members(case.package)
    if case.path not in members:
        raise ContainerCorpusError(f"{case.path} is missing from {_archive(case.package)}")
    return members[case.path]


@cache
def _archive_members(package: str) -> dict[str, bytes]:
    """The files the corpus takes from a release archive, by their path under its top folder
    (a wheel has none: by their path in it)."""
    archive = _archive(package)
    if not archive.is_file():
        raise ContainerCorpusError(
            f"{archive} is missing: run python -m alchemy_assets_tests.container_corpus download"
        )
    wanted = {c.path for c in CASES if c.package == package}
    found: dict[str, bytes] = {}
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                inner = info.filename
                if archive.name.endswith(".zip"):
                    inner = inner.partition("/")[2]
                if inner in wanted:
                    found[inner] = zf.read(info)
        return found
    with tarfile.open(archive) as tar:
        for member in tar:
            inner = member.name.partition("/")[2]
            if inner in wanted and member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                found[inner] = handle.read()
    return found


class _Links(html.parser.HTMLParser):
    """The file links of a package's page on a PEP 503 simple index."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links[href.split("#", 1)[0].rsplit("/", 1)[-1]] = href


def download() -> None:
    """Fetch the release archives of the corpus from the package index, each checked against
    the SHA-256 the index gives for it."""
    ARCHIVE_DIR.mkdir(parents=True, exist_ok=True)
    for package, (_, file_name) in ARCHIVES.items():
        target = ARCHIVE_DIR / file_name
        if target.is_file():
            continue
        page = f"{INDEX}/{package.lower()}/"
        with urllib.request.urlopen(page, timeout=60) as answer:
            parser = _Links()
            parser.feed(answer.read().decode())
        href = parser.links.get(file_name)
        if href is None or "#sha256=" not in href:
            raise ContainerCorpusError(f"{page} lists no {file_name} with its sha256")
        url, _, digest = href.partition("#sha256=")
        url = urllib.parse.urljoin(page, url)
        with urllib.request.urlopen(url, timeout=300) as answer:
            data = answer.read()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ContainerCorpusError(f"{url}: SHA-256 differs from the index's {digest}")
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)


def markdown() -> str:
    """The corpus as a Markdown table: file, kind, package and path, what it shows."""
    lines = [
        "| file | kind | package | path | shows |",
        "|---|---|---|---|---|",
    ]
    for case in CASES:
        how = f"; converted: {case.derive}" if case.derive else ""
        if case.options:
            set_ = ", ".join(f"{k} = {json.dumps(v)}" for k, v in case.options.to_dict().items())
            how += f"; configured: `{set_}`"
        lines.append(
            f"| `{case.file_name}` | {case.kind} | {case.package} {case.version} | "
            f"`{case.path}` | {case.shows}{how} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] == ["download"]:
        download()
    else:
        sys.stdout.write(markdown() + "\n")
