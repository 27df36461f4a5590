"""Shared helpers: child processes that report time and peak RSS, medians, Markdown tables."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SMOKE = os.environ.get("BENCH_SIZE", "full") == "smoke"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measure:
    """Median seconds, median peak RSS (MiB) and median bytes read (where the child reports
    them) over ``runs`` repetitions."""

    seconds: float
    rss_mib: float
    runs: int
    bytes_read: float = 0


def child(
    code: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> dict[str, float]:
    """Run ``code`` in a fresh Python; it must print one JSON object as its last line.

    ``env``: variables added to this process's; ``timeout``: seconds after which the child
    is killed and :class:`subprocess.TimeoutExpired` raised."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **env} if env else None,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {result.stderr[-3000:]}")
    value: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def repeat(runs: int, code: str, *args: str) -> Measure:
    samples = [child(code, *args) for _ in range(runs)]
    return Measure(
        statistics.median(s["seconds"] for s in samples),
        statistics.median(s["rss_mib"] for s in samples),
        runs,
        statistics.median(s.get("bytes_read", 0) for s in samples),
    )


# Prepended to child code: how a child reports its own time and peak RSS. VmHWM, not
# ru_maxrss: after a vfork + exec, ru_maxrss still counts the parent's pages.
REPORT = """
import json, time
def peak_rss_mib():
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
def report(seconds, **extra):
    print(json.dumps({"seconds": seconds, "rss_mib": peak_rss_mib(), **extra}))
"""


def evict(path: Path) -> None:
    """Drop ``path`` from the page cache, so a read really goes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


@dataclass
class Targets:
    """The target lines of one benchmark's section, and which of them were missed."""

    bench: str
    lines: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool) -> None:
        self.lines.append(f"- {verdict(ok)}: {name}")
        if not ok:
            self.missed.append(f"{self.bench} {name}")

    def note(self, text: str) -> None:
        self.lines.append(f"- {text}")


def section(
    title: str,
    doc: str | None,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    targets: Targets,
) -> tuple[str, list[str]]:
    """A Markdown section: title, the module docstring's body, the table, the targets."""
    body = (doc or "").split("\n\n", 1)[1]
    text = f"## {targets.bench} {title}\n\n{body}\n{table(header, rows)}\n\n"
    return text + "\n".join(targets.lines) + "\n", targets.missed
