"""P1: the cost of a 100-row sample against the file's size, and against reading it whole.

For CSV, gzip CSV and Parquet files of ~1 MB, ~100 MB and ~1 GB (for .csv.gz: the gzip of
the CSV of that size), each measurement runs in a fresh process with the file evicted from
the page cache first: ``read_sample`` (ours) and the baseline ``pl.read_csv(f).head(100)``
(``pl.read_parquet`` for Parquet). Reported: median time, median peak RSS of the process and
the bytes of the file the sample read. The other kinds (a pipe-delimited ``.psv``, and the CSV
compressed with bzip2, xz and zstd) are measured at ~1 MB and ~1 GB, ours only (polars reads
none of those compressions): their rows show the sample stays flat in the file's size.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
from pathlib import Path
from typing import Protocol

import polars as pl
import pyarrow.parquet as pq

from alchemy_assets.formats.compression import zstd
from benchmarks.common import REPORT, SMOKE, Measure, Targets, fmt_s, repeat, section

SIZES = {"1 MB": 1 << 20, "100 MB": 100 << 20, "1 GB": 1 << 30}
if SMOKE:
    SIZES = {"1 MB": 1 << 20, "4 MB": 4 << 20}
CHUNK_ROWS = 200_000

CHILD = (
    REPORT
    + """
