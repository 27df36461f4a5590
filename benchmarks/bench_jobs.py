"""P6: `alchemy stage --jobs 2` against `alchemy stage` over two datasets.

Two datasets of small CSV files each, ingested, then staged from scratch with the defaults
on the instance of ``deploy/local.yaml`` (pooled SQLite event log) and, where a PostgreSQL
server is given (``ALCHEMY_TEST_POSTGRES``), on a new database with dagster-postgres's run
storage and ``PooledPostgresEventLogStorage`` (as ``deploy/dagster.yaml``): one dataset after
the other, and both at once in two processes (``--jobs 2``). Rounds alternate the ways on
fresh instances; each figure is the median of its rounds.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from alchemy_assets import cli
from benchmarks.bench_end_to_end import POSTGRES, postgres_instance
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


def _stage_seconds(work: Path, name: str, jobs: int, postgres: bool) -> float:
    fp, home = work / f"fp-{name}", work / f"home-{name}"
    for dataset in DATASETS:
        raw = fp / dataset / "raw" / "env0"
        raw.mkdir(parents=True)
        for i in range(FILES):
            (raw / f"f{i:05d}.csv").write_text(f"id,v\n{i},x\n")
    home.mkdir()
    with contextlib.ExitStack() as stack:
        if postgres:
            assert POSTGRES
            storage = stack.enter_context(postgres_instance(POSTGRES, pooled=True))
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + storage)
        else:
            shutil.copy(ROOT / "deploy" / "local.yaml", home / "dagster.yaml")
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        # Ingest is not measured (nor does it touch the Dagster instance): in this process,
        # which spares a Python start-up per way.
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["ingest", *DATASETS, "--root", str(fp)]) == 0
        started = time.perf_counter()
        _alchemy(env, "stage", "--root", str(fp), "--jobs", str(jobs))
        seconds = time.perf_counter() - started
    shutil.rmtree(fp)
    shutil.rmtree(home)
    return seconds


def run(work: Path) -> tuple[str, list[str]]:
    storages = [False, True] if POSTGRES else [False]
    times: dict[tuple[bool, int], list[float]] = {(pg, j): [] for pg in storages for j in (1, 2)}
    for round_ in range(ROUNDS):
        for postgres in storages:
            for jobs in (1, 2) if round_ % 2 == 0 else (2, 1):
                name = f"{round_}-{jobs}-{'pg' if postgres else 'lite'}"
                times[postgres, jobs].append(_stage_seconds(work, name, jobs, postgres))
    median = {key: statistics.median(values) for key, values in times.items()}
    files = FILES * len(DATASETS)
    targets = Targets("P6")
    rows = []
    for postgres in storages:
        storage = "pooled PostgreSQL" if postgres else "pooled SQLite"
        one, two = median[postgres, 1], median[postgres, 2]
        rows += [
            [
                f"`alchemy stage` (one dataset after the other), {storage}",
                f"{files:,}",
                f"{one:.1f} s",
                f"{files / one:.1f}",
            ],
            [
                f"`alchemy stage --jobs 2`, {storage}",
                f"{files:,}",
                f"{two:.1f} s",
                f"{files / two:.1f}",
            ],
        ]
        targets.note(
            f"{storage}: --jobs 2 is {one / two:.2f}x one after the other, "
            f"on {os.cpu_count()} cores"
        )
    if POSTGRES:
        targets.note(
            "pooled PostgreSQL / pooled SQLite: "
            f"{median[False, 1] / median[True, 1]:.2f}x one after the other, "
            f"{median[False, 2] / median[True, 2]:.2f}x with --jobs 2"
        )
    header = ["what", "files", "time", "files/s"]
    return section("two datasets at once", __doc__, header, rows, targets)
