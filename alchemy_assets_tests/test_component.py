import logging
from pathlib import Path

import dagster as dg
import pydantic
import pytest

from alchemy_assets.dagster_adapters.component import (
    NO_DATASET_SENSOR,
    AlchemyDatasets,
    DatasetOptions,
    RootError,
    project_component,
)
from alchemy_assets.dagster_adapters.discovery import DISCOVERY_SENSOR, DagsterWebserver
from alchemy_assets.dagster_adapters.sensors import BrokenDatasetError
from alchemy_assets.format_options import FormatOptions, options_for
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets.options import StagingOptions
from alchemy_assets_tests.roots import Root
from alchemy_assets_tests.s3 import SECRET_KEY, closed_port


def _dataset(fp_prefix: Path, name: str, options: str = "") -> DatasetLayout:
    layout = DatasetLayout.under(fp_prefix, DatasetId.parse(name))
    layout.ensure()
    layout.manifest.touch()
    if options:
        (layout.root / "alchemy.toml").write_text(options)
    return layout


def _sensor_intervals(defs: dg.Definitions) -> dict[str, int | None]:
    return {s.name: s.minimum_interval_seconds for s in defs.sensors or []}


def test_a_datasets_option_comes_from_alchemy_toml_then_its_entry_then_the_defaults(
    fp_prefix: Path,
) -> None:
    _dataset(fp_prefix, "sp/a/1", "sensor_interval_seconds = 7\n")
    _dataset(fp_prefix, "sp/b/1")
    _dataset(fp_prefix, "sp/c/1")
    component = AlchemyDatasets(
        root=str(fp_prefix),
        defaults=DatasetOptions(sensor_interval_seconds=60, sample_rows=5),
        datasets={
            "sp/a/1": DatasetOptions(sensor_interval_seconds=90),
            "sp/b/1": DatasetOptions(sensor_interval_seconds=90),
        },
    )
    assert _sensor_intervals(dg.component_defs(component=component)) == {
        "sp__a__v1__manifest_sensor": 7,
        "sp__b__v1__manifest_sensor": 90,
        "sp__c__v1__manifest_sensor": 60,
        DISCOVERY_SENSOR: 15,
    }
    assert component.options_of(DatasetId.parse("sp/b/1")) == StagingOptions(
        sensor_interval_seconds=90, sample_rows=5
    )


def test_format_rules_layer_defaults_then_the_dataset_entry_then_alchemy_toml(
    fp_prefix: Path,
) -> None:
    layout = _dataset(fp_prefix, "sp/a/1", '[formats]\n"env0/*.txt" = { encoding = "cp1252" }\n')
    component = AlchemyDatasets(
        root=str(fp_prefix),
        defaults=DatasetOptions(formats={"**/*.txt": {"format": "csv", "delimiter": "|"}}),
        datasets={"sp/a/1": DatasetOptions(formats={"env0/*": {"delimiter": ";"}})},
    )
    options = component.options_of(layout.dataset_id).load(layout.root)
    assert [rule.pattern for rule in options.formats] == ["**/*.txt", "env0/*", "env0/*.txt"]
    assert options_for(options.formats, "env0/gics.txt") == FormatOptions(
        format="csv", delimiter=";", encoding="cp1252"
    )


def test_a_bad_format_rule_in_the_component_is_refused_naming_pattern_and_key() -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r'formats\."env0/\*": unknown option\(s\) sep'
    ):
        DatasetOptions(formats={"env0/*": {"sep": "|"}})


def test_an_option_out_of_range_in_the_component_is_refused_naming_it() -> None:
    less = r"sample_rows\n  Input should be less than or equal to 1000000"
    with pytest.raises(pydantic.ValidationError, match=less):
        DatasetOptions(sample_rows=1_000_001)


def test_retries_are_bounded_and_may_be_immediate() -> None:
    assert DatasetOptions(retry_delay_seconds=0).over(StagingOptions()).retry_delay_seconds == 0
    with pytest.raises(pydantic.ValidationError, match=r"max_attempts\n  Input should be"):
        DatasetOptions(max_attempts=0)


def test_an_unset_root_fails_the_load_naming_fp_prefix() -> None:
    with pytest.raises(RootError) as err:
        dg.component_defs(component=AlchemyDatasets(root=""))
    assert str(err.value) == (
        "FP_PREFIX is not set: set it to the data root, the folder holding "
        "{vendor}/{dataset}/{version} dataset folders"
    )


@pytest.mark.parametrize(
    ("kind", "problem"), [("missing", "does not exist"), ("file", "is not a directory")]
)
def test_a_root_that_is_not_a_folder_fails_the_load_naming_fp_prefix_and_the_path(
    kind: str, problem: str, tmp_path: Path
) -> None:
    root = tmp_path / "fp"
    if kind == "file":
        root.write_text("")
    with pytest.raises(RootError) as err:
        dg.component_defs(component=AlchemyDatasets(root=str(root)))
    assert str(err.value) == (
        f"FP_PREFIX={root}: the data root {problem}; set FP_PREFIX to the folder holding "
        "{vendor}/{dataset}/{version} dataset folders"
    )


