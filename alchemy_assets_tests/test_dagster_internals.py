import dagster as dg
import pytest
import sqlalchemy as db

# Not exported by dagster: the origin the daemon passes to a sensor evaluation.
from dagster._core.remote_origin import RegisteredCodeLocationOrigin
from dagster._core.storage import tags as dagster_tags
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

from alchemy_assets.dagster_adapters.dagster_internals import (
    BACKFILL_TAG,
    PINNED_VERSION,
    RANGE_END_TAG,
    RANGE_START_TAG,
    CheckTarget,
    code_location_name,
    read_kv_cursor,
    sensor_states,
    serialized_size,
    write_kv_cursor,
)
from alchemy_assets_tests.conftest import store_sensor_cursor


def test_the_installed_dagster_is_the_version_the_internals_were_checked_against() -> None:
    installed = ".".join(dg.__version__.split(".")[:2])
    assert installed == PINNED_VERSION, (
        f"Dagster {dg.__version__} is installed; alchemy_assets/dagster_adapters/"
        f"dagster_internals.py was checked against {PINNED_VERSION}: check each private name "
        "in it against the new version (these tests), then set PINNED_VERSION"
    )


def test_the_serialized_size_is_the_length_of_the_ascii_json_dagster_stores(
    instance: dg.DagsterInstance,
) -> None:
    value = dg.MetadataValue.text("é")
    assert serialized_size(value) == len(
        '{"__class__": "TextMetadataEntryData", "text": "\\u00e9"}'
    )
    event = dg.AssetMaterialization("a", metadata={"note": value})
    instance.report_runless_asset_event(event)
    (record,) = instance.fetch_materializations(dg.AssetKey("a"), limit=1).records
    storage = instance.event_log_storage
    assert isinstance(storage, SqlEventLogStorage)
    table = SqlEventLogStorageTable
    query = db.select(table.c.event).where(table.c.id == record.storage_id)
    with storage.index_connection() as conn:
        (stored,) = conn.execute(query).fetchone() or ("",)
    assert serialized_size(record.event_log_entry) == len(stored)


def test_the_range_tags_are_dagsters_own() -> None:
    assert RANGE_START_TAG == dagster_tags.ASSET_PARTITION_RANGE_START_TAG
    assert RANGE_END_TAG == dagster_tags.ASSET_PARTITION_RANGE_END_TAG


def test_the_backfill_tag_is_dagsters_own() -> None:
    assert BACKFILL_TAG == dagster_tags.BACKFILL_ID_TAG


def test_a_key_value_cursor_reads_back_what_was_written(instance: dg.DagsterInstance) -> None:
    assert read_kv_cursor(instance, "alchemy_assets/x") is None
    write_kv_cursor(instance, "alchemy_assets/x", '{"v": 1}')
    assert read_kv_cursor(instance, "alchemy_assets/x") == '{"v": 1}'


def test_sensor_states_give_each_sensors_name_last_tick_and_cursor(
    instance: dg.DagsterInstance,
) -> None:
    assert sensor_states(instance) == []
    store_sensor_cursor(instance, "s", "c", 20.0)
    assert sensor_states(instance) == [("s", 20.0, "c")]


def test_a_check_target_points_a_check_result_at_a_materialization() -> None:
    target = CheckTarget(storage_id=7, run_id="r", timestamp=1.5)
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("a"),
        check_name="c",
        passed=True,
        target_materialization_data=target,
    )
    assert evaluation.target_materialization_data == target
    with pytest.raises(Exception, match="storage_id"):
        CheckTarget(run_id="r", timestamp=1.5)  # type: ignore[call-arg]


def test_a_sensor_learns_its_code_locations_name_from_its_context() -> None:
    def context(origin: RegisteredCodeLocationOrigin | None) -> dg.SensorEvaluationContext:
        return dg.SensorEvaluationContext(
            instance_ref=None,
            last_tick_completion_time=None,
            last_run_key=None,
            cursor=None,
            log_key=None,
            repository_name=None,
            code_location_origin=origin,
        )

    assert code_location_name(context(RegisteredCodeLocationOrigin("loc"))) == "loc"
    assert code_location_name(context(None)) is None
    assert code_location_name(dg.build_sensor_context()) is None
