import os
from pathlib import Path

import dagster as dg

from alchemy_assets.dagster_adapters.checks import CONSISTENCY, SCHEMA_DRIFT
from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.options import StagingOptions
from alchemy_assets_tests.conftest import RawWriter, daemon_tick, sampled_mtimes
from benchmarks.seed import store_as_run

CSV = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(30))
RETYPED = b"id,extra\n" + b"".join(b"x%d,%d\n" % (i, i) for i in range(30))


def _result(
    instance: dg.DagsterInstance, spec: DatasetSpec, check: str, key: str
) -> dg.AssetCheckEvaluation:
    """The latest result of ``check`` for partition ``key``, read back from the instance."""
    check_key = dg.AssetCheckKey(spec.sample_key, check)
    history = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=100)
    for record in history:
        if record.partition == key and record.event and record.event.dagster_event:
            data = record.event.dagster_event.event_specific_data
            assert isinstance(data, dg.AssetCheckEvaluation)
            return data
    raise AssertionError(f"no {check} result for {key}")


def _json(result: dg.AssetCheckEvaluation, name: str) -> object:
    value = result.metadata[name]
    assert isinstance(value, dg.JsonMetadataValue)
    return value.value


def _check_on_demand(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, key: str
) -> dg.ExecuteInProcessResult:
    """Execute only the checks of one partition, as the UI's "Execute checks" does."""
    checks = {dg.AssetCheckKey(spec.sample_key, name) for name in (CONSISTENCY, SCHEMA_DRIFT)}
    job = defs.resolve_job_def(spec.job_name).get_subset(
        asset_selection=set(), asset_check_selection=checks
    )
    return job.execute_in_process(instance=instance, partition_key=key)


def _ingested(
    layout: DatasetLayout, write_raw: RawWriter, path: str, data: bytes, mtime: float
) -> str:
    write_raw(path, data, mtime)
    (copied,) = ingest(layout).copied
    return copied.bronze