import os, sys
from pathlib import Path
path, method = Path(sys.argv[1]), sys.argv[2]
fd = os.open(path, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
import polars as pl
from alchemy_assets.sampling import read_sample
started = time.perf_counter()
bytes_read = 0
if method == "sample":
    sample, _ = read_sample(path, 100)
    rows, bytes_read = sample.rows, sample.bytes_read
else:
    frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    rows = frame.head(100).height
report(time.perf_counter() - started, rows=rows, bytes_read=bytes_read)
"""
)


def _chunk(index: int) -> pl.DataFrame:
    """Rows that differ from chunk to chunk, so gzip and Parquet compress them realistically."""
    start = index * CHUNK_ROWS
    ids = pl.int_range(start, start + CHUNK_ROWS, eager=True).alias("id")
    return pl.DataFrame({"id": ids}).with_columns(
        ticker=pl.col("id").hash(1).cast(pl.String).str.slice(0, 6),
        price=(pl.col("id").hash(2) % 1_000_000).cast(pl.Float64) / 100,
        volume=pl.col("id").hash(3) % 100_000,
        note=pl.format("row {} of chunk {}", pl.col("id"), pl.lit(index)),
    )


# The kinds measured at every size against a full read, and those measured at the smallest
# and largest size only (ours alone).
KINDS = ("csv", "csv.gz", "parquet")
MORE_KINDS = ("psv", "csv.bz2", "csv.xz", "csv.zst")


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _writers(stack: contextlib.ExitStack, work: Path, label: str, more: bool) -> dict[str, _Sink]:
    """Streams (closed with ``stack``) that write ``<label>.<kind>``; compressing, for the
    compressed kinds, at the fastest level of each, as a vendor's export of a large file."""
    path = {kind: work / f"{label}.{kind}" for kind in ("csv", "csv.gz", *MORE_KINDS)}
    enter = stack.enter_context
    writers: dict[str, _Sink] = {
        "csv": enter(path["csv"].open("wb")),
        "csv.gz": enter(gzip.GzipFile(path["csv.gz"], "wb", compresslevel=1)),
    }
    if more:
        writers["psv"] = enter(path["psv"].open("wb"))
        writers["csv.bz2"] = enter(bz2.BZ2File(path["csv.bz2"], "wb", compresslevel=1))
        writers["csv.xz"] = enter(lzma.LZMAFile(path["csv.xz"], "wb", preset=0))  # noqa: SIM115
        writers["csv.zst"] = enter(zstd.ZstdFile(path["csv.zst"], "wb", level=1))
    return writers


def make_files(work: Path, label: str, size: int, more: bool) -> dict[str, Path]:
    """A CSV of about ``size`` bytes, its gzip, and a Parquet file of about ``size`` bytes;
    with ``more``, also the same rows pipe-delimited (``.psv``) and the CSV in bzip2, xz and
    zstd."""
    index, written = 0, 0
    with contextlib.ExitStack() as stack:
        writers = _writers(stack, work, label, more)
        while written < size:
            data = _chunk(index).write_csv(include_header=index == 0).encode()
            data = data[: max(0, size - written)] if written + len(data) > size else data
            data = data[: data.rfind(b"\n") + 1] or data
            for kind, out in writers.items():
                # The same rows, cut the same way: no field holds a comma or a pipe.
                out.write(data.replace(b",", b"|") if kind == "psv" else data)
            written += len(data)
            index += 1
    parquet = work / f"{label}.parquet"
    probe = work / "probe.parquet"
    pq.write_table(_chunk(0).to_arrow(), probe)
    rows_needed = max(1000, int(size * CHUNK_ROWS / probe.stat().st_size))
    probe.unlink()
    with pq.ParquetWriter(parquet, _chunk(0).to_arrow().schema) as writer:
        for index, start in enumerate(range(0, rows_needed, CHUNK_ROWS)):
            rows = _chunk(index).head(rows_needed - start).to_arrow()
            writer.write_table(rows, row_group_size=CHUNK_ROWS)
    return {kind: work / f"{label}.{kind}" for kind in (*writers, "parquet")}


def run(work: Path) -> tuple[str, list[str]]:
    """Measure, delete the files, and return the Markdown section and the missed targets."""
    ours: dict[tuple[str, str], Measure] = {}
    full: dict[tuple[str, str], Measure] = {}
    sizes: dict[tuple[str, str], int] = {}
    small, big = next(iter(SIZES)), list(SIZES)[-1]
    for label, size in SIZES.items():
        files = make_files(work, label.replace(" ", ""), size, more=label in (small, big))
        for kind, path in files.items():
            sizes[kind, label] = path.stat().st_size
            ours[kind, label] = repeat(3 if SMOKE else 7, CHILD, str(path), "sample")
            if kind in KINDS:
                full_runs = 1 if SMOKE else (2 if size >= 1 << 30 else 3)
                full[kind, label] = repeat(full_runs, CHILD, str(path), "full")
            path.unlink()
    rows: list[list[object]] = []
    targets = Targets("P1")
    for kind in (*KINDS, *MORE_KINDS):
        labels = SIZES if kind in KINDS else (small, big)
        for label in labels:
            o, f = ours[kind, label], full.get((kind, label))
            rows.append(
                [
                    kind,
                    label,
                    f"{sizes[kind, label] / 1e6:.1f} MB",
                    fmt_s(o.seconds),
                    f"{o.rss_mib:.0f} MiB",
                    f"{o.bytes_read / 1024:.0f} KiB",
                    fmt_s(f.seconds) if f else "-",
                    f"{f.rss_mib:.0f} MiB" if f else "-",
                    f"{f.seconds / o.seconds:.0f}x" if f else "-",
                ]
            )
        time_ratio = ours[kind, big].seconds / ours[kind, small].seconds
        rss_ratio = ours[kind, big].rss_mib / ours[kind, small].rss_mib
        checks = [
            (
                f"{kind}: {big} sample time {time_ratio:.2f}x the {small} one (target <= 1.5x)",
                time_ratio <= 1.5,
            ),
            (
                f"{kind}: {big} sample RSS {rss_ratio:.2f}x the {small} one (target <= 1.5x)",
                rss_ratio <= 1.5,
            ),
        ]
        if kind in KINDS:
            speedup = full[kind, big].seconds / ours[kind, big].seconds
            checks.append(
                (
                    f"{kind}: {big} sample {speedup:.0f}x faster than a full read (target >= 100x)",
                    speedup >= 100,
                )
            )
        else:
            # Bytes read do not grow with the file: at most the small file's plus one chunk
            # of the compressed stream (a bzip2 block holds up to 900 kB).
            grown = ours[kind, big].bytes_read - ours[kind, small].bytes_read
            checks.append(
                (
                    f"{kind}: {big} sample reads {ours[kind, big].bytes_read / 1024:.0f} KiB, "
                    f"{grown / 1024:+.0f} KiB on the {small} one (target: <= +1 MiB)",
                    grown <= 1 << 20,
                )
            )
        for name, ok in checks:
            targets.check(name, ok)
    header = [
        "format",
        "size",
        "file",
        "sample (ours)",
        "RSS",
        "bytes read",
        "full read + head",
        "RSS",
        "full / ours",
    ]
    return section("sampling cost vs file size", __doc__, header, rows, targets)
