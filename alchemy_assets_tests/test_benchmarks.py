"""The benchmarks run (at a tiny size) and write their results table: they cannot rot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["P1", "P2", "P3", "P4", "P5", "P6", "P7"])
def test_each_benchmark_runs_at_smoke_size_and_reports(tmp_path: Path, name: str) -> None:
    output = tmp_path / "RESULTS.md"
    env = {
        **os.environ,
        "BENCH_SIZE": "smoke",
        "BENCH_OUTPUT": str(output),
        "BENCH_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", name],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = output.read_text()
    assert text.startswith("# Benchmark results") and f"## {name} " in text
    assert "| --- |" not in text and "|---|" in text
    assert [p.name for p in tmp_path.iterdir()] == ["RESULTS.md"]  # temp files are gone
