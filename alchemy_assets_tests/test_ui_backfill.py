"""A backfill of every partition, launched in Chromium from the sample asset's Partitions page
and run by the daemon of ``dagster dev``, over a dataset with a file whose bronze copy is
missing (tried 3 times: a missing file may yet appear) and a superseded delivery: it ends,
with exactly the missing file's partition failed."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alchemy_assets.cli import main as alchemy
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets_tests.ui import (
    Browser,
    DagsterDev,
    Graphql,
    check_evaluations,
    sample_materializations,
    wait_for,
)

DATASET = DatasetId("acme", "mixed", "1")
PATH = ["acme", "mixed", "v1"]
CSV = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(20))
GOOD = {"env0/a.csv", "env0/c.csv", "env0/d.csv", "env1/e.csv"}
MISSING = "env0/b.parquet"
SETTLE_SECONDS = 180.0
GAVE_UP = "(failed after 3 attempts; not retried until re-delivered)"

pytestmark = pytest.mark.ui

_UNFINISHED_RUNS = """
{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
    ... on Runs { results { id } } } }
"""

_BACKFILLS = """
{ partitionBackfillsOrError(limit: 10) {
    ... on PartitionBackfills { results { id status } } } }
"""

_BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      runs { id status }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted numPartitionsInProgress
            numPartitionsMaterialized numPartitionsFailed
          }
        }
      }
    }
  }
}
"""

_PARTITION_STATUS = """
query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetPartitionStatuses {
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
      }
    }
  }
}
"""


def _write(layout: DatasetLayout, relpath: str, data: bytes, mtime: float) -> None:
    path = layout.raw / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DatasetLayout]:
    """Four good files (one of them delivered twice) and a Parquet file whose bronze copy
    is gone; two partitions per run, retries after 1 s."""
    fp_prefix = tmp_path_factory.mktemp("backfill") / "fp"
    layout = DatasetLayout.under(fp_prefix, DATASET)
    layout.ensure()
    (layout.root / "alchemy.toml").write_text(
        "sensor_interval_seconds = 5\npartitions_per_run = 2\nretry_delay_seconds = 1\n"
    )
    _write(layout, "env0/a.csv", CSV, 1.0)
    _write(layout, MISSING, b"PAR1", 2.0)
    _write(layout, "env0/c.csv", CSV, 3.0)
    _write(layout, "env0/d.csv", CSV, 4.0)
    _write(layout, "env1/e.csv", CSV, 5.0)
    assert alchemy(["ingest", str(DATASET), "--root", str(fp_prefix)]) == 0
    (gone,) = layout.bronze.rglob("*--b.parquet")
    gone.unlink()
    _write(layout, "env0/d.csv", CSV + b"99,n99\n", 6.0)  # supersedes the first delivery
    assert alchemy(["ingest", str(DATASET), "--root", str(fp_prefix)]) == 0
    return fp_prefix, layout


def _no_unfinished_runs(graphql: Graphql) -> bool:
    return not graphql.query(_UNFINISHED_RUNS)["runsOrError"]["results"]


@pytest.fixture(scope="module")
def server(
    mixed_root: tuple[Path, DatasetLayout], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagsterDev]:
    """``dagster dev`` once the sensor's runs have sampled the good files and given up on the
    missing one."""
    fp_prefix, _ = mixed_root
    home = tmp_path_factory.mktemp("dagster_home")
    with DagsterDev.start(fp_prefix=fp_prefix, dagster_home=home) as dev:

        def settled() -> bool:
            sampled = set(sample_materializations(dev.graphql, [*PATH, "sample"]))
            return sampled >= GOOD and _no_unfinished_runs(dev.graphql)

        wait_for(settled, SETTLE_SECONDS, "the sensor's runs", dev.log_tail)
        yield dev


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as launched:
        yield launched


def _backfills(graphql: Graphql) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = graphql.query(_BACKFILLS)["partitionBackfillsOrError"]["results"]
    return found


@pytest.mark.timeout(900)  # dagster dev and its runs: past the 300 s default on a slow CI
def test_a_backfill_of_all_partitions_from_the_ui_ends_with_only_the_missing_file_failed(
    server: DagsterDev, browser: Browser, tmp_path: Path
) -> None:
    graphql = server.graphql
    assert _backfills(graphql) == []
    page = browser.open(f"{server.url}/assets/{'/'.join(PATH)}/sample?view=partitions")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="All", exact=True).click()
    dialog.get_by_text("5 partitions", exact=True).wait_for()
    dialog.get_by_text("maximum of 2 partitions per run").wait_for()
    dialog.get_by_role("button", name="Launch backfill").click()
    wait_for(lambda: bool(_backfills(graphql)), 60, "the backfill to be created", server.log_tail)
    ((backfill_id, _),) = [(b["id"], b["status"]) for b in _backfills(graphql)]

    def backfill() -> dict[str, Any]:
        found: dict[str, Any] = graphql.query(_BACKFILL, id=backfill_id)["partitionBackfillOrError"]
        return found

    def ended() -> bool:
        return backfill()["status"] not in {"REQUESTED", "CANCELING", "FAILING"}

    wait_for(ended, SETTLE_SECONDS, f"backfill {backfill_id} to end", server.log_tail)
    page.screenshot(path=tmp_path / "backfill.png")
    result = backfill()
    assert result["status"] == "COMPLETED_FAILED"
    (counts,) = result["assetBackfillData"]["assetBackfillStatuses"]
    assert counts["assetKey"]["path"] == [*PATH, "sample"]
    assert (
        counts["numPartitionsTargeted"],
        counts["numPartitionsMaterialized"],
        counts["numPartitionsFailed"],
        counts["numPartitionsInProgress"],
    ) == (5, 4, 1, 0)
    # Three runs of at most two partitions; the one holding the missing file failed.
    runs = {run["id"]: run["status"] for run in result["runs"]}
    assert sorted(runs.values()) == ["FAILURE", "SUCCESS", "SUCCESS"]
    # The backfill's runs sampled each good file once, the superseded one at its later mtime.
    sampled = {
        key: [e for e in events if e["runId"] in runs]
        for key, events in sample_materializations(graphql, [*PATH, "sample"]).items()
    }
    assert {key for key, events in sampled.items() if events} == GOOD
    assert all(len(events) == 1 for key, events in sampled.items() if key in GOOD)
    assert sampled["env0/d.csv"][0]["mtime"] == 6.0
    statuses = graphql.query(_PARTITION_STATUS, path=[*PATH, "sample"])["assetNodeOrError"][
        "assetPartitionStatuses"
    ]
    assert statuses["failedPartitions"] == [MISSING]
    assert set(statuses["materializedPartitions"]) == GOOD
    # The consistency check says why, once per backfill, after three attempts.
    (gave_up,) = [
        e
        for e in check_evaluations(graphql, [*PATH, "sample"], "consistency")
        if e["runId"] in runs and e["partition"] == MISSING
    ]
    assert not gave_up["success"] and GAVE_UP in gave_up["description"]
