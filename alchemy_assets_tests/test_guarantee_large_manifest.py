"""A manifest of up to 10^6 lines: every tick stays within its cap, the cursor advances and
the backlog drains over the following ticks (timings are reported, never asserted)."""

import json
import time
from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.options import StagingOptions
from alchemy_assets_tests.conftest import FIGURES, apply_partition_adds, requested_files, tick

CAP = 10_000


@pytest.mark.parametrize(
    "lines",
    [100_000, pytest.param(1_000_000, marks=[pytest.mark.slow, pytest.mark.timeout(1800)])],
    ids=["1e5", "1e6"],
)
def test_a_huge_manifest_drains_tick_by_tick_within_the_cap(
    fp_prefix: Path, instance: dg.DagsterInstance, layout: DatasetLayout, lines: int
) -> None:
    spec = DatasetSpec(layout.dataset_id, StagingOptions(max_lines_per_tick=CAP))
    defs = build_defs([spec], AlchemyRoot(fp_prefix=str(fp_prefix)))
    with layout.manifest.open("wb") as f:
        for start in range(0, lines, 10_000):
            f.write(
                b"".join(
                    encode_line(f"raw/env0/d{i // 1000}/f{i}.csv", f"bronze/x/f{i}.csv", 1.0)
                    for i in range(start, min(lines, start + 10_000))
                )
            )
    size = layout.manifest.stat().st_size
    cursor: str | None = None
    offsets, slowest, ticks, requested = [0], 0.0, 0, 0
    while offsets[-1] < size:
        started = time.perf_counter()
        result = tick(defs, spec, instance, cursor)
        slowest = max(slowest, time.perf_counter() - started)
        assert isinstance(result, dg.SensorResult)
        (observation,) = result.asset_events
        assert observation.metadata["lines_this_tick"] == dg.MetadataValue.int(CAP)
        requested += sum(len(requested_files(r)) for r in result.run_requests or [])
        apply_partition_adds(result, instance)
        cursor = result.cursor
        offsets.append(json.loads(cursor or "")["manifest"]["offset"])
        assert offsets[-1] > offsets[-2]  # the cursor always advances
        ticks += 1
    assert ticks == lines // CAP and requested == lines
    assert len(instance.get_dynamic_partitions(spec.partitions_name)) == lines
    FIGURES[f"manifest of {lines} lines: ticks to drain"] = ticks
    FIGURES[f"manifest of {lines} lines: slowest tick evaluation (s)"] = round(slowest, 2)  # type: ignore[assignment]
