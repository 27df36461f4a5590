"""Exactly once with the daemon running (issue 12, item 2): `alchemy stage`, twice at once,
beside `dagster dev` whose sensor requests runs for the same deliveries every second; every
(file, mtime) is sampled and recorded once, new files and re-deliveries alike."""

import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets_tests.conftest import FIGURES, RawWriter, sampled_mtimes
from alchemy_assets_tests.ui import DagsterDev, sensor_ticks, wait_for

FILES = 16
REDELIVERED = 6
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _stages(fp_prefix: Path, home: Path) -> list[str]:
    """Two `alchemy stage` at once; their outputs once both are done."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    command = [sys.executable, "-m", "alchemy_assets.cli", "stage", "--root", str(fp_prefix)]
    stages = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = []
    for stage in stages:
        out, _ = stage.communicate(timeout=300)
        assert stage.returncode == 0, out.decode(errors="replace")
        outputs.append(out.decode(errors="replace"))
    return outputs


def _settle(
    instance: dg.DagsterInstance, spec: DatasetSpec, expected: int, dev: DagsterDev
) -> None:
    """Wait until ``expected`` deliveries are sampled, no run is in progress, and since then
    the sensor has ticked twice and requested nothing (it ticks every second and reads the
    whole manifest in one tick: any run it would still ask for, it asks for in those ticks)."""

    def sampled() -> bool:
        return len(Counter(sampled_mtimes(instance, spec))) >= expected

    wait_for(sampled, 240, f"{expected} deliveries sampled", dev.log_tail)
    quiet_since: float | None = None

    def in_progress() -> bool:
        return bool(instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS)))

    def quiet() -> bool:
        nonlocal quiet_since
        if in_progress():
            quiet_since = None
            return False
        if quiet_since is None:
            quiet_since = time.time()  # tick timestamps are wall-clock times
            return False
        since = [
            t for t in sensor_ticks(dev.graphql, spec.sensor_name) if t["timestamp"] > quiet_since
        ]
        if any(t["status"] not in {"SKIPPED", "STARTED"} for t in since):
            quiet_since = None  # a tick that requested runs (or failed): wait again
            return False
        # Runs again: a tick that ended just now may have queued a run after the first look.
        return sum(t["status"] == "SKIPPED" for t in since) >= 2 and not in_progress()

    wait_for(quiet, 240, "no run in progress and two sensor ticks with nothing to do", dev.log_tail)


@pytest.mark.parametrize("instance", ["sqlite"], indirect=True)
@pytest.mark.timeout(900)  # dagster dev and its runs: past the 300 s default on a slow CI
def test_stages_beside_the_sensors_runs_sample_each_delivery_once(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
) -> None:
    home = Path(instance.root_directory)
    (layout.root / "alchemy.toml").write_text(
        "sensor_interval_seconds = 1\npartitions_per_run = 4\n"
    )
    for i in range(FILES):
        write_raw(f"env0/f{i:02d}.csv", b"v\n%d\n" % i, 1000.0 + i)
    ingest(layout)
    with DagsterDev.start(fp_prefix=fp_prefix, dagster_home=home) as dev:
        outputs = _stages(fp_prefix, home)
        _settle(instance, spec, FILES, dev)
        for i in range(REDELIVERED):
            write_raw(f"env0/f{i:02d}.csv", b"v\n%d\n" % (i + 100), 5000.0 + i)
        ingest(layout)
        outputs += _stages(fp_prefix, home)
        _settle(instance, spec, FILES + REDELIVERED, dev)
    samples = Counter(sampled_mtimes(instance, spec))
    duplicates = {pair: n for pair, n in samples.items() if n > 1}
    assert duplicates == {}, (duplicates, outputs)
    assert len(samples) == FILES + REDELIVERED
    FIGURES["stages beside the sensor, duplicate materializations"] += sum(
        n - 1 for n in samples.values()
    )
    FIGURES["stages beside the sensor, deliveries left to another run"] += sum(
        int(m.group(1))
        for out in outputs
        for m in re.finditer(r"(\d+) file\(s\) not sampled again", out)
    )
