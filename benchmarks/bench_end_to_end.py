"""P3: 10,000 small files from raw to sampled, against two references measured in the same run.

Ours: ``alchemy ingest``, then ``alchemy stage`` until every file is sampled (checked: each
partition's latest sample carries its manifest mtime), with the default options, with
``asset_checks = false`` (two stored check results per file fewer) and with
``bronze_events = false`` (one stored event per file fewer). References on the same SQLite
instance: one Dagster run per partition doing the same sampling (``execute_in_process`` with
``partition_key``, on a slice of the files), and the floor: storing one materialization event
per file (``report_runless_asset_event``), Dagster's own cost for recording a file at all.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import REPORT, SMOKE, Targets, child, fmt_s, section

FILES = 100 if SMOKE else 10_000
PER_RUN_SLICE = 10 if SMOKE else 100
FLOOR_SLICE = 50 if SMOKE else 1_000

SETUP = """
import os, sys, warnings
warnings.simplefilter("ignore")
from pathlib import Path
work, files = Path(sys.argv[1]), int(sys.argv[2])
os.environ["DAGSTER_HOME"] = str(work / "home")
(work / "home").mkdir(exist_ok=True)
(work / "home" / "dagster.yaml").write_text("telemetry:\\n  enabled: false\\n")
import dagster as dg
from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.lookup import latest_sampled_mtimes
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets.options import StagingOptions
layout = DatasetLayout.under(work / "fp", DatasetId("bench", "e2e", "1"))
spec = DatasetSpec(layout.dataset_id, StagingOptions())
"""

OURS = (
    REPORT
    + SETUP
    + """
import io, contextlib
OPTIONS = {"no-bronze": "bronze_events = false\\n", "no-checks": "asset_checks = false\\n"}
if sys.argv[3] in OPTIONS:
    layout.root.mkdir(parents=True, exist_ok=True)
    (layout.root / "alchemy.toml").write_text(OPTIONS[sys.argv[3]])
for i in range(files):
    path = layout.raw / "env0" / f"d{i // 1000}" / f"f{i}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"id,value\\n{i},{i * 2}\\n{i + 1},{i * 3}\\n")
quiet = io.StringIO()
started = time.perf_counter()
with contextlib.redirect_stdout(quiet):
    assert main(["ingest", "bench/e2e/1", "--root", str(work / "fp")]) == 0
ingest_seconds = time.perf_counter() - started
started = time.perf_counter()
with contextlib.redirect_stdout(quiet):
    assert main(["stage", "--root", str(work / "fp")]) == 0
stage_seconds = time.perf_counter() - started
instance = dg.DagsterInstance.get()
keys = instance.get_dynamic_partitions(spec.partitions_name)
sampled = latest_sampled_mtimes(instance, spec.sample_key, keys)
names = [f"env0/d{i // 1000}/f{i}.csv" for i in range(files)]
expected = {name: (layout.raw / name).stat().st_mtime for name in names}
assert sampled == expected, "per-partition mtimes are not exact"
runs = len(instance.get_run_records())
report(stage_seconds, ingest=ingest_seconds, runs=runs)
"""
)

PER_RUN = (
    REPORT
    + SETUP
    + """
from alchemy_assets.staging import due_on_demand
defs = build_defs([spec], AlchemyRoot(fp_prefix=str(work / "fp")))
job = defs.resolve_job_def(spec.job_name)
instance = dg.DagsterInstance.get()
keys = instance.get_dynamic_partitions(spec.partitions_name)[: files]
quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
started = time.perf_counter()
for key in keys:
    assert job.execute_in_process(instance=instance, partition_key=key, run_config=quiet).success
report(time.perf_counter() - started, files=len(keys))
"""
)

FLOOR = (
    REPORT
    + SETUP
    + """
instance = dg.DagsterInstance.get()
keys = instance.get_dynamic_partitions(spec.partitions_name)[: files]
started = time.perf_counter()
for key in keys:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=["bench", "floor"], partition=key, metadata={"mtime": 1.0}
        )
    )
report(time.perf_counter() - started, files=len(keys))
"""
)


def run(work: Path) -> tuple[str, list[str]]:
    folder = work / "e2e"
    folder.mkdir()
    ours = child(OURS, str(folder), str(FILES), "bronze")
    unchecked_folder = work / "e2e-no-checks"
    unchecked_folder.mkdir()
    unchecked = child(OURS, str(unchecked_folder), str(FILES), "no-checks")
    unchecked_rate = FILES / unchecked["seconds"]
    lean_folder = work / "e2e-no-bronze"
    lean_folder.mkdir()
    lean = child(OURS, str(lean_folder), str(FILES), "no-bronze")
    lean_rate = FILES / lean["seconds"]
    per_run = child(PER_RUN, str(folder), str(PER_RUN_SLICE))
    floor = child(FLOOR, str(folder), str(FLOOR_SLICE))
    rate = FILES / ours["seconds"]
    per_run_rate = per_run["files"] / per_run["seconds"]
    floor_rate = floor["files"] / floor["seconds"]
    rows = [
        [
            "ours: `alchemy stage`",
            f"{FILES:,}",
            fmt_s(ours["seconds"]),
            f"{rate:.1f}",
            f"{int(ours['runs'])} runs",
        ],
        [
            "ours, with `asset_checks = false`",
            f"{FILES:,}",
            fmt_s(unchecked["seconds"]),
            f"{unchecked_rate:.1f}",
            f"{int(unchecked['runs'])} runs",
        ],
        [
            "ours, with `bronze_events = false`",
            f"{FILES:,}",
            fmt_s(lean["seconds"]),
            f"{lean_rate:.1f}",
            f"{int(lean['runs'])} runs",
        ],
        [
            "one run per partition",
            f"{int(per_run['files'])}",
            fmt_s(per_run["seconds"]),
            f"{per_run_rate:.1f}",
            "reference",
        ],
        [
            "floor: one stored event per file",
            f"{int(floor['files'])}",
            fmt_s(floor["seconds"]),
            f"{floor_rate:.1f}",
            "reference",
        ],
        [
            "(`alchemy ingest` of the same files)",
            f"{FILES:,}",
            fmt_s(ours["ingest"]),
            f"{FILES / ours['ingest']:.0f}",
            "",
        ],
    ]
    targets = Targets("P3")
    speedup = rate / per_run_rate
    targets.check(f"{speedup:.1f}x the one-run-per-file rate (target >= 20x)", speedup >= 20)
    targets.note(f"{floor_rate / rate:.2f}x from the floor (one stored event per file)")
    targets.note(
        f"with `asset_checks = false`: {unchecked_rate:.1f} files/s, "
        f"{unchecked_rate / per_run_rate:.1f}x the one-run-per-file rate"
    )
    targets.note(
        f"with `bronze_events = false`: {lean_rate / per_run_rate:.1f}x the one-run-per-file "
        f"rate, {floor_rate / lean_rate:.2f}x from the floor"
    )
    header = ["what", "files", "time", "files/s", ""]
    return section("end to end", __doc__, header, rows, targets)
