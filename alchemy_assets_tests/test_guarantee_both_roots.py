"""The core flows on both data roots (issue 24): ingest, the sensor's tick and its runs,
``alchemy stage``, ``alchemy status`` and exactly-once under two stages at once, each the same
test on a folder and on a bucket of the S3 API server (the ``root`` fixture runs it twice)."""

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter

import dagster as dg
import pytest

from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.stage_runner import cursor_key, stage_dataset
from alchemy_assets.dagster_adapters.status_lookup import dataset_status
from alchemy_assets.file_formats import sample_relpath
from alchemy_assets.options import StagingOptions
from alchemy_assets_tests.conftest import (
    FIGURES,
    apply_partition_adds,
    daemon_tick,
    run_requests,
    sampled_mtimes,
    tick,
)
from alchemy_assets_tests.roots import Root

CSV_A = b"id,name\n1,alpha\n2,beta\n3,gamma\n"
CSV_B = b"id,name\n7,eta\n"


def _spec(root: Root, rows: int = 2) -> DatasetSpec:
    return DatasetSpec(
        root.layout.dataset_id, StagingOptions(sample_rows=rows, retry_delay_seconds=0)
    )


def _defs(root: Root, spec: DatasetSpec) -> dg.Definitions:
    return build_defs([spec], AlchemyRoot(fp_prefix=root.text))


def _sample(root: Root, env_path: str) -> bytes | None:
    return root.read(sample_relpath(f"raw/{env_path}"))


def test_ingest_copies_each_new_delivery_to_bronze_once_and_records_it(root: Root) -> None:
    mtime = root.write_raw("env0/a.csv", CSV_A, 100.0)
    root.write_raw("env1/b.csv", CSV_B, 200.0)
    first = root.ingest()
    assert sorted(c.raw for c in first.copied) == ["raw/env0/a.csv", "raw/env1/b.csv"]
    assert first.failed == []
    entries = root.entries()
    assert [e.raw for e in entries] == ["raw/env0/a.csv", "raw/env1/b.csv"]
    by_raw = {e.raw: e for e in entries}
    assert by_raw["raw/env0/a.csv"].mtime == mtime
    assert root.read(by_raw["raw/env0/a.csv"].bronze) == CSV_A
    assert root.read(by_raw["raw/env1/b.csv"].bronze) == CSV_B
    assert all(e.bronze.startswith("bronze/") for e in entries)
    if root.on_store:
        assert all(e.etag for e in entries)  # a store's line carries the object's ETag
    again = root.ingest()
    assert (again.copied, again.unchanged) == ([], 2)
    assert len(root.entries()) == 2


def test_a_re_delivery_is_ingested_and_sampled_again_alone(
    root: Root, instance: dg.DagsterInstance
) -> None:
    root.write_raw("env0/a.csv", CSV_A, 100.0)
    root.write_raw("env0/b.csv", CSV_B, 100.0)
    root.ingest()
    spec = _spec(root)
    defs = _defs(root, spec)
    first = tick(defs, spec, instance, None)
    assert isinstance(first, dg.SensorResult)
    apply_partition_adds(first, instance)
    run_requests(defs, spec, instance, first)
    assert _sample(root, "env0/a.csv") == b"id,name\n1,alpha\n2,beta\n"
    assert _sample(root, "env0/b.csv") == CSV_B
    idle = tick(defs, spec, instance, first.cursor)
    assert isinstance(idle, dg.SkipReason)
    root.write_raw("env0/b.csv", b"id,name\n8,theta\n9,iota\n10,kappa\n", 300.0)
    assert [c.raw for c in root.ingest().copied] == ["raw/env0/b.csv"]
    second = tick(defs, spec, instance, first.cursor)
    assert isinstance(second, dg.SensorResult)
    (request,) = second.run_requests or []
    assert request.partition_key == "env0/b.csv"
    run_requests(defs, spec, instance, second)
    assert _sample(root, "env0/b.csv") == b"id,name\n8,theta\n9,iota\n"
    assert _sample(root, "env0/a.csv") == b"id,name\n1,alpha\n2,beta\n"