def test_a_root_without_a_dataset_warns_and_gets_a_sensor_that_fails_saying_so(
    fp_prefix: Path, instance: dg.DagsterInstance, caplog: pytest.LogCaptureFixture
) -> None:
    (fp_prefix / "sp" / "x" / "1").mkdir(parents=True)  # a dataset folder without manifest
    reason = (
        f"no dataset under {fp_prefix}: expected "
        f"{fp_prefix}/{{vendor}}/{{dataset}}/{{version}}/manifests/processed.jsonl"
    )
    with caplog.at_level(logging.WARNING):
        defs = dg.component_defs(component=AlchemyDatasets(root=str(fp_prefix)))
    assert reason in caplog.messages
    assert list(defs.resolve_asset_graph().get_all_asset_keys()) == []
    sensor = defs.resolve_sensor_def(NO_DATASET_SENSOR)
    assert sensor.default_status is dg.DefaultSensorStatus.RUNNING
    assert sensor.description == f"Not loaded: {reason}"
    with pytest.raises(BrokenDatasetError, match=r"^no dataset under "):
        sensor(dg.build_sensor_context(instance=instance, definitions=defs))
    # The first dataset to appear gets the code location reloaded like any other.
    assert defs.resolve_sensor_def(DISCOVERY_SENSOR).minimum_interval_seconds == 15


def test_options_for_a_dataset_that_is_not_there_are_reported_unused(
    fp_prefix: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _dataset(fp_prefix, "sp/a/1")
    component = AlchemyDatasets(
        root=str(fp_prefix), datasets={"sp/gone/1": DatasetOptions(sample_rows=3)}
    )
    with caplog.at_level(logging.WARNING):
        dg.component_defs(component=component)
    assert f"datasets: sp/gone/1: no such dataset under {fp_prefix}; its options are unused" in (
        caplog.messages
    )


def test_a_dataset_entry_that_is_not_vendor_dataset_version_fails_the_load(
    fp_prefix: Path,
) -> None:
    _dataset(fp_prefix, "sp/a/1")
    component = AlchemyDatasets(root=str(fp_prefix), datasets={"sp/a": DatasetOptions()})
    with pytest.raises(RootError, match=r"^datasets: 'sp/a': "):
        dg.component_defs(component=component)


def test_the_projects_component_is_the_one_its_defs_yaml_declares_with_the_given_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FP_PREFIX", raising=False)
    component = project_component(tmp_path)
    assert component.root == str(tmp_path)
    assert component.options_of(DatasetId.parse("sp/a/1")) == StagingOptions()
    monkeypatch.setenv("FP_PREFIX", "/somewhere")
    assert project_component().root == "/somewhere"


def test_the_discovery_interval_and_webserver_come_from_the_component(fp_prefix: Path) -> None:
    _dataset(fp_prefix, "sp/a/1")
    component = AlchemyDatasets(
        root=str(fp_prefix), discovery_interval_seconds=20, webserver_url="http://h:3001"
    )
    defs = dg.component_defs(component=component)
    assert defs.resolve_sensor_def(DISCOVERY_SENSOR).minimum_interval_seconds == 20
    assert (defs.resources or {})["dagster_webserver"] == DagsterWebserver(url="http://h:3001")
    with pytest.raises(pydantic.ValidationError, match="discovery_interval_seconds"):
        AlchemyDatasets(root=str(fp_prefix), discovery_interval_seconds=0)


def test_the_projects_webserver_url_is_alchemy_webserver_url_or_the_local_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ALCHEMY_WEBSERVER_URL", raising=False)
    assert project_component().webserver_url == "http://127.0.0.1:3000"
    assert project_component().discovery_interval_seconds == 15
    monkeypatch.setenv("ALCHEMY_WEBSERVER_URL", "http://dagster.internal:8080/prefix")
    assert project_component().webserver_url == "http://dagster.internal:8080/prefix"


def test_a_store_root_builds_the_datasets_found_under_its_prefix(s3_root: str) -> None:
    """``root: s3://bucket/prefix`` (FP_PREFIX in the project's defs.yaml): the datasets are
    discovered under the prefix and each gets its assets and sensor."""
    root = Root.of("s3", s3_root)
    root.write_raw("env0/a.csv", b"v\n1\n")
    root.ingest()
    defs = dg.component_defs(component=AlchemyDatasets(root=s3_root))
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"sp/gics_cwiq_pipe/v1_0/{name}" for name in ("manifest", "bronze", "sample")}
    assert "sp__gics_cwiq_pipe__v1_0__manifest_sensor" in _sensor_intervals(defs)


def test_a_store_root_that_cannot_be_reached_fails_the_load_in_one_line(
    s3_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("ALCHEMY_STORE_RETRIES", "0")
    with pytest.raises(RootError) as err:
        dg.component_defs(component=AlchemyDatasets(root=s3_root))
    message = str(err.value)
    assert message.startswith(f"FP_PREFIX={s3_root}: ") and "reachable" in message, message
    assert "\n" not in message and SECRET_KEY not in message, message
