"""Run every benchmark, write ``benchmarks/RESULTS.md``, delete the large temp files.

``BENCH_SIZE=smoke`` runs each at a tiny size (the test suite does this); ``BENCH_DIR``
chooses where the temp files go (default: the system temp folder).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import (
    bench_dialect,
    bench_end_to_end,
    bench_ingest,
    bench_jobs,
    bench_many_datasets,
    bench_sampling,
    bench_sensor,
    bench_store,
)
from benchmarks.common import ROOT, SMOKE

BENCHMARKS = {
    "P1": bench_sampling.run,
    "P2": bench_sensor.run,
    "P3": bench_end_to_end.run,
    "P4": bench_ingest.run,
    "P5": bench_many_datasets.run,
    "P6": bench_jobs.run,
    "P7": bench_dialect.run,
    "P8": bench_store.run,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    output = Path(os.environ.get("BENCH_OUTPUT", ROOT / "benchmarks" / "RESULTS.md"))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    sections, missed = [], []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        for name in chosen:
            started = time.perf_counter()
            work = Path(tmp) / name
            work.mkdir()
            text, misses = BENCHMARKS[name](work)
            took = time.perf_counter() - started
            sections.append(text + f"\n_{name} took {took:.0f} s, at commit `{commit}`._\n")
            missed += misses
            print(f"{name}: done, {len(misses)} target(s) missed", flush=True)
    kept = _sections(output) if output.exists() else {}
    for name in chosen:
        kept.pop(name, None)
    sections = [*kept.values(), *sections]
    sections.sort(key=lambda text: (not text.startswith("## P"), text[3:5]))  # history last
    head = [
        "# Benchmark results",
        "",
        f"`make bench` ({'smoke size' if SMOKE else 'full size'}), last run at commit `{commit}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Every figure is a median over repeated runs, "
        "measured side by side with its baseline in the same run.",
        "",
        f"Targets missed in this run ({', '.join(chosen)}): "
        + ("none" if not missed else "; ".join(missed)),
        "",
    ]
    output.write_text("\n".join(head) + "\n" + "\n".join(sections))
    print(f"wrote {output}")
    return 0


def _sections(path: Path) -> dict[str, str]:
    """The ``## Pn`` sections of an earlier RESULTS.md, to keep those not run again."""
    parts = path.read_text().split("\n## ")[1:]
    return {part[:2]: "## " + part for part in parts}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
