from dataclasses import replace

import dagster as dg

from alchemy_assets.dagster_adapters.lookup import latest_sampled_deliveries
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.tick import LIST_PARTITIONS_ABOVE, plan_tick
from alchemy_assets.format_options import parse_rules
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import encode_line
from alchemy_assets_tests.conftest import sampled_mtimes
from benchmarks.seed import seed_samples


def _manifest(layout: DatasetLayout, count: int, mtime: float) -> None:
    with layout.manifest.open("ab") as f:
        for i in range(count):
            f.write(encode_line(f"raw/env0/f{i:03d}.csv", f"bronze/f{i:03d}-{mtime}.csv", mtime))


def test_new_files_are_planned_as_one_range_without_listing_partitions(
    spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    _manifest(layout, 30, 1.0)
    plan = plan_tick(instance, spec, layout, None)
    assert plan.new_keys == [f"env0/f{i:03d}.csv" for i in range(30)]
    assert [[d.key for d in run] for run in plan.runs] == [plan.new_keys]


def _sampled_then_redelivered(
    spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout, redelivered: int
) -> list[list[str]]:
    _manifest(layout, 30, 1.0)
    keys = [f"env0/f{i:03d}.csv" for i in range(30)]
    instance.add_dynamic_partitions(spec.partitions_name, keys)
    seed_samples(instance, spec.sample_key, keys, 1.0)
    assert len(sampled_mtimes(instance, spec)) == 30
    cursor = plan_tick(instance, spec, layout, None).cursor
    _manifest(layout, redelivered, 2.0)
    plan = plan_tick(instance, spec, layout, cursor)
    assert plan.new_keys == []
    return [[d.key for d in run] for run in plan.runs]


def test_many_redelivered_files_are_ranged_by_their_partition_order(
    spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    count = LIST_PARTITIONS_ABOVE + 4
    runs = _sampled_then_redelivered(spec, instance, layout, count)
    assert runs == [[f"env0/f{i:03d}.csv" for i in range(count)]]


def test_a_few_redelivered_files_get_a_run_each(
    spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    runs = _sampled_then_redelivered(spec, instance, layout, 3)
    assert sorted(runs) == [["env0/f000.csv"], ["env0/f001.csv"], ["env0/f002.csv"]]


def test_a_forged_materialization_at_the_manifest_mtime_does_not_stop_sampling(
    spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    """What `POST /report_asset_materialization/...` with a forged data_version records: a
    materialization at the manifest's mtime, reported without a run."""
    _manifest(layout, 2, 1.0)
    keys = ["env0/f000.csv", "env0/f001.csv"]
    instance.add_dynamic_partitions(spec.partitions_name, keys)
    for key in keys:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                spec.sample_key, partition=key, tags={"dagster/data_version": "1.0"}
            )
        )
    assert latest_sampled_deliveries(instance, spec.sample_key, keys) == {}
    plan = plan_tick(instance, spec, layout, None)
    assert sorted(d.key for run in plan.runs for d in run) == keys
    assert {d.reason for run in plan.runs for d in run} == {"new file"}
    assert plan.unchanged == 0


def test_changed_format_rules_replan_exactly_the_files_they_touch(
    spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    _manifest(layout, 30, 1.0)
    keys = [f"env0/f{i:03d}.csv" for i in range(30)]
    instance.add_dynamic_partitions(spec.partitions_name, keys)
    seed_samples(instance, spec.sample_key, keys, 1.0)
    cursor = plan_tick(instance, spec, layout, None).cursor
    assert plan_tick(instance, spec, layout, cursor).batch.lines_read == 0
    rules = parse_rules({"env0/f00[0-2].csv": {"delimiter": ";"}})
    configured = DatasetSpec(spec.dataset_id, replace(spec.options, formats=rules))
    plan = plan_tick(instance, configured, layout, cursor)
    assert plan.batch.lines_read == 30
    assert sorted(d.key for run in plan.runs for d in run) == keys[:3]
    assert plan.unchanged == 27
    assert plan.notes[0].startswith("format options changed (rules none to ")
    assert plan_tick(instance, configured, layout, plan.cursor).batch.lines_read == 0
