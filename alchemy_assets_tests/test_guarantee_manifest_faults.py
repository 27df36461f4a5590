"""Manifest faults seen by the sensor, and racing sample runs: no valid line lost, no
partition sampled twice at one mtime, and the newest delivery's sample always wins."""

import multiprocessing
import os
import random
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.stage_file import SupersededError, read_provenance, stage_file
from alchemy_assets.staging import DueFile
from alchemy_assets_tests.conftest import FIGURES, daemon_tick, sampled_mtimes
from alchemy_assets_tests.processes import default_sigterm


def _bronze(layout: DatasetLayout, name: str, mtime: float, body: str = "v\n1\n") -> bytes:
    """A bronze file and its manifest line."""
    rel = f"bronze/2026/01/01/{name}"
    path = layout.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    os.utime(path, (mtime, mtime))
    raw = "raw/env0/" + name.split("--", 1)[1]
    return encode_line(raw, rel, mtime)


def _assert_once_per_mtime(
    instance: dg.DagsterInstance, spec: DatasetSpec
) -> Counter[tuple[str, float]]:
    counts = Counter(sampled_mtimes(instance, spec))
    assert all(n == 1 for n in counts.values()), counts
    return counts


def test_copy_truncate_loses_no_line_and_samples_nothing_twice(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    a1, b1 = _bronze(layout, "000001--a.csv", 1.0), _bronze(layout, "000001--b.csv", 1.0)
    layout.manifest.write_bytes(a1 + b1)
    cursor = daemon_tick(defs, spec, instance, None)
    b2, c1 = _bronze(layout, "000002--b.csv", 2.0), _bronze(layout, "000002--c.csv", 1.0)
    with layout.manifest.open("r+b") as f:  # copy-truncate, then the writer goes on
        f.truncate(0)
    with layout.manifest.open("ab") as f:
        f.write(c1 + b2)
    daemon_tick(defs, spec, instance, cursor)
    assert _assert_once_per_mtime(instance, spec) == Counter(
        {
            ("env0/a.csv", 1.0): 1,
            ("env0/b.csv", 1.0): 1,
            ("env0/c.csv", 1.0): 1,
            ("env0/b.csv", 2.0): 1,
        }
    )


def test_rename_and_recreate_loses_no_line_and_samples_nothing_twice(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    a1 = _bronze(layout, "000001--a.csv", 1.0)
    layout.manifest.write_bytes(a1)
    cursor = daemon_tick(defs, spec, instance, None)
    layout.manifest.rename(layout.manifest.with_name("processed.jsonl.1"))
    d1 = _bronze(layout, "000003--d.csv", 1.0)
    layout.manifest.write_bytes(a1 + d1)  # the new file repeats a's line, then d
    daemon_tick(defs, spec, instance, cursor)
    assert sorted(_assert_once_per_mtime(instance, spec)) == [
        ("env0/a.csv", 1.0),
        ("env0/d.csv", 1.0),
    ]


def test_a_same_size_replacement_is_read_again_and_samples_only_what_is_new(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    a1, b1 = _bronze(layout, "000001--a.csv", 1.0), _bronze(layout, "000001--b.csv", 1.0)
    layout.manifest.write_bytes(a1 + b1)
    cursor = daemon_tick(defs, spec, instance, None)
    x1 = _bronze(layout, "000001--x.csv", 1.0)
    assert len(x1) == len(b1)
    layout.manifest.write_bytes(a1 + x1)  # same size, other content
    daemon_tick(defs, spec, instance, cursor)
    assert sorted(_assert_once_per_mtime(instance, spec)) == [
        ("env0/a.csv", 1.0),
        ("env0/b.csv", 1.0),
        ("env0/x.csv", 1.0),
    ]
    FIGURES["manifest faults survived (truncate, rotate, same-size replace)"] += 3


def _race_one(root: str, dataset: str, due: DueFile, start_after: float) -> str:
    import time

    from alchemy_assets.layout import DatasetId

    time.sleep(start_after)
    layout = DatasetLayout.under(root, DatasetId.parse(dataset))
    try:
        stage_file(layout, due, 5)
    except SupersededError:
        return "superseded"
    return "written"


@pytest.mark.parametrize(
    "names",
    [("000001--a.csv", "000002--a.csv"), ("000002--a.csv", "000001--a.csv")],
    ids=["clock-forward", "clock-set-back"],
)
def test_two_racing_sample_runs_leave_the_newer_deliverys_sample(
    fp_prefix: Path, layout: DatasetLayout, names: tuple[str, str]
) -> None:
    """ "Newer" is the later manifest line, also when the re-delivery was ingested with a
    clock behind the first ingest (its bronze name sorts before the older one's)."""
    layout.manifest.write_bytes(
        _bronze(layout, names[0], 1.0, "v\nold\n") + _bronze(layout, names[1], 2.0, "v\nnew\n")
    )
    old = DueFile("env0/a.csv", "raw/env0/a.csv", f"bronze/2026/01/01/{names[0]}", 1.0, "x")
    new = DueFile("env0/a.csv", "raw/env0/a.csv", f"bronze/2026/01/01/{names[1]}", 2.0, "y")
    sample = layout.samples / "env0" / "a_sample.csv"
    rng = random.Random(3)
    ctx = multiprocessing.get_context("spawn")
    outcomes: Counter[str] = Counter()
    rounds = 12
    # The initializer: workers that ignore SIGTERM would hang the pool's terminate().
    with ctx.Pool(2, initializer=default_sigterm) as pool:
        for _ in range(rounds):
            sample.unlink(missing_ok=True)
            sample.with_name(f".{sample.name}.source.json").unlink(missing_ok=True)
            delays = [rng.uniform(0, 0.02), rng.uniform(0, 0.02)]
            root, dataset = str(fp_prefix), str(layout.dataset_id)
            args = [
                (root, dataset, due, wait) for due, wait in zip((old, new), delays, strict=True)
            ]
            outcomes.update(pool.starmap(_race_one, args))
            assert sample.read_text() == "v\nnew\n"
            assert read_provenance(sample) == new.bronze
    assert outcomes["written"] >= rounds
    FIGURES["racing sample runs, newer sample kept"] += rounds
