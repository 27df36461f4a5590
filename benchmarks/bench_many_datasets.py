"""P5: many datasets under one root, each with its own sensor, under `dagster dev`.

200 idle datasets (a manifest with no line yet), each sensor at the default 30 s interval,
watched for 100 s after the code location loaded: how many sensors ticked within their first
interval, and the longest gap between two ticks of one sensor. Side by side in one run: the
daemon evaluating sensors one after the other (Dagster's default) and in threads
(``sensors: use_threads: true, num_workers: 8`` in ``dagster.yaml``, what ``make demo`` and
``deploy/dagster.yaml`` set).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from alchemy_assets.dagster_adapters.discovery import DISCOVERY_SENSOR
from benchmarks.common import ROOT, SMOKE, Targets, section

DATASETS = 200 if not SMOKE else 6
INTERVAL = 30 if not SMOKE else 3
WATCH_SECONDS = 100 if not SMOKE else 7
THREADED = "sensors:\n  use_threads: true\n  num_workers: 8\n"
CONFIGS = {"one after the other (Dagster's default)": "", "in 8 threads": THREADED}

TICKS = """
query {
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { sensors { name sensorState { ticks(limit: 100) { timestamp } } } }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _graphql(url: str, query: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data: dict[str, object] = json.loads(response.read())["data"]
        return data


def _ticks(url: str) -> dict[str, list[float]]:
    found = _graphql(url, TICKS)["repositoriesOrError"]
    nodes = found.get("nodes", []) if isinstance(found, dict) else []
    return {
        s["name"]: sorted(t["timestamp"] for t in s["sensorState"]["ticks"])
        for node in nodes
        for s in node["sensors"]
        if s["name"] != DISCOVERY_SENSOR  # one per code location, not a dataset's
    }


def _datasets(fp: Path) -> None:
    for i in range(DATASETS):
        root = fp / "bench" / f"ds{i:03d}" / "1"
        (root / "manifests").mkdir(parents=True)
        (root / "manifests" / "processed.jsonl").touch()
        (root / "alchemy.toml").write_text(f"sensor_interval_seconds = {INTERVAL}\n")


def _watch(work: Path, fp: Path, settings: str) -> dict[str, float]:
    home = work / f"home{len(list(work.glob('home*')))}"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + settings)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FP_PREFIX": str(fp), "DAGSTER_HOME": str(home)}
    dagster = Path(sys.executable).with_name("dagster")
    log = (home / "dev.log").open("wb")
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if len(_ticks(url)) >= DATASETS:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"dagster dev did not load: see {home / 'dev.log'}")
            time.sleep(1)
        loaded = time.time()
        time.sleep(WATCH_SECONDS)
        ticks = _ticks(url)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        log.close()
    first_in_time = sum(1 for t in ticks.values() if t and t[0] <= loaded + INTERVAL)
    gaps = [b - a for t in ticks.values() for a, b in itertools.pairwise(t)]
    never = sum(1 for t in ticks.values() if not t)
    return {
        "first_in_time": first_in_time,
        "never": never,
        "max_gap": max(gaps, default=float("inf")),
        "ticks": sum(len(t) for t in ticks.values()),
    }


def run(work: Path) -> tuple[str, list[str]]:
    fp = work / "fp"
    _datasets(fp)
    targets = Targets("P5")
    rows = []
    measured = {}
    for name, settings in CONFIGS.items():
        m = _watch(work, fp, settings)
        measured[name] = m
        rows.append(
            [
                name,
                f"{m['first_in_time']:.0f} of {DATASETS}",
                f"{m['never']:.0f}",
                f"{m['max_gap']:.0f} s",
                f"{m['ticks']:.0f}",
            ]
        )
    threaded = measured["in 8 threads"]
    targets.check(
        f"with threads, every sensor ticked within its first {INTERVAL} s "
        f"({threaded['first_in_time']:.0f} of {DATASETS})",
        threaded["first_in_time"] == DATASETS,
    )
    targets.check(
        f"with threads, no gap between two ticks of a sensor above its interval + 15 s "
        f"({threaded['max_gap']:.0f} s)",
        threaded["max_gap"] <= INTERVAL + 15,
    )
    header = [
        "sensor evaluation",
        f"sensors ticked within {INTERVAL} s of load",
        f"never ticked in {WATCH_SECONDS} s",
        "longest gap between ticks",
        "ticks in all",
    ]
    return section(f"{DATASETS} datasets' sensors", __doc__, header, rows, targets)
