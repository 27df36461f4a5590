import dagster as dg

from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.status_lookup import (
    DAGSTER_MARKED_FAILED,
    dataset_status,
    failed_partitions,
    sensor_cursors,
)
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import encode_line
from alchemy_assets_tests.conftest import RawWriter, daemon_tick, store_sensor_cursor
from benchmarks.seed import store_as_run


def test_the_sensor_cursor_is_read_from_the_latest_ticked_state(
    instance: dg.DagsterInstance,
) -> None:
    store_sensor_cursor(instance, "s", "newer", 20.0)
    store_sensor_cursor(instance, "s", "older", 10.0)
    store_sensor_cursor(instance, "t", None, 5.0)
    assert sensor_cursors(instance) == {"s": "newer", "t": None}


def test_the_backlog_follows_the_daemon_s_sensor_cursor(
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    defs: dg.Definitions,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", b"v\n1\n", 1.0)
    ingest(layout)
    cursor = daemon_tick(defs, spec, instance, None)
    store_sensor_cursor(instance, spec.sensor_name, cursor, 1.0)
    extra = encode_line("raw/env0/b.csv", "bronze/b.csv", 2.0)
    with layout.manifest.open("ab") as f:
        f.write(extra)
    status = dataset_status(instance, spec, layout)
    assert (status.backlog.lines, status.backlog.bytes, status.backlog_by) == (
        1,
        len(extra),
        "sensor",
    )
    assert status.cursors["stage"] is None
    assert (status.files, status.partitions, status.up_to_date, status.unsampled) == (
        2,
        1,
        1,
        ["env0/b.csv"],
    )


def test_a_failure_seen_by_dagster_counts_until_a_later_sample(
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    defs: dg.Definitions,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", b"v\n1\n", 1.0)
    write_raw("env0/b.csv", b'v\n"never closed\n', 1.0)
    ingest(layout)
    daemon_tick(defs, spec, instance, None)  # one run per partition planned event, as the daemon
    failed = failed_partitions(instance, spec, ["env0/a.csv", "env0/b.csv"])
    assert list(failed) == ["env0/b.csv"] and "unterminated quote" in failed["env0/b.csv"]
    store_as_run(
        instance,
        dg.AssetMaterialization(spec.sample_key, partition="env0/b.csv", metadata={"mtime": 1.0}),
    )
    assert failed_partitions(instance, spec, ["env0/a.csv", "env0/b.csv"]) == {}


def test_dagster_s_own_failed_status_counts_for_runs_of_other_jobs(
    instance: dg.DagsterInstance, spec: DatasetSpec
) -> None:
    instance.add_dynamic_partitions(spec.partitions_name, ["env0/x.csv"])

    @dg.asset(key=spec.sample_key, partitions_def=spec.partitions_def)
    def broken() -> None:
        raise RuntimeError("disk gone")

    result = dg.materialize(
        [broken], instance=instance, partition_key="env0/x.csv", raise_on_error=False
    )
    assert not result.success
    assert failed_partitions(instance, spec, ["env0/x.csv"]) == {
        "env0/x.csv": DAGSTER_MARKED_FAILED
    }
