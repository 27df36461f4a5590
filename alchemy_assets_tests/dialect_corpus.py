"""Real delimited files that no one on this project wrote, each with its true dialect.

The files ship inside PyPI packages: statsmodels' wheel (installed by the ``realdata`` extra)
and the source distributions of csvkit, agate and frictionless, whose test and example data
their wheels leave out. ``make install`` puts those three archives in ``.venv/realdata-sdists``
(``python -m alchemy_assets_tests.dialect_corpus download``, pip from PyPI, pinned versions);
the files are read from the archives and the installed wheel, never downloaded at test time.

Each file's dialect was stated by reading it by eye, and is confirmed by pandas reading the
whole file with that dialect given explicitly (``test_dialect.py``): the column count and the
first column's name below are what pandas makes of it. Where no real file of a kind is
shipped (``^``, ``\\x01`` and Excel's UTF-16LE "Unicode Text"), a real file is converted, and
its entry says how (``derive``).

``python -m alchemy_assets_tests.dialect_corpus`` prints the corpus as a Markdown table.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alchemy_assets.formats.dialect import Dialect
from alchemy_assets_tests.corpus import package_dir

SDISTS = {"csvkit": "2.2.0", "agate": "1.14.2", "frictionless": "5.21.0"}
SDIST_DIR = Path(sys.prefix) / "realdata-sdists"
PIP_DOWNLOAD = (
    *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
    *("--no-binary", ":all:", "-d"),
)


class DialectCorpusError(RuntimeError):
    """A package of the corpus is missing, or lacks a file the corpus names."""


@dataclass(frozen=True)
class Case:
    """One file of the corpus: where it comes from (a package and the path inside its wheel
    or source archive), what it shows, its true dialect, and what pandas reads from it with
    that dialect: ``columns`` columns, the first named ``first`` (None: no header)."""

    name: str
    package: str
    path: str
    shows: str
    dialect: Dialect
    columns: int
    first: str | None
    derive: str | None = None

    @property
    def version(self) -> str:
        if self.package in SDISTS:
            return SDISTS[self.package]
        from importlib.metadata import version

        return version(self.package)

    def data(self) -> bytes:
        """The file's bytes (converted, if ``derive`` says so)."""
        raw = _wheel_file(self.path) if self.package not in SDISTS else _sdist_file(self)
        return DERIVES[self.derive](raw) if self.derive else raw


def _d(
    delimiter: str | None,
    *,
    quote: str | None = '"',
    header: bool = True,
    preamble: int = 0,
    encoding: str = "utf-8",
    escape: str | None = None,
) -> Dialect:
    if delimiter is None:
        return Dialect(None, None, None, False, False, 0, encoding)
    return Dialect(delimiter, quote, escape, escape is None, header, preamble, encoding)


def _redelimit(raw: bytes, source: Dialect, delimiter: str, *, quoted: bool) -> str:
    text = raw.decode(source.encoding)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=str(source.delimiter))
    out = io.StringIO()
    if quoted:
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    else:
        writer = csv.writer(
            out, delimiter=delimiter, quotechar=None, quoting=csv.QUOTE_NONE, lineterminator="\n"
        )
    writer.writerows(rows)
    return out.getvalue()


def _to_caret(raw: bytes) -> bytes:
    """A comma file with quoted commas re-written with ``^`` (quotes only where needed)."""
    return _redelimit(raw, _d(","), "^", quoted=True).encode()


def _to_ctrl_a(raw: bytes) -> bytes:
    """A pipe file re-written as Hive writes text tables: ``\\x01`` between fields, no
    quoting (its fields hold ``"`` mid-field, never a ``\\x01``)."""
    return _redelimit(raw, _d("|"), "\x01", quoted=False).encode()


def _to_unicode_text(raw: bytes) -> bytes:
    """A cp1252 ``;`` file re-written as Excel's "Unicode Text" export: UTF-16LE with a byte
    order mark, tab-separated, CRLF line endings, quotes only where needed."""
    text = _redelimit(raw, _d(";", encoding="cp1252"), "\t", quoted=True)
    return b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le")


DERIVES: dict[str, Callable[[bytes], bytes]] = {
    "caret": _to_caret,
    "ctrl-a": _to_ctrl_a,
    "unicode-text": _to_unicode_text,
}
_DERIVE_TEXT = {
    "caret": "re-delimited with `^` by csv.writer",
    "ctrl-a": "re-delimited with `\\x01`, unquoted (Hive's text format)",
    "unicode-text": "tab, UTF-16LE + BOM, CRLF (Excel's Unicode Text)",
}

