"""P1: the cost of a 100-row sample against the file's size, and against reading it whole.

For CSV, gzip CSV and Parquet files of ~1 MB, ~100 MB and ~1 GB (for .csv.gz: the gzip of
the CSV of that size), each measurement runs in a fresh process with the file evicted from
the page cache first: ``read_sample`` (ours) and the baseline ``pl.read_csv(f).head(100)``
(``pl.read_parquet`` for Parquet). Reported: median time and median peak RSS of the process.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

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
if method == "sample":
    sample, _ = read_sample(path, 100)
    rows = sample.rows
else:
    frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    rows = frame.head(100).height
report(time.perf_counter() - started, rows=rows)
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


def make_files(work: Path, label: str, size: int) -> dict[str, Path]:
    """A CSV of about ``size`` bytes, its gzip, and a Parquet file of about ``size`` bytes."""
    csv, gz, parquet = work / f"{label}.csv", work / f"{label}.csv.gz", work / f"{label}.parquet"
    index = 0
    with csv.open("wb") as out, gzip.open(gz, "wb", compresslevel=1) as zout:
        while out.tell() < size:
            data = _chunk(index).write_csv(include_header=index == 0).encode()
            data = data[: max(0, size - out.tell())] if out.tell() + len(data) > size else data
            data = data[: data.rfind(b"\n") + 1] or data
            out.write(data)
            zout.write(data)
            index += 1
    probe = work / "probe.parquet"
    pq.write_table(_chunk(0).to_arrow(), probe)
    rows_needed = max(1000, int(size * CHUNK_ROWS / probe.stat().st_size))
    probe.unlink()
    with pq.ParquetWriter(parquet, _chunk(0).to_arrow().schema) as writer:
        for index, start in enumerate(range(0, rows_needed, CHUNK_ROWS)):
            rows = _chunk(index).head(rows_needed - start).to_arrow()
            writer.write_table(rows, row_group_size=CHUNK_ROWS)
    return {"csv": csv, "csv.gz": gz, "parquet": parquet}


def run(work: Path) -> tuple[str, list[str]]:
    """Measure, delete the files, and return the Markdown section and the missed targets."""
    ours: dict[tuple[str, str], Measure] = {}
    full: dict[tuple[str, str], Measure] = {}
    sizes: dict[tuple[str, str], int] = {}
    for label, size in SIZES.items():
        files = make_files(work, label.replace(" ", ""), size)
        for kind, path in files.items():
            sizes[kind, label] = path.stat().st_size
            ours[kind, label] = repeat(3 if SMOKE else 7, CHILD, str(path), "sample")
            full_runs = 1 if SMOKE else (2 if size >= 1 << 30 else 3)
            full[kind, label] = repeat(full_runs, CHILD, str(path), "full")
            path.unlink()
    small, big = next(iter(SIZES)), list(SIZES)[-1]
    rows: list[list[object]] = []
    targets = Targets("P1")
    for kind in ("csv", "csv.gz", "parquet"):
        for label in SIZES:
            o, f = ours[kind, label], full[kind, label]
            rows.append(
                [
                    kind,
                    label,
                    f"{sizes[kind, label] / 1e6:.1f} MB",
                    fmt_s(o.seconds),
                    f"{o.rss_mib:.0f} MiB",
                    fmt_s(f.seconds),
                    f"{f.rss_mib:.0f} MiB",
                    f"{f.seconds / o.seconds:.0f}x",
                ]
            )
        time_ratio = ours[kind, big].seconds / ours[kind, small].seconds
        rss_ratio = ours[kind, big].rss_mib / ours[kind, small].rss_mib
        speedup = full[kind, big].seconds / ours[kind, big].seconds
        for name, ok in (
            (
                f"{kind}: {big} sample time {time_ratio:.2f}x the {small} one (target <= 1.5x)",
                time_ratio <= 1.5,
            ),
            (
                f"{kind}: {big} sample RSS {rss_ratio:.2f}x the {small} one (target <= 1.5x)",
                rss_ratio <= 1.5,
            ),
            (
                f"{kind}: {big} sample {speedup:.0f}x faster than a full read (target >= 100x)",
                speedup >= 100,
            ),
        ):
            targets.check(name, ok)
    header = [
        "format",
        "size",
        "file",
        "sample (ours)",
        "RSS",
        "full read + head",
        "RSS",
        "full / ours",
    ]
    return section("sampling cost vs file size", __doc__, header, rows, targets)
