import dagster as dg

from alchemy_assets.dagster_adapters.lookup import (
    chunks,
    latest_sampled_deliveries,
    recorded_mtime,
)
from alchemy_assets.delivery import Delivery
from benchmarks.seed import store_as_run

KEY = dg.AssetKey(["sp", "x", "sample"])


def _report(
    instance: dg.DagsterInstance,
    partition: str,
    mtime: float,
    tagged: bool = True,
    as_float: bool = False,
) -> None:
    value = dg.MetadataValue.float(mtime) if as_float else dg.MetadataValue.timestamp(mtime)
    store_as_run(
        instance,
        dg.AssetMaterialization(
            asset_key=KEY,
            partition=partition,
            metadata={"mtime": value},
            tags={"dagster/data_version": repr(mtime)} if tagged else None,
        ),
    )


def test_the_latest_sample_mtime_of_each_partition_is_found(instance: dg.DagsterInstance) -> None:
    instance.add_dynamic_partitions("files", ["a", "b", "c", "d"])
    _report(instance, "a", 1.0)
    _report(instance, "a", 2.5)
    _report(instance, "b", 7.0, tagged=False)  # materialized by other means: metadata is read
    _report(instance, "c", 3.0)
    found = latest_sampled_deliveries(instance, KEY, ["a", "b", "d"])
    assert found == {"a": Delivery(2.5), "b": Delivery(7.0)}


def test_the_size_and_checksum_a_sample_holds_are_read_from_its_data_version(
    instance: dg.DagsterInstance,
) -> None:
    held = {"a": Delivery(1.5, 27), "b": Delivery(2.0, 3, "ab" * 32), "c": Delivery(4.0)}
    instance.add_dynamic_partitions("files", list(held))
    for key, delivery in held.items():
        store_as_run(
            instance,
            dg.AssetMaterialization(
                asset_key=KEY,
                partition=key,
                metadata={"mtime": dg.MetadataValue.timestamp(delivery.mtime)},
                tags={"dagster/data_version": delivery.version()},
            ),
        )
    assert latest_sampled_deliveries(instance, KEY, list(held)) == held


def test_a_timestamp_mtime_and_an_older_float_one_both_read_back_exactly(
    instance: dg.DagsterInstance,
) -> None:
    mtime = 1737200000.123456789
    instance.add_dynamic_partitions("files", ["new", "old"])
    _report(instance, "new", mtime, tagged=False)
    _report(instance, "old", mtime + 1e-6, tagged=False, as_float=True)
    assert latest_sampled_deliveries(instance, KEY, ["new", "old"]) == {
        "new": Delivery(mtime),
        "old": Delivery(mtime + 1e-6),
    }


def test_only_a_timestamp_or_float_mtime_counts_as_recorded() -> None:
    assert recorded_mtime(dg.MetadataValue.timestamp(1.5)) == 1.5
    assert recorded_mtime(dg.MetadataValue.float(1.5)) == 1.5
    assert recorded_mtime(dg.MetadataValue.text("1.5")) is None
    assert recorded_mtime(None) is None


def test_many_keys_are_looked_up_in_chunks(instance: dg.DagsterInstance) -> None:
    keys = [f"k{i}" for i in range(12_000)]
    instance.add_dynamic_partitions("files", keys)
    _report(instance, "k11999", 9.0)
    assert latest_sampled_deliveries(instance, KEY, keys) == {"k11999": Delivery(9.0)}


def test_chunks_cover_everything_in_order() -> None:
    assert [list(c) for c in chunks([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]


def test_a_materialization_reported_without_a_run_is_not_a_sample(
    instance: dg.DagsterInstance,
) -> None:
    """What the webserver's report_asset_materialization records: it can be forged."""
    instance.add_dynamic_partitions("files", ["a", "b"])
    _report(instance, "a", 1.0)
    _report(instance, "b", 1.0)
    for partition in ("a", "b"):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=KEY, partition=partition, tags={"dagster/data_version": "9.0"}
            )
        )
    assert latest_sampled_deliveries(instance, KEY, ["a", "b"]) == {}