SM = "statsmodels"
CK = "csvkit"
AG = "agate"
FR = "frictionless"
CASES = (
    Case("semicolon-modechoice", SM, "statsmodels/datasets/modechoice/modechoice.csv",
         "`;`, numbers only", _d(";"), 9, "individual"),
    Case("tab-rlsdata", SM, "statsmodels/sandbox/rlsdata.txt",
         "tab, short", _d("\t"), 6, "G"),
    Case("tab-star98", SM, "statsmodels/datasets/star98/src/star98.dat",
         "tab, 177 KiB (cut prefix)", _d("\t"), 81, "CDS_CODE"),
    Case("tab-single-quoted-anes96", SM, "statsmodels/datasets/anes96/anes96.csv",
         "tab, header names quoted with `'`", _d("\t", quote="'"), 10, "popul"),
    Case("pipe-nrc-events", CK, "examples/realdata/event-notification-rpt-lastmonth.txt",
         "`|`, 72 columns, CRLF, `\"` mid-field, 135 KiB", _d("|"), 72, "Event Desc"),
    Case("pipe-agate-sniff", AG, "examples/test_csv_sniff.csv",
         "`|`, empty fields", _d("|"), 6, "number"),
    Case("pipe-no-header", FR, "data/issue-1478/table.csv",
         "`|`, no header, CRLF", _d("|", header=False), 4, None),
    Case("comma-preamble-va-benefits", CK, "examples/realdata/Datagov_FY10_EDU_recp_by_State.csv",
         "`,`, 2 preamble lines (an empty record, a title), CRLF", _d(",", preamble=2), 9,
         "State Name"),
    Case("comma-blank-lines-above", CK, "examples/test_skip_lines.csv",
         "`,`, 3 blank lines above the header", _d(",", preamble=3), 3, "a"),
    Case("semicolon-comment-above", FR, "data/country-2.csv",
         "`;`, a `#` note above the header", _d(";", preamble=1), 4, "id"),
    Case("comma-quoted-commas-acs", CK, "examples/realdata/acs2012_5yr_population.csv",
         "`,`, quoted commas", _d(","), 4, "fips"),
    Case("comma-quoted-thousands", CK, "examples/realdata/FY09_EDU_Recipients_by_State.csv",
         "`,`, quoted `6,718`, trailing delimiter", _d(","), 10, "State Name"),
    Case("comma-ks-1033", CK, "examples/realdata/ks_1033_data.csv",
         "`,`, quoted commas, 207 KiB (cut prefix)", _d(","), 14, "state"),
    Case("comma-exonerations", AG, "examples/realdata/exonerations-20150828.csv",
         "`,`, quoted commas, 124 KiB (cut prefix)", _d(","), 18, "last_name"),
    Case("comma-quoted-semicolons", FR, "data/doublequote.csv",
         "`,`, long quoted text full of `;`", _d(","), 17, "INCISO"),
    Case("comma-latin1", CK, "examples/test_latin1.csv",
         "`,`, Latin-1 bytes", _d(",", encoding="cp1252"), 3, "a"),
    Case("comma-utf16le-bom", CK, "examples/test_utf16_little.csv",
         "`,`, UTF-16LE with BOM", _d(",", encoding="utf-16-le"), 3, "a"),
    Case("comma-utf16be-bom", CK, "examples/test_utf16_big.csv",
         "`,`, UTF-16BE with BOM", _d(",", encoding="utf-16-be"), 3, "a"),
    Case("semicolon-quoted-newline-istat", FR, "data/issue-811.csv",
         "`;`, cp1252, quoted line break in the header, CRLF, 1.1 MB (cut prefix)",
         _d(";", encoding="cp1252"), 26, "Codice Regione"),
    Case("semicolon-ev-stations", FR, "data/issue-647.csv.txt",
         "`;`, cp1252, quoted fields, 206 KiB (cut prefix)", _d(";", encoding="cp1252"), 17,
         "n_amenageur"),
    Case("semicolon-fuel-stations", FR, "data/issue-1066.csv",
         "`;`, 3.2 MB (cut prefix)", _d(";"), 10, "idImpianto"),
    Case("semicolon-decimal-commas", FR, "data/table-with-accents.csv",
         "`;`, decimal commas, cp1252, CRLF", _d(";", encoding="cp1252"), 8, "Classement"),
    Case("semicolon-trailing", FR, "data/issue-1138.csv",
         "`;`, trailing delimiter, some fields quoted", _d(";"), 4, "Zeit [MEZ]"),
    Case("semicolon-comuni", FR, "data/issue-1232.csv",
         "`;`, codes with leading zeros", _d(";"), 7, "comune"),
    Case("semicolon-vix", FR, "data/vix.csv", "`;`, tiny", _d(";"), 5, "Date"),
    Case("semicolon-unquoted-commas", FR, "data/accent.csv",
         "`;`, commas inside unquoted fields", _d(";"), 17, "n_amenageur"),
    Case("tab-frictionless", FR, "data/table.tsv", "tab, tiny", _d("\t"), 2, "id"),
    Case("single-column", FR, "data/column.csv",
         "one column of numbers, no header, 6.6 MB (cut prefix)", _d(",", header=False), 1,
         None),
    Case("fixed-width-census", CK, "examples/realdata/census_2000/VROUTFSJ.TXt",
         "fixed-width lines (commas only deep inside): read as lines", _d(None), 1, None),
    Case("prose-census-readme", CK, "examples/realdata/census_2000/README.txt",
         "prose: no delimiter, read as lines", _d(None), 1, None),
    Case("prose-census-2010-readme", CK, "examples/realdata/census_2010/README.txt",
         "prose: no delimiter, read as lines", _d(None), 1, None),
    Case("caret-acs", CK, "examples/realdata/acs2012_5yr_population.csv",
         "`^` (no real one shipped)", _d("^"), 4, "fips", derive="caret"),
    Case("ctrl-a-nrc-events", CK, "examples/realdata/event-notification-rpt-lastmonth.txt",
         "`\\x01` (no real one shipped)", _d("\x01"), 72, "Event Desc", derive="ctrl-a"),
    Case("utf16-tab-unicode-text", FR, "data/table-with-accents.csv",
         "Excel Unicode Text (no real one shipped)", _d("\t", encoding="utf-16-le"), 8,
         "Classement", derive="unicode-text"),
)  # fmt: skip


