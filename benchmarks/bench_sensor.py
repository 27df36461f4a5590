"""P2: sensor ticks over manifests of 10^4, 10^5 and 10^6 lines, half of whose files are sampled.

Cold: from an empty cursor, ticks (at the default cap of 10,000 lines each) until the
manifest is drained; "evaluation" is the sensor function (what counts against Dagster's 60 s
timeout), "apply" is what the daemon then does with the result before launching runs (add the
partitions, store the manifest observation). Incremental: one tick after 100 more lines, in a
fresh process (its peak RSS is the tick's, not the set-up's). Baseline, on the 10^4 manifest:
the seed's approach (re-read the whole manifest, one ``fetch_materializations`` per line).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import REPORT, SMOKE, Targets, child, fmt_s, section

SIZES = [10_000, 100_000, 1_000_000] if not SMOKE else [500, 2_000]
INCREMENT = 100

SETUP = """
import json, sys, warnings
warnings.simplefilter("ignore")
from pathlib import Path
import dagster as dg
from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.options import StagingOptions
work, lines = Path(sys.argv[1]), int(sys.argv[2])
layout = DatasetLayout.under(work / "fp", DatasetId("bench", "sensor", "1"))
spec = DatasetSpec(layout.dataset_id, StagingOptions())
defs = build_defs([spec], AlchemyRoot(fp_prefix=str(work / "fp")))
(work / "home").mkdir(exist_ok=True)
instance = dg.DagsterInstance.local_temp(str(work / "home"))
sensor = defs.resolve_sensor_def(spec.sensor_name)

def line(i):
    name = f"d{i // 1000}/f{i}.csv"
    return encode_line(f"raw/env0/{name}", f"bronze/2026/01/01/000000--{name}", 1.0)

def evaluate(cursor):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=dict(defs.resources)
    )
    started = time.perf_counter()
    result = sensor(context)
    return result, time.perf_counter() - started

def files_requested(result):
    configs = [next(iter(r.run_config["ops"].values())) for r in result.run_requests]
    return sum(len(config["config"]["files"]) for config in configs)

def apply(result):
    started = time.perf_counter()
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            keys = list(request.partition_keys)
            instance.add_dynamic_partitions(request.partitions_def_name, keys)
        for event in result.asset_events:
            instance.report_runless_asset_event(event)
    return time.perf_counter() - started
"""

COLD = (
    REPORT
    + SETUP
    + """
from benchmarks.seed import seed_samples
from alchemy_assets.partition_keys import encode_key
layout.ensure()
with layout.manifest.open("wb") as f:
    for start in range(0, lines, 10_000):
        f.write(b"".join(line(i) for i in range(start, min(lines, start + 10_000))))
half = [encode_key(f"env0/d{i // 1000}/f{i}.csv") for i in range(lines // 2)]
for start in range(0, len(half), 5_000):
    instance.add_dynamic_partitions(spec.partitions_name, half[start:start + 5_000])
seed_samples(instance, spec.sample_key, half, 1.0)
cursor, ticks, evaluation, applying, slowest, max_lines, due = None, 0, 0.0, 0.0, 0.0, 0, 0
while True:
    result, seconds = evaluate(cursor)
    if isinstance(result, dg.SkipReason):
        break
    ticks += 1
    evaluation += seconds
    slowest = max(slowest, seconds)
    lines_read = result.asset_events[0].metadata["lines_this_tick"].value
    max_lines = max(max_lines, lines_read)
    due += files_requested(result)
    applying += apply(result)
    cursor = result.cursor
(work / "cursor.json").write_text(cursor)
with layout.manifest.open("ab") as f:
    f.write(b"".join(line(i) for i in range(lines, lines + INCREMENT)))
report(evaluation, ticks=ticks, applying=applying, slowest=slowest, max_lines=max_lines, due=due)
""".replace("INCREMENT", str(INCREMENT))
)

INCREMENTAL = (
    REPORT
    + SETUP
    + """
result, seconds = evaluate((work / "cursor.json").read_text())
assert isinstance(result, dg.SensorResult)
due = files_requested(result)
report(seconds, due=due)
"""
)

SEED_BASELINE = (
    REPORT
    + SETUP
    + """
# The seed's staging loop: re-read the whole manifest, one look-up per line.
started = time.perf_counter()
due = 0
for raw_line in open(layout.manifest, "rb"):
    entry = json.loads(raw_line)
    key = entry["raw"][len("raw/"):]
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key, asset_partitions=[key]), limit=1
    ).records
    latest = records[0].asset_materialization.metadata["mtime"].value if records else None
    due += latest != entry["mtime"]
report(time.perf_counter() - started, due=due)
"""
)


def run(work: Path) -> tuple[str, list[str]]:
    rows: list[list[object]] = []
    targets = Targets("P2")
    cold: dict[int, dict[str, float]] = {}
    for lines in SIZES:
        folder = work / f"sensor-{lines}"
        folder.mkdir()
        cold[lines] = c = child(COLD, str(folder), str(lines))
        inc = child(INCREMENTAL, str(folder), str(lines))
        rows.append(
            [
                f"{lines:,}",
                int(c["ticks"]),
                fmt_s(c["seconds"]),
                fmt_s(c["slowest"]),
                f"{int(c['max_lines']):,}",
                f"{int(c['due']):,}",
                fmt_s(c["applying"]),
                f"{c['rss_mib']:.0f} MiB",
                fmt_s(inc["seconds"]),
                f"{inc['rss_mib']:.0f} MiB",
            ]
        )
        if lines == SIZES[0]:
            base = child(SEED_BASELINE, str(folder), str(lines))
            ratio = base["seconds"] / c["seconds"]
            targets.note(
                f"baseline (the seed's loop) on {lines:,} lines: {fmt_s(base['seconds'])}, "
                f"{ratio:.0f}x the sensor's cold drain"
            )
        if lines == SIZES[-1]:
            checks = [
                (
                    f"incremental tick on {lines:,} lines {fmt_s(inc['seconds'])} (<= 100 ms)",
                    inc["seconds"] <= 0.1,
                ),
                (
                    f"incremental tick on {lines:,} lines {inc['rss_mib']:.0f} MiB (<= 200 MB)",
                    inc["rss_mib"] <= 200 / 1.048576,
                ),
                (
                    f"every tick of {lines:,} lines read <= 10,000 lines and it drained",
                    c["max_lines"] <= 10_000 and c["due"] == lines // 2 + lines % 2,
                ),
            ]
            for name, ok in checks:
                targets.check(name, ok)
    mid = cold[SIZES[1]] if len(SIZES) > 2 else cold[SIZES[-1]]
    for name, ok in (
        (
            f"evaluations draining {SIZES[1]:,} lines {fmt_s(mid['seconds'])} (<= 2 s)",
            mid["seconds"] <= 2,
        ),
        (f"applying them {fmt_s(mid['applying'])} (<= 10 s)", mid["applying"] <= 10),
    ):
        targets.check(name, ok)
    header = [
        "manifest lines",
        "ticks",
        "evaluation (sum)",
        "slowest tick",
        "max lines/tick",
        "files due",
        "apply (sum)",
        "peak RSS",
        "incremental tick",
        "its RSS",
    ]
    return section("sensor tick", __doc__, header, rows, targets)
