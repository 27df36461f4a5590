"""P7: delimited-text dialect detectors, accuracy and cost per file, on real files.

Every file of ``alchemy_assets_tests/dialect_corpus.py`` (real delimited files shipped in PyPI
packages, each with its true dialect stated) is cut to a prefix of 4, 16 and 64 KiB, as a
sample's first read would be, and given to each detector: Python's ``csv.Sniffer`` (delimiters
restricted to ``, ; | TAB ^ \\x01``, ``has_header``), CleverCSV (``Detector.detect`` with the
same delimiters, ``has_header``), DuckDB's ``sniff_csv`` (on the prefix as a file), ours
(``alchemy_assets.formats.dialect.detect_dialect``: a consistency score over the candidates on
the first 50 records) and ours with CleverCSV as the fallback that picks the delimiter where our
two best delimiters score within ``CLOSE`` (0.05) of each other (where ours compares the fields
they make instead). All get the same text (ours decodes the prefix; DuckDB gets it as
UTF-8), so encoding detection is not compared. *records*: the detector's delimiter, quote and
escape read the prefix into the same records as the true dialect does; *all*: its header and
preamble lines are right too (only ours and DuckDB report a preamble). ms/file: the mean over
the files of the fastest of 3 runs (1 at smoke size). Detectors whose package is not installed
(``pip install -e '.[dialect-bench]'``) are left out and said so.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alchemy_assets.formats import dialect as ours
from alchemy_assets_tests.dialect_corpus import CASES, Case
from benchmarks.common import SMOKE, Targets, section

PREFIXES = {"4 KiB": 4 << 10, "16 KiB": 16 << 10, "64 KiB": 64 << 10}
if SMOKE:
    PREFIXES = {"4 KiB": 4 << 10}
RUNS = 1 if SMOKE else 3
DELIMITERS = "".join(ours.DELIMITERS)
# The budget a detector has per file: staging runs at ~85 files/s (P3), ~12 ms a file in all.
BUDGET_MS = 2.0


@dataclass(frozen=True)
class Answer:
    """What a detector says: the format it reads records with, header and preamble lines."""

    delimiter: str | None
    quotechar: str | None
    escapechar: str | None
    header: bool
    preamble_lines: int


Detector = Callable[[str, bytes, bool, Path], Answer]


def _ours(text: str, prefix: bytes, eof: bool, path: Path) -> Answer:
    d = ours.detect_dialect(prefix, eof=eof)
    return Answer(d.delimiter, d.quotechar, d.escapechar, d.header, d.preamble_lines)


def _sniffer(text: str, prefix: bytes, eof: bool, path: Path) -> Answer:
    sniffer = csv.Sniffer()
    try:
        found = sniffer.sniff(text, delimiters=DELIMITERS)
    except csv.Error:
        return Answer(None, None, None, False, 0)
    try:
        header = sniffer.has_header(text)
    except csv.Error:
        header = False
    return Answer(found.delimiter, found.quotechar, found.escapechar, header, 0)


def _clevercsv(text: str, prefix: bytes, eof: bool, path: Path) -> Answer:
    import clevercsv

    detector = clevercsv.Detector()
    found = detector.detect(text, delimiters=list(ours.DELIMITERS))
    if found is None or not found.delimiter:
        return Answer(None, None, None, False, 0)
    try:
        header = bool(detector.has_header(text))
    except Exception:
        header = False
    return Answer(found.delimiter, found.quotechar or None, found.escapechar or None, header, 0)


def _fallback(text: str, prefix: bytes, eof: bool, path: Path) -> Answer:
    """Ours, but CleverCSV picks the delimiter where our two best delimiters score close."""
    answer = _ours(text, prefix, eof, path)
    if not _ambiguous(text, eof):
        return answer
    other = _clevercsv(text, prefix, eof, path)
    return Answer(other.delimiter, other.quotechar, other.escapechar, *_tail(answer))


def _tail(answer: Answer) -> tuple[bool, int]:
    return answer.header, answer.preamble_lines


def _ambiguous(text: str, eof: bool) -> bool:
    best: dict[str, float] = {}
    for delimiter in ours.DELIMITERS:
        fmt = ours._Format(delimiter, '"', None)
        fit = ours._fit(ours._parse(text, fmt, ours.SAMPLE_RECORDS, eof=eof), fmt, 0)
        if fit is not None:
            best[delimiter] = fit.consistency
    scores = sorted(best.values(), reverse=True)
    return len(scores) >= 2 and scores[0] - scores[1] <= ours.CLOSE


_DUCK: list[Any] = []


def _duckdb(text: str, prefix: bytes, eof: bool, path: Path) -> Answer:
    import duckdb

    if not _DUCK:
        _DUCK.append(duckdb.connect())
    row = (
        _DUCK[0]
        .execute(
            "SELECT Delimiter, Quote, Escape, HasHeader, SkipRows "
            "FROM sniff_csv(?, sample_size = -1, ignore_errors = true)",
            [str(path)],
        )
        .fetchone()
    )
    if row is None:
        return Answer(None, None, None, False, 0)
    delimiter, quote, escape, header, skip = row
    none = ("", "\x00", "(empty)")
    return Answer(
        delimiter if delimiter not in none else None,
        quote if quote not in none else None,
        escape if escape not in none and escape != quote else None,
        bool(header),
        int(skip),
    )


DETECTORS: dict[str, tuple[Detector, str | None]] = {
    "csv.Sniffer": (_sniffer, None),
    "CleverCSV": (_clevercsv, "clevercsv"),
    "DuckDB sniff_csv": (_duckdb, "duckdb"),
    "ours": (_ours, None),
    "ours + CleverCSV when ambiguous": (_fallback, "clevercsv"),
}


def records(text: str, answer: Answer, eof: bool, *, skip: int) -> list[list[str]]:
    """The non-blank records of ``text`` (its first ``skip`` lines left out) in ``answer``'s
    format; unless ``eof``, the last record (maybe cut short) is left out."""
    body = "".join(text.splitlines(keepends=True)[skip:])
    if answer.delimiter is None:
        rows = [[line] for line in body.splitlines()]
    else:
        try:
            rows = list(
                csv.reader(
                    io.StringIO(body, newline=""),
                    delimiter=answer.delimiter,
                    quotechar=answer.quotechar or '"',
                    escapechar=answer.escapechar,
                    quoting=csv.QUOTE_NONE if answer.quotechar is None else csv.QUOTE_MINIMAL,
                    strict=False,
                )
            )
        except csv.Error:
            return []
    rows = [r for r in rows if any(field.strip() for field in r)]
    return rows if eof else rows[:-1]


def judge(text: str, truth: Answer, got: Answer, eof: bool) -> tuple[bool, bool]:
    """(records right, all right): the records of the prefix read from the top, and then
    the header and preamble lines."""
    same_records = records(text, got, eof, skip=0) == records(text, truth, eof, skip=0)
    return same_records, same_records and _tail(got) == _tail(truth)


@dataclass
class Tally:
    records: int = 0
    all: int = 0
    seconds: float = 0.0
    missed: list[str] | None = None


def run(work: Path) -> tuple[str, list[str]]:
    """Measure each detector on each prefix size; return the section and the missed targets."""
    available = {
        name: fn
        for name, (fn, package) in DETECTORS.items()
        if package is None or importlib.util.find_spec(package) is not None
    }
    left_out = [name for name in DETECTORS if name not in available]
    cases = [(case, case.data()) for case in CASES]
    tallies: dict[tuple[str, str], Tally] = {}
    ambiguous: dict[str, int] = {}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        for label, size in PREFIXES.items():
            for index, (case, data) in enumerate(cases):
                prefix, eof = data[:size], len(data) <= size
                text = case.dialect.decode(prefix)
                text = text if eof else ours._whole_lines(text)
                path = Path(tmp) / f"{index}.csv"
                path.write_text(text, encoding="utf-8")
                truth = _truth(case)
                ambiguous[label] = ambiguous.get(label, 0) + _ambiguous(text, eof)
                for name, fn in available.items():
                    tally = tallies.setdefault((name, label), Tally(missed=[]))
                    got, seconds = _timed(fn, text, prefix, eof, path)
                    right_records, right_all = judge(text, truth, got, eof)
                    tally.records += right_records
                    tally.all += right_all
                    tally.seconds += seconds
                    if not right_all and tally.missed is not None:
                        tally.missed.append(case.name)
    rows: list[list[object]] = []
    targets = Targets("P7")
    n = len(cases)
    for name in available:
        for label in PREFIXES:
            t = tallies[name, label]
            ms = t.seconds / n * 1000
            missed = ", ".join(t.missed or []) or "none"
            rows.append([name, label, f"{t.records}/{n}", f"{t.all}/{n}", f"{ms:.2f}", missed])
    for label in PREFIXES:
        t = tallies["ours", label]
        ms = t.seconds / n * 1000
        targets.check(f"ours at {label}: every file right ({t.all}/{n})", t.all == n)
        targets.check(
            f"ours at {label}: {ms:.2f} ms a file (target <= {BUDGET_MS} ms)", ms <= BUDGET_MS
        )
    targets.note(
        f"files where our two best delimiters score within {ours.CLOSE} (the fallback asks "
        "CleverCSV): " + ", ".join(f"{count} at {label}" for label, count in ambiguous.items())
    )
    if left_out:
        targets.note(f"not installed, left out: {', '.join(left_out)}")
    header = ["detector", "prefix", "records right", "all right", "ms/file", "not all right"]
    return section("dialect detection: accuracy and cost", __doc__, header, rows, targets)


def _truth(case: Case) -> Answer:
    d = case.dialect
    return Answer(d.delimiter, d.quotechar, d.escapechar, d.header, d.preamble_lines)


def _timed(fn: Detector, text: str, prefix: bytes, eof: bool, path: Path) -> tuple[Answer, float]:
    times = []
    answer = Answer(None, None, None, False, 0)
    for _ in range(RUNS):
        started = time.perf_counter()
        try:
            answer = fn(text, prefix, eof, path)
        except Exception:
            answer = Answer(None, None, None, False, 0)
        times.append(time.perf_counter() - started)
    return answer, min(times)
