"""P6: `alchemy stage --jobs 2` against `alchemy stage` over two datasets.

Two datasets of small CSV files each, ingested, then staged from scratch with the defaults
on the instance of ``deploy/local.yaml`` (pooled SQLite event log): one dataset after the
other, and both at once in two processes (``--jobs 2``). Rounds alternate the two ways on
fresh instances; each figure is the median of its rounds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, SMOKE, Targets, section

FILES = 400 if not SMOKE else 5
ROUNDS = 2 if not SMOKE else 1
DATASETS = ("bench/a/1", "bench/b/1")


def _alchemy(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alchemy_assets.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        timeout=3600,
    )


def _stage_seconds(work: Path, name: str, jobs: int) -> float:
    fp, home = work / f"fp-{name}", work / f"home-{name}"
    for dataset in DATASETS:
        raw = fp / dataset / "raw" / "env0"
        raw.mkdir(parents=True)
        for i in range(FILES):
            (raw / f"f{i:05d}.csv").write_text(f"id,v\n{i},x\n")
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "local.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    _alchemy(env, "ingest", *DATASETS, "--root", str(fp))
    started = time.perf_counter()
    _alchemy(env, "stage", "--root", str(fp), "--jobs", str(jobs))
    seconds = time.perf_counter() - started
    shutil.rmtree(fp)
    shutil.rmtree(home)
    return seconds


def run(work: Path) -> tuple[str, list[str]]:
    times: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(ROUNDS):
        for jobs in (1, 2) if round_ % 2 == 0 else (2, 1):
            times[jobs].append(_stage_seconds(work, f"{round_}-{jobs}", jobs))
    one, two = (statistics.median(times[j]) for j in (1, 2))
    files = FILES * len(DATASETS)
    rows = [
        [
            "`alchemy stage` (one dataset after the other)",
            f"{files:,}",
            f"{one:.1f} s",
            f"{files / one:.1f}",
        ],
        ["`alchemy stage --jobs 2`", f"{files:,}", f"{two:.1f} s", f"{files / two:.1f}"],
    ]
    targets = Targets("P6")
    targets.note(f"--jobs 2 is {one / two:.2f}x one after the other, on {os.cpu_count()} cores")
    header = ["what", "files", "time", "files/s"]
    return section("two datasets at once", __doc__, header, rows, targets)