def test_a_normal_ingest_and_sample_passes_both_checks(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    bronze = _ingested(layout, write_raw, "env0/data.csv", CSV, 100.0)
    daemon_tick(defs, spec, instance, None)
    consistency = _result(instance, spec, CONSISTENCY, "env0/data.csv")
    assert consistency.passed and consistency.severity is dg.AssetCheckSeverity.ERROR
    assert consistency.target_materialization_data is not None
    assert _json(consistency, "compared") == {
        "bronze": bronze,
        "sample_mtime": 100.0,
        "latest_manifest_mtime": 100.0,
        "recorded_size": len(CSV),
        "bronze_mtime": 100.0,
        "bronze_size": len(CSV),
    }
    drift = _result(instance, spec, SCHEMA_DRIFT, "env0/data.csv")
    assert drift.passed and drift.severity is dg.AssetCheckSeverity.WARN
    assert drift.description == "schema unchanged; no previous sample of this partition"
    assert _check_on_demand(defs, spec, instance, "env0/data.csv").success
    assert _result(instance, spec, CONSISTENCY, "env0/data.csv").passed


def test_consistency_fails_on_demand_when_the_bronze_file_is_deleted(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    bronze = _ingested(layout, write_raw, "env0/data.csv", CSV, 100.0)
    daemon_tick(defs, spec, instance, None)
    (layout.root / bronze).unlink()
    assert _check_on_demand(defs, spec, instance, "env0/data.csv").success
    result = _result(instance, spec, CONSISTENCY, "env0/data.csv")
    assert not result.passed and result.severity is dg.AssetCheckSeverity.ERROR
    assert result.description == f"{bronze}: bronze file is missing"
    assert _result(instance, spec, SCHEMA_DRIFT, "env0/data.csv").passed


def test_consistency_fails_when_the_bronze_file_changed_size_or_mtime(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    bronze = _ingested(layout, write_raw, "env0/data.csv", CSV, 100.0)
    daemon_tick(defs, spec, instance, None)
    path = layout.root / bronze
    os.chmod(path, 0o644)
    path.write_bytes(CSV + b"99,n99\n")
    os.utime(path, (100.0, 100.0))
    _check_on_demand(defs, spec, instance, "env0/data.csv")
    result = _result(instance, spec, CONSISTENCY, "env0/data.csv")
    assert not result.passed
    assert result.description == (
        f"{bronze}: size {len(CSV) + 7} bytes differs from the {len(CSV)} bytes recorded "
        "when it was sampled"
    )
    os.utime(path, (200.0, 200.0))
    _check_on_demand(defs, spec, instance, "env0/data.csv")
    problems = _json(_result(instance, spec, CONSISTENCY, "env0/data.csv"), "problems")
    assert problems == [
        f"{bronze}: mtime 200.0 differs from the manifest's 100.0 (bronze rewritten after ingest?)",
        f"{bronze}: size {len(CSV) + 7} bytes differs from the {len(CSV)} bytes recorded "
        "when it was sampled",
    ]


def test_consistency_fails_as_stale_when_a_newer_manifest_line_is_not_sampled_yet(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    _ingested(layout, write_raw, "env0/data.csv", CSV, 100.0)
    cursor = daemon_tick(defs, spec, instance, None)
    _ingested(layout, write_raw, "env0/data.csv", CSV, 150.0)
    _check_on_demand(defs, spec, instance, "env0/data.csv")
    result = _result(instance, spec, CONSISTENCY, "env0/data.csv")
    assert not result.passed
    assert result.description == (
        "stale: the latest manifest line has mtime 150.0, the sample was taken at 100.0"
    )
    daemon_tick(defs, spec, instance, cursor)
    assert _result(instance, spec, CONSISTENCY, "env0/data.csv").passed


def test_a_file_that_cannot_be_sampled_gets_a_failed_consistency_result_and_the_rest_goes_on(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", CSV, 1.0)
    write_raw("env0/b.csv", CSV, 2.0)
    report = ingest(layout)
    missing = report.copied[1].bronze
    (layout.root / missing).unlink()
    daemon_tick(defs, spec, instance, None)
    assert _result(instance, spec, CONSISTENCY, "env0/a.csv").passed
    assert _result(instance, spec, SCHEMA_DRIFT, "env0/a.csv").passed
    failed = _result(instance, spec, CONSISTENCY, "env0/b.csv")
    assert not failed.passed
    assert _json(failed, "problems") == [
        f"{missing}: bronze file is missing",
        f"not sampled at mtime 2.0: {missing}: bronze file is missing "
        "(failed after 3 attempts; not retried until re-delivered)",
    ]


def test_schema_drift_passes_on_an_unchanged_re_delivery_and_warns_on_a_changed_one(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    _ingested(layout, write_raw, "env0/data.csv", CSV, 100.0)
    cursor = daemon_tick(defs, spec, instance, None)
    _ingested(layout, write_raw, "env0/data.csv", CSV, 200.0)
    cursor = daemon_tick(defs, spec, instance, cursor)
    unchanged = _result(instance, spec, SCHEMA_DRIFT, "env0/data.csv")
    assert unchanged.passed
    assert unchanged.description == "schema unchanged"
    _ingested(layout, write_raw, "env0/data.csv", RETYPED, 300.0)
    daemon_tick(defs, spec, instance, cursor)
    drift = _result(instance, spec, SCHEMA_DRIFT, "env0/data.csv")
    assert not drift.passed and drift.severity is dg.AssetCheckSeverity.WARN
    assert _json(drift, "added") == [{"name": "extra", "type": "Int64"}]
    assert _json(drift, "removed") == [{"name": "name", "type": "String"}]
    assert _json(drift, "retyped") == [{"name": "id", "old": "Int64", "new": "String"}]
    assert drift.description == "since the previous sample: +1 added, -1 removed, ~1 retyped"
    changes = drift.metadata["changes"]
    assert isinstance(changes, dg.MarkdownMetadataValue)
    assert "| retyped | `id` | Int64 | String |" in (changes.md_str or "")
    assert _result(instance, spec, CONSISTENCY, "env0/data.csv").passed


def test_schema_drift_warns_against_the_prevailing_schema_of_the_dataset(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", CSV, 1.0)
    write_raw("env0/b.csv", CSV, 2.0)
    write_raw("env0/c.csv", RETYPED, 3.0)
    ingest(layout)
    daemon_tick(defs, spec, instance, None)
    assert _result(instance, spec, SCHEMA_DRIFT, "env0/a.csv").passed
    assert _result(instance, spec, SCHEMA_DRIFT, "env0/b.csv").passed
    drift = _result(instance, spec, SCHEMA_DRIFT, "env0/c.csv")
    assert not drift.passed and drift.severity is dg.AssetCheckSeverity.WARN
    assert drift.description == (
        "no previous sample of this partition; against the prevailing schema "
        "(2 of 3 partitions): +1 added, -1 removed, ~1 retyped"
    )
    assert _json(drift, "prevailing_added") == [{"name": "extra", "type": "Int64"}]
    assert _json(drift, "prevailing_removed") == [{"name": "name", "type": "String"}]
    assert _json(drift, "prevailing_retyped") == [{"name": "id", "old": "Int64", "new": "String"}]
    assert _json(drift, "added") == []
    _check_on_demand(defs, spec, instance, "env0/c.csv")
    assert not _result(instance, spec, SCHEMA_DRIFT, "env0/c.csv").passed


def test_a_malformed_recorded_sample_fails_its_checks_with_the_reason(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance
) -> None:
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/x.csv"])
    store_as_run(
        instance,
        dg.AssetMaterialization(
            asset_key=spec.sample_key, partition="env0/x.csv", metadata={"mtime": "not a float"}
        ),
    )
    assert _check_on_demand(defs, spec, instance, "env0/x.csv").success
    consistency = _result(instance, spec, CONSISTENCY, "env0/x.csv")
    assert consistency.description == "the sample's metadata has no `bronze` path"
    drift = _result(instance, spec, SCHEMA_DRIFT, "env0/x.csv")
    assert not drift.passed
    assert drift.description == (
        "the sample's metadata has no `dagster/column_schema`; no previous sample of this "
        "partition; no prevailing schema among 0 partition(s)"
    )


def test_a_partition_without_a_sample_fails_its_checks_on_demand(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance
) -> None:
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/none.csv"])
    assert _check_on_demand(defs, spec, instance, "env0/none.csv").success
    result = _result(instance, spec, CONSISTENCY, "env0/none.csv")
    assert (result.passed, result.description) == (False, "no sample recorded for this partition")


def test_checks_can_be_turned_off(
    fp_prefix: Path, instance: dg.DagsterInstance, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/data.csv", CSV, 3.0)
    ingest(layout)
    spec = DatasetSpec(layout.dataset_id, StagingOptions(asset_checks=False))
    defs = build_defs([spec], AlchemyRoot(fp_prefix=str(fp_prefix)))
    assert not list(defs.resolve_asset_graph().asset_check_keys)
    daemon_tick(defs, spec, instance, None)
    assert sampled_mtimes(instance, spec) == [("env0/data.csv", 3.0)]  # sampled, unchecked
    check_key = dg.AssetCheckKey(spec.sample_key, CONSISTENCY)
    assert not instance.event_log_storage.get_asset_check_execution_history(check_key, limit=10)


def test_the_checks_are_in_the_sample_job_and_the_definitions_validate(
    defs: dg.Definitions, spec: DatasetSpec
) -> None:
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def(spec.job_name)
    assert job.asset_layer.asset_graph.asset_check_keys == {
        dg.AssetCheckKey(spec.sample_key, CONSISTENCY),
        dg.AssetCheckKey(spec.sample_key, SCHEMA_DRIFT),
    }


def _step_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id)]


def test_a_sample_run_and_a_checks_only_run_log_no_missing_outputs(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    """Dagster counts only AssetCheckResult as a check's output; the per-partition
    AssetCheckEvaluations yielded here used to read as 'did not yield expected outputs'."""
    _ingested(layout, write_raw, "env0/data.csv", CSV, 100.0)
    daemon_tick(defs, spec, instance, None)
    (sample_run,) = instance.get_run_records()
    on_demand = _check_on_demand(defs, spec, instance, "env0/data.csv")
    for run_id in (sample_run.dagster_run.run_id, on_demand.run_id):
        messages = _step_messages(instance, run_id)
        assert not [m for m in messages if "did not yield or return expected outputs" in m]
        assert any("Finished execution of step" in m for m in messages)
    assert len(sampled_mtimes(instance, spec)) == 1  # the outputs record no materialization
    assert _result(instance, spec, CONSISTENCY, "env0/data.csv").passed
    assert _result(instance, spec, SCHEMA_DRIFT, "env0/data.csv").passed
