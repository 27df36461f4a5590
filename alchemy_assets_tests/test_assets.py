import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from alchemy_assets.dagster_adapters.dagster_internals import RANGE_END_TAG, RANGE_START_TAG
from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.tick import run_config
from alchemy_assets.format_options import parse_rules
from alchemy_assets.formats.registry import supported
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.options import StagingOptions
from alchemy_assets.stage_file import StagedFile
from alchemy_assets.stage_object import staging_on
from alchemy_assets.staging import DueFile
from alchemy_assets_tests.conftest import RawWriter

# The kinds sampled grow with each reader (test_formats_registry checks the wording).
UNKNOWN_TAIL = f"; samples are taken of {supported()}"
CSV = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(30))


def _latest(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> dg.AssetMaterialization:
    event = instance.get_latest_materialization_event(key)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    assert event is not None and records
    materialization = records[0].asset_materialization
    assert materialization is not None
    return materialization


def test_materializing_one_partition_on_demand_samples_its_latest_manifest_line(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/data.csv", CSV, 1737200000.5)
    report = ingest(layout)
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/data.csv"])
    result = defs.resolve_job_def(spec.job_name).execute_in_process(
        instance=instance, partition_key="env0/data.csv"
    )
    assert result.success
    sample = _latest(instance, spec.sample_key, "env0/data.csv")
    meta = sample.metadata
    assert meta["mtime"] == dg.MetadataValue.timestamp(1737200000.5)
    assert meta["reason"] == dg.MetadataValue.text("on demand")
    assert meta["raw"] == dg.MetadataValue.text("raw/env0/data.csv")
    assert meta["bronze"] == dg.MetadataValue.text(report.copied[0].bronze)
    assert meta["sample"] == dg.MetadataValue.text("samples/env0/data_sample.csv")
    assert meta["dagster/row_count"] == dg.MetadataValue.int(5)
    schema = meta["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchemaMetadataValue)
    assert [(c.name, c.type) for c in schema.schema.columns] == [
        ("id", "Int64"),
        ("name", "String"),
    ]
    preview = meta["preview"]
    assert isinstance(preview, dg.MarkdownMetadataValue)
    assert "| id" in (preview.md_str or "") and "n4" in (preview.md_str or "")
    bytes_read = meta["bytes_read"]
    assert isinstance(bytes_read, dg.IntMetadataValue) and 0 < (bytes_read.value or 0) <= len(CSV)
    assert sample.tags == {"dagster/data_version": f"1737200000.5 size={len(CSV)}"}
    assert meta["kind"] == dg.MetadataValue.text("delimited")
    dialect = meta["dialect"]
    assert isinstance(dialect, dg.JsonMetadataValue) and isinstance(dialect.value, dict)
    assert (dialect.value["delimiter"], dialect.value["header"]) == (",", True)
    assert dialect.value["source"] == "detected"
    bronze = _latest(instance, spec.bronze_key, "env0/data.csv")
    assert bronze.metadata["size"] == dg.MetadataValue.int(len(CSV))
    assert bronze.metadata["mtime"] == dg.MetadataValue.timestamp(1737200000.5)
    assert (layout.samples / "env0" / "data_sample.csv").read_bytes() == b"".join(
        CSV.splitlines(keepends=True)[:6]
    )


def test_dg_materialize_records_one_partition(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
    fp_prefix: object,
) -> None:
    write_raw("env1/x.csv", CSV, 5.0)
    ingest(layout)
    instance.add_dynamic_partitions(spec.partitions_name, ["env1/x.csv"])
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(
        assets,
        instance=instance,
        partition_key="env1/x.csv",
        resources=dict(defs.resources or {}),
        selection=[spec.sample_key],
    )
    assert result.success
    assert _latest(instance, spec.sample_key, "env1/x.csv").metadata[
        "mtime"
    ] == dg.MetadataValue.timestamp(5.0)
    # Any run that samples the dataset, not only the sensor's, takes a slot of its pool.
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.run_op_concurrency is not None
    assert run.run_op_concurrency.all_pools == {spec.pool}


def test_a_range_run_records_each_partitions_own_metadata_and_fails_only_bad_files(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", b"v\n1\n", 1.0)
    write_raw("env0/b.csv", b'v\n"never closed\n', 2.0)
    write_raw("env0/c.csv", b"v\n3\n33\n", 3.0)
    report = ingest(layout)
    keys = ["env0/a.csv", "env0/b.csv", "env0/c.csv"]
    instance.add_dynamic_partitions(spec.partitions_name, keys)
    run = [
        DueFile(k, c.raw, c.bronze, c.mtime, "new file")
        for k, c in zip(keys, report.copied, strict=True)
    ]
    result = defs.resolve_job_def(spec.job_name).execute_in_process(
        instance=instance,
        run_config=run_config(spec, run),
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
        raise_on_error=False,
    )
    assert not result.success
    events = [e.materialization for e in result.get_asset_materialization_events()]
    sampled = {str(m.partition): m.metadata for m in events if m.asset_key == spec.sample_key}
    assert sorted(sampled) == ["env0/a.csv", "env0/c.csv"]
    assert sampled["env0/a.csv"]["mtime"] == dg.MetadataValue.timestamp(1.0)
    assert sampled["env0/c.csv"]["dagster/row_count"] == dg.MetadataValue.int(2)
    (failure,) = [e for e in result.all_events if e.event_type is dg.DagsterEventType.STEP_FAILURE]
    user = failure.step_failure_data.user_failure_data
    assert user is not None
    failed = user.metadata["failed"]
    assert isinstance(failed, dg.JsonMetadataValue) and isinstance(failed.value, dict)
    bronze = report.copied[1].bronze
    assert list(failed.value) == ["env0/b.csv"]
    assert str(failed.value["env0/b.csv"]).startswith(f"{bronze}: unterminated quote")


def test_the_dagster_cli_re_materializes_one_partition(
    fp_prefix: Path, instance: dg.DagsterInstance, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/data.csv", CSV, 7.0)
    ingest(layout)
    spec = DatasetSpec(layout.dataset_id)
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/data.csv"])
    env = {**os.environ, "FP_PREFIX": str(fp_prefix)}
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "asset", "materialize", "-m", "alchemy_assets.definitions"]
    command += ["--select", spec.sample_key.to_user_string(), "--partition", "env0/data.csv"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    meta = _latest(instance, spec.sample_key, "env0/data.csv").metadata
    assert (meta["mtime"], meta["reason"]) == (
        dg.MetadataValue.timestamp(7.0),
        dg.MetadataValue.text("on demand"),
    )


def test_bronze_events_can_be_turned_off(
    fp_prefix: Path, instance: dg.DagsterInstance, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/data.csv", CSV, 3.0)
    ingest(layout)
    spec = DatasetSpec(layout.dataset_id, StagingOptions(bronze_events=False))
    defs = build_defs([spec], AlchemyRoot(fp_prefix=str(fp_prefix)))
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/data.csv"])
    result = defs.resolve_job_def(spec.job_name).execute_in_process(
        instance=instance, partition_key="env0/data.csv"
    )
    keys = [e.materialization.asset_key for e in result.get_asset_materialization_events()]
    assert keys == [spec.sample_key]


def test_each_file_fails_alone_under_its_own_reason_and_odd_files_are_sampled_with_notes(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_raw("env0/a_latin1.csv", "nom,ville\nJosé,Zürich\n".encode("latin-1"), 1.0)
    write_raw("env0/b_corrupt.parquet", b"PAR1 not really", 2.0)
    write_raw("env0/c_surprise.csv", b"v\n1\n", 3.0)
    write_raw("env0/d_ragged.csv", b"a,b\n1,2\n3\n", 4.0)
    report = ingest(layout)
    keys = [Path(c.raw).relative_to("raw").as_posix() for c in report.copied]
    instance.add_dynamic_partitions(spec.partitions_name, keys)

    @contextlib.contextmanager
    def stage_or_fail(
        layout: DatasetLayout, due: DueFile, rows: int, **options: Any
    ) -> Iterator[StagedFile]:
        if due.key == "env0/c_surprise.csv":
            raise KeyError("a bug in our code")  # what no reader is expected to raise
        with staging_on(layout, due, rows, **options) as staged:
            yield staged

    monkeypatch.setattr("alchemy_assets.dagster_adapters.assets.staging_on", stage_or_fail)
    run = [
        DueFile(k, c.raw, c.bronze, c.mtime, "new file")
        for k, c in zip(keys, report.copied, strict=True)
    ]
    result = defs.resolve_job_def(spec.job_name).execute_in_process(
        instance=instance,
        run_config=run_config(spec, run),
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
        raise_on_error=False,
    )
    events = [e.materialization for e in result.get_asset_materialization_events()]
    sampled = {str(m.partition): m for m in events if m.asset_key == spec.sample_key}
    assert sorted(sampled) == ["env0/a_latin1.csv", "env0/d_ragged.csv"]
    latin = sampled["env0/a_latin1.csv"]
    assert latin.metadata["encoding"] == dg.MetadataValue.text(
        "not UTF-8 (0xe9 at byte 13 (line 2)); decoded as cp1252 for the preview"
    )
    assert (latin.description or "").endswith("; odd: encoding")
    ragged = sampled["env0/d_ragged.csv"].metadata
    assert ragged["ragged"] == dg.MetadataValue.text(
        "record 2 (line 3) has 1 fields, the header 2; 1 of 2 records differ"
    )
    (failure,) = [e for e in result.all_events if e.event_type is dg.DagsterEventType.STEP_FAILURE]
    user = failure.step_failure_data.user_failure_data
    assert user is not None and isinstance(user.metadata["failed"], dg.JsonMetadataValue)
    failed = user.metadata["failed"].value
    assert isinstance(failed, dict)
    assert sorted(failed) == ["env0/b_corrupt.parquet", "env0/c_surprise.csv"]
    # The corrupt file is refused by the first attempt (its bytes decide it); the bug's file
    # is tried again.
    assert failed["env0/b_corrupt.parquet"] == (
        f"{report.copied[1].bronze}: cannot read as parquet: Parquet magic bytes not found in "
        "footer. Either the file is corrupted or this is not a parquet file. (depends only on "
        "the bronze file's bytes: not retried; re-deliver a corrected file)"
    )
    assert failed["env0/c_surprise.csv"] == (
        f"{report.copied[2].bronze}: unexpected KeyError: 'a bug in our code' "
        "(failed after 3 attempts; not retried until re-delivered)"
    )


def test_asset_descriptions_hold_nothing_a_markdown_renderer_would_eat(
    defs: dg.Definitions, spec: DatasetSpec
) -> None:
    graph = defs.resolve_asset_graph()
    sample = graph.get(spec.sample_key).description or ""
    bronze = graph.get(spec.bronze_key).description or ""
    assert "`samples/{env}/{path}/{stem}_sample{ext}`" in sample
    assert "<" not in sample + bronze
    assert "a delivered file whose sample failed has no bronze materialization" in bronze


def test_the_options_configured_for_a_files_pattern_drive_its_sample(
    fp_prefix: Path, instance: dg.DagsterInstance, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/gics.txt", b"code;name,long\n10;Energy,Oil\n15;Materials,Steel\n", 3.0)
    ingest(layout)
    # Detected: ";" (code, name,long); configured: ",".
    rules = parse_rules({"env0/*.txt": {"delimiter": ","}})
    spec = DatasetSpec(layout.dataset_id, StagingOptions(formats=rules))
    defs = build_defs([spec], AlchemyRoot(fp_prefix=str(fp_prefix)))
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/gics.txt"])
    result = defs.resolve_job_def(spec.job_name).execute_in_process(
        instance=instance, partition_key="env0/gics.txt"
    )
    assert result.success
    schema = _latest(instance, spec.sample_key, "env0/gics.txt").metadata["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchemaMetadataValue)
    assert [c.name for c in schema.schema.columns] == ["code;name", "long"]