def _wheel_file(path: str) -> bytes:
    package, _, inner = path.partition("/")
    file = package_dir(package) / inner
    if not file.is_file():
        raise DialectCorpusError(f"{file} is missing from the installed package {package}")
    return file.read_bytes()


def _sdist_file(case: Case) -> bytes:
    members = _sdist_members(case.package)
    if case.path not in members:
        raise DialectCorpusError(f"{case.path} is missing from {_archive(case.package)}")
    return members[case.path]


def _archive(package: str) -> Path:
    return SDIST_DIR / f"{package}-{SDISTS[package]}.tar.gz"


@cache
def _sdist_members(package: str) -> dict[str, bytes]:
    """The files the corpus takes from a source archive, by their path under its top folder."""
    archive = _archive(package)
    if not archive.is_file():
        raise DialectCorpusError(
            f"{archive} is missing: run `python -m alchemy_assets_tests.dialect_corpus download`"
            " (make install does)"
        )
    wanted = {case.path for case in CASES if case.package == package}
    top = f"{package}-{SDISTS[package]}/"
    found: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            inner = member.name.removeprefix(top)
            if inner in wanted and member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    found[inner] = handle.read()
    return found


def download() -> None:
    """Fetch the source archives of the corpus from PyPI (pip, pinned versions)."""
    missing = [f"{p}=={v}" for p, v in SDISTS.items() if not _archive(p).is_file()]
    if missing:
        subprocess.run(
            [*PIP_DOWNLOAD, str(SDIST_DIR), *missing],
            check=True,
        )


def markdown() -> str:
    """The corpus as a Markdown table: file, package and path, what it shows, true dialect."""
    lines = [
        "| file | package | path in the archive | shows | delimiter | header | preamble |"
        " encoding |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        where = "wheel" if case.package not in SDISTS else "sdist"
        derived = f" → {_DERIVE_TEXT[case.derive]}" if case.derive else ""
        d = case.dialect
        lines.append(
            f"| {case.name} | {case.package} {case.version} ({where}) | `{case.path}`{derived} "
            f"| {case.shows} | {d.delimiter!r} | {d.header} | {d.preamble_lines} | "
            f"{d.encoding} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["download"]:
        download()
    else:
        print(markdown())
