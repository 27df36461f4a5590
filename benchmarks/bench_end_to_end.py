"""P3: small files from raw to sampled, on each event log storage, against references measured
in the same run, in alternated rounds (each row's figure is the median of its rounds).

Ours: ``alchemy ingest``, then ``alchemy stage`` until every file is sampled (checked: each
partition's latest sample carries its manifest mtime), with the default options (every event
the UI shows: a bronze and a sample materialization and two check results per file), and in
bulk mode (``bronze_events = false`` and ``asset_checks = false``: one stored event per file).
Storages: Dagster's stock SQLite event log, ``PooledSqliteEventLogStorage``
(``alchemy_assets.instance_storage.sqlite``) and, where a PostgreSQL server is given
(``ALCHEMY_TEST_POSTGRES``), stock dagster-postgres and ``PooledPostgresEventLogStorage``
(with and without ``synchronous_commit``). References on the same instance: one Dagster run
per partition doing the same sampling (``execute_in_process`` with ``partition_key``, on a
slice of the files), and the floor: storing one materialization event per file
(``report_runless_asset_event``), Dagster's own cost for recording a file at all.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import REPORT, SMOKE, Targets, child, fmt_s, section

# At smoke size (the test suite) only that every row is measured and reported: a few files.
FILES = int(os.environ.get("BENCH_P3_FILES", 12 if SMOKE else 10_000))
PG_FILES = int(os.environ.get("BENCH_P3_PG_FILES", 6 if SMOKE else FILES // 4))
ROUNDS = int(os.environ.get("BENCH_P3_ROUNDS", 1 if SMOKE else 2))
PER_RUN_SLICE = 3 if SMOKE else 100
FLOOR_SLICE = 10 if SMOKE else 1_000
POSTGRES = os.environ.get("ALCHEMY_TEST_POSTGRES") or None

SQLITE_POOLED = """event_log_storage:
  module: alchemy_assets.instance_storage.sqlite
  class: PooledSqliteEventLogStorage
"""

SETUP = """
import os, sys, warnings
warnings.simplefilter("ignore")
from pathlib import Path
work, files, instance_yaml = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.environ["DAGSTER_HOME"] = str(work / "home")
(work / "home").mkdir(exist_ok=True)
if not (work / "home" / "dagster.yaml").exists():
    (work / "home" / "dagster.yaml").write_text("telemetry:\\n  enabled: false\\n" + instance_yaml)
import dagster as dg
from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.lookup import latest_sampled_deliveries
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
if sys.argv[4]:
    layout.root.mkdir(parents=True, exist_ok=True)
    (layout.root / "alchemy.toml").write_text(sys.argv[4])
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
held = latest_sampled_deliveries(instance, spec.sample_key, keys)
sampled = {key: delivery.mtime for key, delivery in held.items()}
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

BULK = "bronze_events = false\nasset_checks = false\n"


