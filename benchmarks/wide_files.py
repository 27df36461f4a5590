"""What one wide CSV costs the Dagster instance: ``alchemy ingest`` and ``alchemy stage`` of a
file of N columns (header and 3 rows) on a fresh root and a fresh ``DAGSTER_HOME`` (the pooled
SQLite instance of ``deploy/local.yaml``, what ``make demo`` uses).

Prints one JSON line per column count: the CSV's bytes, the largest stored event (its
``serialize_value`` bytes, and its kind), the largest metadata of any event, the bytes of
``DAGSTER_HOME`` after the stage (and the WAL files left in it), and the peak RSS of ``alchemy
stage``. ``python -m benchmarks.wide_files 20000 200000``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT

DATASET = "sp/wide/1.0"


def write_csv(path: Path, columns: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(f"c{i:06d}" for i in range(columns))
    rows = [",".join(str((i * 7 + r) % 1000) for i in range(columns)) for r in range(3)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path.stat().st_size


def _tree_bytes(folder: Path) -> tuple[int, int]:
    total = wal = 0
    for path in folder.rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            total += size
            if path.name.endswith("-wal"):
                wal += size
    return total, wal


def _peak_rss_mib(command: list[str], env: dict[str, str]) -> float:
    # GNU time's %M: the peak RSS (KiB) of the command it ran.
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr[-3000:]}")
    return int(result.stderr.strip().splitlines()[-1]) / 1024


def _largest_events(home: Path) -> dict[str, object]:
    code = """
import json, sys
import dagster as dg
from dagster._serdes import serialize_value
instance = dg.DagsterInstance.from_config(sys.argv[1])
largest, kind, metadata = 0, "", 0
for run in instance.get_runs():
    for entry in instance.all_logs(run.run_id):
        size = len(serialize_value(entry))
        if size > largest:
            kind = entry.dagster_event_type.value if entry.dagster_event_type else "log"
            largest = size
        event = entry.get_dagster_event() if entry.is_dagster_event else None
        data = getattr(event, "event_specific_data", None) if event else None
        for holder in ("materialization", "asset_observation", "evaluation"):
            inner = getattr(data, holder, None)
            if inner is not None and getattr(inner, "metadata", None) is not None:
                metadata = max(metadata, len(serialize_value(inner.metadata)))
print(json.dumps({"largest_event": largest, "largest_kind": kind, "largest_metadata": metadata}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code, str(home)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DAGSTER_HOME": str(home)},
    )
    value: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def measure(columns: int, work: Path) -> dict[str, object]:
    fp, home = work / f"fp{columns}", work / f"home{columns}"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "local.yaml", home / "dagster.yaml")
    csv_bytes = write_csv(fp / DATASET / "raw" / "env0" / "wide.csv", columns)
    env = {**os.environ, "DAGSTER_HOME": str(home), "FP_PREFIX": str(fp)}
    alchemy = str(Path(sys.executable).parent / "alchemy")
    subprocess.run([alchemy, "ingest", DATASET], env=env, check=True, capture_output=True)
    before, _ = _tree_bytes(home)
    rss = _peak_rss_mib([alchemy, "stage"], env)
    after, wal = _tree_bytes(home)
    return {
        "columns": columns,
        "csv_bytes": csv_bytes,
        **_largest_events(home),
        "dagster_home_growth": after - before,
        "wal_bytes": wal,
        "stage_peak_rss_mib": round(rss, 1),
    }


def main(argv: list[str]) -> None:
    counts = [int(a) for a in argv] or [20_000, 200_000]
    with tempfile.TemporaryDirectory(prefix="wide-") as tmp:
        for columns in counts:
            print(json.dumps(measure(columns, Path(tmp))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
