"""P4: ``alchemy ingest`` against ``cp --preserve=timestamps`` plus a bare append of the lines.

Two loads, each measured in fresh processes on fresh copies: 10,000 small files, and one
~1 GB file. The baseline copies with one ``cp --preserve=timestamps`` process and appends the
same manifest lines with plain ``write`` calls, with no fsync; ours makes each copy and each
line durable (temp file, fsync, link; ``flock``, fsync). A third column adds one ``sync`` to
the baseline, to show what durability itself costs. ``compare = "checksum"`` (rsync ``-c``)
is measured beside the default quick check twice: the first ingest (each copy also hashed)
and a second one with nothing changed (every raw file read and hashed again, where the quick
check only stats it).
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.common import REPORT, SMOKE, Targets, child, fmt_s, section

SMALL_FILES = 200 if SMOKE else 10_000
BIG_BYTES = (8 << 20) if SMOKE else (1 << 30)
RUNS = 1 if SMOKE else 3

OURS = (
    REPORT
    + """
import contextlib, io, os, sys
from pathlib import Path
from alchemy_assets.cli import main
root, compare, again = sys.argv[1], sys.argv[2], sys.argv[3] == "again"
(Path(root) / "bench/ingest/1/alchemy.toml").write_text(f'compare = "{compare}"\\n')
with contextlib.redirect_stdout(io.StringIO()):
    if again:
        assert main(["ingest", "bench/ingest/1", "--root", root]) == 0
        os.sync()
    started = time.perf_counter()
    assert main(["ingest", "bench/ingest/1", "--root", root]) == 0
report(time.perf_counter() - started)
"""
)

BASELINE = (
    REPORT
    + """
import json, os, subprocess, sys
from pathlib import Path
root, sync = Path(sys.argv[1]) / "bench/ingest/1", sys.argv[2] == "sync"
files = sorted(p for p in (root / "raw").rglob("*") if p.is_file())
target = root / "bronze" / "baseline"
target.mkdir(parents=True)
(root / "manifests").mkdir(exist_ok=True)
started = time.perf_counter()
for start in range(0, len(files), 2000):  # one cp per 2,000 files: argv stays short
    chunk = [str(p) for p in files[start:start + 2000]]
    subprocess.run(["cp", "--preserve=timestamps", "-t", str(target), *chunk], check=True)
with open(root / "manifests" / "baseline.jsonl", "a") as manifest:
    for p in files:
        manifest.write(json.dumps({"raw": str(p.relative_to(root)),
                                   "bronze": f"bronze/baseline/{p.name}",
                                   "mtime": p.stat().st_mtime}) + "\\n")
if sync:
    os.sync()
report(time.perf_counter() - started)
"""
)


def _make(root: Path, load: str) -> None:
    raw = root / "bench/ingest/1/raw/env0"
    raw.mkdir(parents=True)
    if load == "small":
        for i in range(SMALL_FILES):
            sub = raw / f"d{i // 1000}"
            sub.mkdir(exist_ok=True)
            (sub / f"f{i}.csv").write_text(f"id,value\n{i},{i * 2}\n")
    else:
        block = os.urandom(1 << 20)
        with (raw / "big.csv").open("wb") as f:
            for _ in range(BIG_BYTES >> 20):
                f.write(block)
    os.sync()  # start every run with nothing dirty


def _measure(work: Path, load: str, code: str, *args: str) -> float:
    times: list[float] = []
    for run in range(RUNS):
        root = work / f"ingest-{load}-{len(times)}-{run}-{args[0] if args else 'ours'}"
        _make(root, load)
        times.append(child(code, str(root), *args)["seconds"])
        os.system(f"rm -rf '{root}'")
    return sorted(times)[len(times) // 2]


def run(work: Path) -> tuple[str, list[str]]:
    rows: list[list[object]] = []
    targets = Targets("P4")
    for load, label in (
        ("small", f"{SMALL_FILES:,} small files"),
        ("big", f"one {BIG_BYTES >> 20} MiB file"),
    ):
        ours = _measure(work, load, OURS, "quick", "first")
        checksum = _measure(work, load, OURS, "checksum", "first")
        base = _measure(work, load, BASELINE, "nosync")
        synced = _measure(work, load, BASELINE, "sync")
        quick_again = _measure(work, load, OURS, "quick", "again")
        checksum_again = _measure(work, load, OURS, "checksum", "again")
        rows.append(
            [
                label,
                fmt_s(ours),
                fmt_s(base),
                fmt_s(synced),
                f"{ours / base:.2f}x",
                f"{ours / synced:.2f}x",
                f"{fmt_s(checksum)} ({checksum / ours:.2f}x)",
                f"{fmt_s(quick_again)} / {fmt_s(checksum_again)}",
            ]
        )
        ok = ours / base <= 1.3
        name = f"{label}: {ours / base:.2f}x the cp + append baseline (target <= 1.3x)"
        targets.check(name, ok)
    header = [
        "load",
        "alchemy ingest",
        "cp + append",
        "cp + append + sync",
        "ours / cp",
        "ours / cp+sync",
        'compare = "checksum" (/ quick)',
        "nothing changed: quick / checksum",
    ]
    return section("ingest", __doc__, header, rows, targets)
