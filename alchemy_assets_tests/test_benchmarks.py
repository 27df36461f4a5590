"""The benchmarks run (at a tiny size) and write their results table: they cannot rot."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alchemy_assets.stage_object import FETCH_LIMIT

PROJECT = Path(__file__).resolve().parent.parent
# The most one benchmark may take at smoke size (pytest's timeout is 300 s).
SMOKE_SECONDS = 270


def _smoke(tmp_path: Path, name: str) -> str:
    """The RESULTS.md benchmark ``name`` writes at smoke size (its temp files are gone)."""
    output = tmp_path / "RESULTS.md"
    env = {
        **os.environ,
        "BENCH_SIZE": "smoke",
        "BENCH_OUTPUT": str(output),
        "BENCH_DIR": str(tmp_path),
    }
    # A session of its own: on a timeout the benchmark's children (moto's server among them)
    # are killed with it. Below pytest's own timeout, so a hang fails this test alone.
    with subprocess.Popen(
        [sys.executable, "-m", "benchmarks.run_all", name],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as bench:
        try:
            _, stderr = bench.communicate(timeout=SMOKE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.communicate()
            raise
    assert bench.returncode == 0, stderr[-3000:]
    text = output.read_text()
    assert text.startswith("# Benchmark results") and f"## {name} " in text
    assert "| --- |" not in text and "|---|" in text
    assert [p.name for p in tmp_path.iterdir()] == ["RESULTS.md"]  # temp files are gone
    return text


def _rows(section: str, heading: str) -> list[list[str]]:
    """The body rows of the table under ``heading`` (a ``### `` line), cell by cell."""
    after = section.split(f"### {heading}", 1)[1].split("\n\n", 2)[1]
    return [line.strip("| ").split(" | ") for line in after.splitlines()[2:]]


def _requests(cell: str) -> dict[str, int]:
    return {method: int(n) for n, method in re.findall(r"(\d+) (GET|HEAD|PUT|POST|DELETE)", cell)}


@pytest.mark.parametrize("name", ["P1", "P2", "P3", "P4", "P5", "P6", "P7"])
def test_each_benchmark_runs_at_smoke_size_and_reports(tmp_path: Path, name: str) -> None:
    _smoke(tmp_path, name)


def test_the_store_benchmark_counts_each_request_and_samples_what_the_disk_samples(
    tmp_path: Path,
) -> None:
    section = _smoke(tmp_path, "P8").split("## P8 ", 1)[1]
    sampling = _rows(section, "Sampling")
    assert [row[:2] for row in sampling] == [
        ["csv", "1 MB"],
        ["csv", "4 MB"],
        ["parquet", "1 MB"],
        ["parquet", "4 MB"],
    ]
    for kind, _, _, _, requests, fetched, _, read, *_ in sampling:
        # One HEAD, then ranged GETs, never more than a sample may fetch.
        assert _requests(requests).keys() == {"HEAD", "GET"} and _requests(requests)["HEAD"] == 1
        assert 0 < int(fetched.removesuffix(" KiB")) * 1024 <= FETCH_LIMIT
        if kind == "csv":
            assert (requests, fetched, read) == ("1 GET + 1 HEAD", "64 KiB", "64 KiB")
    assert "- met: every sample on the store is the same bytes as the same sample on disk" in (
        section
    )
    disk, store = _rows(section, "Staging")
    assert disk[:2] == ["local disk", "12"] and store[:2] == ["S3 (moto)", "12"]
    assert float(store[4]) > 0 and float(disk[4]) > 0  # files/s
    ours, bare, threaded, on_disk = _rows(section, "Ingest")
    # A put-if-absent copy is a multipart copy (two POSTs, a PUT) and a HEAD after it.
    seen = _requests(ours[4])
    assert seen["HEAD"] == 20 and seen["POST"] >= 40 and seen["PUT"] >= 20
    assert _requests(bare[4]) == _requests(threaded[4]) == {"GET": 1, "PUT": 21}
    assert bare[5] == "1.00x" and on_disk[4] == "-"
    assert re.search(r"- (met|\*\*missed\*\*): ingest: 20 objects in [\d.]+x the bare", section)