@contextlib.contextmanager
def postgres_instance(
    admin_url: str, pooled: bool, synchronous_commit: bool = True
) -> Iterator[str]:
    """Instance config on a new database of the server at ``admin_url``, dropped afterwards."""
    import psycopg2

    name = f"alchemy_bench_{uuid.uuid4().hex[:10]}"
    _admin(psycopg2, admin_url, f"CREATE DATABASE {name}")
    _, _, rest = admin_url.partition("://")
    url = f"postgresql+psycopg2://{rest.rpartition('/')[0]}/{name}"
    text = ""
    for key, module, cls in [
        ("run_storage", "dagster_postgres", "PostgresRunStorage"),
        ("schedule_storage", "dagster_postgres", "PostgresScheduleStorage"),
        ("event_log_storage", "dagster_postgres", "PostgresEventLogStorage"),
    ]:
        if key == "event_log_storage" and pooled:
            module = "alchemy_assets.instance_storage.postgres"
            cls = "PooledPostgresEventLogStorage"
        text += f"{key}:\n  module: {module}\n  class: {cls}\n  config:\n    postgres_url: {url}\n"
    if pooled:
        text += f"    synchronous_commit: {'true' if synchronous_commit else 'false'}\n"
    try:
        yield text
    finally:
        _admin(psycopg2, admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin(psycopg2: Any, admin_url: str, statement: str) -> None:
    conn = psycopg2.connect(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def _fresh(work: Path, name: str) -> str:
    folder = work / f"{name}-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    return str(folder)


def run(work: Path) -> tuple[str, list[str]]:
    rates: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    runs: dict[str, int] = {}

    def record(name: str, result: dict[str, float], files: int) -> None:
        rates.setdefault(name, []).append(files / result["seconds"])
        seconds.setdefault(name, []).append(result["seconds"])
        counts[name] = files
        if "runs" in result:
            runs[name] = int(result["runs"])

    for _ in range(ROUNDS):
        for name, instance_yaml in [("stock", ""), ("pooled", SQLITE_POOLED)]:
            folder = _fresh(work, name)
            record(f"{name} stage", child(OURS, folder, str(FILES), instance_yaml, ""), FILES)
            per_run = child(PER_RUN, folder, str(PER_RUN_SLICE), instance_yaml)
            record(f"{name} per run", per_run, int(per_run["files"]))
            floor = child(FLOOR, folder, str(FLOOR_SLICE), instance_yaml)
            record(f"{name} floor", floor, int(floor["files"]))
            bulk = child(OURS, _fresh(work, name), str(FILES), instance_yaml, BULK)
            record(f"{name} bulk", bulk, FILES)
        if POSTGRES:
            for name, pooled, sync in [
                ("postgres", False, True),
                ("postgres pooled", True, True),
                ("postgres pooled async", True, False),
            ]:
                with postgres_instance(POSTGRES, pooled, sync) as instance_yaml:
                    result = child(OURS, _fresh(work, name), str(PG_FILES), instance_yaml, "")
                record(f"{name} stage", result, PG_FILES)
                # SQLite side by side at the same size, in the same round.
                if name == "postgres":
                    for lite, lite_yaml in [("stock", ""), ("pooled", SQLITE_POOLED)]:
                        small = child(OURS, _fresh(work, lite), str(PG_FILES), lite_yaml, "")
                        record(f"{lite} stage small", small, PG_FILES)

    def rate(name: str) -> float:
        return statistics.median(rates[name])

    def row(label: str, name: str, note: str) -> list[str]:
        return [
            label,
            f"{counts[name]:,}",
            fmt_s(statistics.median(seconds[name])),
            f"{rate(name):.1f}",
            note.format(runs=runs.get(name, 0)),
        ]

    rows = [
        row("`alchemy stage`, stock SQLite", "stock stage", "{runs} runs"),
        row("`alchemy stage`, pooled SQLite", "pooled stage", "{runs} runs"),
        row("bulk mode, stock SQLite", "stock bulk", "{runs} runs"),
        row("bulk mode, pooled SQLite", "pooled bulk", "{runs} runs"),
        row("one run per partition, stock SQLite", "stock per run", "reference"),
        row("one run per partition, pooled SQLite", "pooled per run", "reference"),
        row("floor: one stored event per file, stock SQLite", "stock floor", "reference"),
        row("floor: one stored event per file, pooled SQLite", "pooled floor", "reference"),
    ]
    if POSTGRES:
        rows += [
            row("`alchemy stage`, stock SQLite (same size as PostgreSQL)", "stock stage small", ""),
            row("`alchemy stage`, pooled SQLite (same size)", "pooled stage small", ""),
            row("`alchemy stage`, stock dagster-postgres", "postgres stage", ""),
            row("`alchemy stage`, pooled PostgreSQL", "postgres pooled stage", ""),
            row(
                "`alchemy stage`, pooled PostgreSQL, `synchronous_commit: false`",
                "postgres pooled async stage",
                "",
            ),
        ]
    targets = Targets("P3")
    stock_ref = rate("stock per run")
    speedup = rate("pooled stage") / stock_ref
    targets.check(
        f"pooled SQLite: {speedup:.1f}x the one-run-per-file rate on stock SQLite (target >= 20x)",
        speedup >= 20,
    )
    targets.note(
        f"pooled SQLite: {rate('pooled stage') / rate('pooled per run'):.1f}x one run per file "
        f"on the same pooled storage; {rate('pooled stage') / rate('stock stage'):.2f}x "
        "`alchemy stage` on stock SQLite"
    )
    targets.note(
        f"stock SQLite: {rate('stock stage') / stock_ref:.1f}x the one-run-per-file rate "
        "(the figure before the pooled storage)"
    )
    targets.check(
        f"bulk mode, pooled SQLite: {rate('pooled bulk'):.1f} files/s (target >= 60)",
        rate("pooled bulk") >= 60,
    )
    targets.note(
        f"pooled SQLite: {rate('pooled floor') / rate('pooled stage'):.2f}x from the floor; "
        f"bulk mode {rate('pooled floor') / rate('pooled bulk'):.2f}x from it"
    )
    if POSTGRES:
        for name in ["postgres stage", "postgres pooled stage", "postgres pooled async stage"]:
            targets.note(
                f"{name}: {rate(name) / rate('stock stage small'):.2f}x stock SQLite, "
                f"{rate(name) / rate('pooled stage small'):.2f}x pooled SQLite"
            )
        targets.check(
            "pooled PostgreSQL not slower than stock SQLite: "
            f"{rate('postgres pooled stage') / rate('stock stage small'):.2f}x",
            rate("postgres pooled stage") >= rate("stock stage small"),
        )
    targets.note(f"{ROUNDS} alternated round(s); each figure is the median of its rounds")
    header = ["what", "files", "time", "files/s", ""]
    return section("end to end", __doc__, header, rows, targets)
