import dagster as dg

from alchemy_assets.dagster_adapters.spec import DatasetSpec, key_safe
from alchemy_assets.layout import DatasetId


def test_key_safe_makes_valid_asset_key_parts() -> None:
    assert key_safe("1.0") == "v1_0"
    assert key_safe("gics-cwiq.pipe") == "gics_cwiq_pipe"
    assert key_safe("sp") == "sp"


def test_a_spec_names_every_dagster_object_of_its_dataset() -> None:
    spec = DatasetSpec(DatasetId("sp", "gics_cwiq_pipe", "1.0"))
    assert spec.group_name == "sp__gics_cwiq_pipe__v1_0"
    assert spec.bronze_key == dg.AssetKey(["sp", "gics_cwiq_pipe", "v1_0", "bronze"])
    assert spec.sample_key == dg.AssetKey(["sp", "gics_cwiq_pipe", "v1_0", "sample"])
    assert spec.partitions_def.name == spec.partitions_name == "sp__gics_cwiq_pipe__v1_0"
    assert spec.job_name == "sp__gics_cwiq_pipe__v1_0__sample_job"
    assert spec.sensor_name == "sp__gics_cwiq_pipe__v1_0__manifest_sensor"
    assert spec.pool == "alchemy_assets/sp/gics_cwiq_pipe/1.0"