def test_stage_samples_everything_due_once_and_status_agrees(
    root: Root, instance: dg.DagsterInstance
) -> None:
    root.write_raw("env0/a.csv", CSV_A, 1.0)
    root.write_raw("env0/bad.csv", b'v\n"never closed\n', 1.0)
    root.write_raw("env1/c.parquet", _parquet(), 2.0)
    root.write_raw("env1/README.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 3.0)
    root.ingest()
    spec = _spec(root)
    job = _defs(root, spec).resolve_job_def(spec.job_name)
    report = stage_dataset(instance, job, spec, root.layout)
    assert (report.new_partitions, report.sampled, report.not_data) == (4, 2, 1)
    assert list(report.failed) == ["env0/bad.csv"]
    assert "unterminated quote" in report.failed["env0/bad.csv"]
    assert root.files("samples") == [
        "samples/env0/a_sample.csv",
        "samples/env1/c_sample.parquet",
    ]
    again = stage_dataset(instance, job, spec, root.layout)
    assert (again.new_partitions, again.sampled, again.lines) == (0, 0, 0)
    status = dataset_status(instance, spec, root.layout)
    assert (status.files, status.up_to_date, len(status.not_data), status.backlog.lines) == (
        4,
        2,
        1,
        0,
    )
    assert list(status.failed) == ["env0/bad.csv"]
    assert status.manifest_lines == 4


def test_a_lost_stage_cursor_rereads_but_samples_nothing_twice(
    root: Root, instance: dg.DagsterInstance
) -> None:
    root.write_raw("env0/a.csv", CSV_A, 1.0)
    root.ingest()
    spec = _spec(root)
    job = _defs(root, spec).resolve_job_def(spec.job_name)
    assert stage_dataset(instance, job, spec, root.layout).sampled == 1
    instance.run_storage.set_cursor_values({cursor_key(spec): ""})
    again = stage_dataset(instance, job, spec, root.layout)
    assert (again.lines, again.sampled, again.unchanged) == (1, 0, 1)


def test_a_manifest_line_leading_outside_the_root_is_quarantined_and_nothing_is_written(
    root: Root, instance: dg.DagsterInstance
) -> None:
    root.write_raw("env0/a.csv", CSV_A, 1.0)
    root.ingest()
    bad = json.dumps({"raw": "raw/env0/../../x.csv", "bronze": "bronze/../../x", "mtime": 1.0})
    root.append_line(bad.encode() + b"\n")
    spec = _spec(root)
    job = _defs(root, spec).resolve_job_def(spec.job_name)
    report = stage_dataset(instance, job, spec, root.layout)
    assert report.sampled == 1
    assert len(report.quarantined) == 1 and "'..'" in report.quarantined[0].reason
    assert root.files("samples") == ["samples/env0/a_sample.csv"]


def _stage(root: Root) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "alchemy_assets.cli", "stage", "--root", root.text],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_stages_at_once_sample_and_record_each_delivery_once(
    root: Root, instance: dg.DagsterInstance
) -> None:
    files = 12
    root.write("alchemy.toml", b"partitions_per_run = 4\n")
    for i in range(files):
        root.write_raw(f"env0/f{i:02d}.csv", b"v\n%d\n" % i, 1000.0 + i)
    root.ingest()
    first, second = _stage(root), _stage(root)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    sampled = [int(m.group(1)) for out, _ in outputs if (m := re.search(r"(\d+) sampled", out))]
    assert sum(sampled) == files, outputs
    pairs = Counter(sampled_mtimes(instance, _spec(root)))
    assert len(pairs) == files and set(pairs.values()) == {1}, pairs
    FIGURES[f"concurrent stages on {root.kind}, duplicate materializations"] += (
        sum(pairs.values()) - files
    )


def test_a_stage_beside_the_sensors_runs_samples_each_delivery_once(
    root: Root, instance: dg.DagsterInstance
) -> None:
    """`alchemy stage` in its own process while the sensor ticks and its runs are launched
    here, as the daemon would, over the same deliveries: each is sampled and recorded once."""
    files = 12
    root.write("alchemy.toml", b"partitions_per_run = 3\n")
    for i in range(files):
        root.write_raw(f"env0/f{i:02d}.csv", b"v\n%d\n" % i, 1000.0 + i)
    root.ingest()
    spec = _spec(root)
    defs = _defs(root, spec)
    stage = _stage(root)
    cursor, ticks, deadline = None, 0, time.monotonic() + 240
    while (stage.poll() is None or ticks < 2) and time.monotonic() < deadline:
        cursor = daemon_tick(defs, spec, instance, cursor)
        ticks += 1
    out, err = stage.communicate(timeout=300)
    assert stage.returncode == 0, (out, err)
    pairs = Counter(sampled_mtimes(instance, _spec(root)))
    assert len(pairs) == files and set(pairs.values()) == {1}, (pairs, out)
    assert root.files("samples") == [f"samples/env0/f{i:02d}_sample.csv" for i in range(files)]
    FIGURES[f"stage beside the sensor on {root.kind}, duplicate materializations"] += (
        sum(pairs.values()) - files
    )


def test_the_cli_ingests_stages_and_reports_on_the_root(
    root: Root, instance: dg.DagsterInstance
) -> None:
    root.write_raw("env0/a.csv", CSV_A, 1.0)
    dataset = str(root.layout.dataset_id)
    cli = [sys.executable, "-m", "alchemy_assets.cli"]
    ingested = subprocess.run(
        [*cli, "ingest", dataset, "--root", root.text], capture_output=True, text=True, timeout=120
    )
    assert ingested.returncode == 0, ingested.stderr
    assert f"{dataset}: 1 copied, 0 unchanged, 0 failed" in ingested.stdout
    staged = subprocess.run(
        [*cli, "stage", "--root", root.text], capture_output=True, text=True, timeout=300
    )
    assert staged.returncode == 0, staged.stderr
    assert "1 sampled" in staged.stdout
    status = subprocess.run(
        [*cli, "status", "--json", "--root", root.text], capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["root"] == (root.text if root.on_store else os.path.abspath(root.text))
    (only,) = document["datasets"]
    assert (only["files"], only["up_to_date"], only["backlog"]["lines"]) == (1, 1, 0)


@pytest.mark.parametrize("dataset", ["nope/x/1"])
def test_ingest_of_a_dataset_that_is_not_there_names_it(root: Root, dataset: str) -> None:
    root.write_raw("env0/a.csv", CSV_A, 1.0)
    result = subprocess.run(
        [sys.executable, "-m", "alchemy_assets.cli", "ingest", dataset, "--root", root.text],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"dataset {dataset}: no raw folder at" in result.stderr
    assert "Traceback" not in result.stderr


def _parquet() -> bytes:
    import io

    import polars as pl

    buffer = io.BytesIO()
    pl.DataFrame({"id": [1, 2, 3], "v": ["x", "y", "z"]}).write_parquet(buffer)
    return buffer.getvalue()
