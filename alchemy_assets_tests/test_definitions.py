import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets import definitions
from alchemy_assets.defs.datasets import discover_specs
from alchemy_assets.layout import DatasetId, DatasetLayout

PROJECT = Path(__file__).resolve().parent.parent


def _dataset(fp_prefix: Path, name: str, options: str = "") -> DatasetLayout:
    layout = DatasetLayout.under(fp_prefix, DatasetId.parse(name))
    layout.ensure()
    layout.manifest.touch()
    if options:
        (layout.root / "alchemy.toml").write_text(options)
    return layout


def _load(monkeypatch: pytest.MonkeyPatch, fp_prefix: Path | None) -> dg.Definitions:
    if fp_prefix is None:
        monkeypatch.delenv("FP_PREFIX", raising=False)
    else:
        monkeypatch.setenv("FP_PREFIX", str(fp_prefix))
    loaded = definitions.defs()
    assert isinstance(loaded, dg.Definitions)
    dg.Definitions.validate_loadable(loaded)
    return loaded


def test_every_discovered_dataset_gets_its_assets_job_and_running_sensor(
    fp_prefix: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dataset(fp_prefix, "sp/gics_cwiq_pipe/1.0", "sensor_interval_seconds = 120\n")
    _dataset(fp_prefix, "acme/prices/2")
    loaded = _load(monkeypatch, fp_prefix)
    graph = loaded.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == {
        "acme/prices/v2/manifest",
        "acme/prices/v2/bronze",
        "acme/prices/v2/sample",
        "sp/gics_cwiq_pipe/v1_0/manifest",
        "sp/gics_cwiq_pipe/v1_0/bronze",
        "sp/gics_cwiq_pipe/v1_0/sample",
    }
    bronze = graph.get(dg.AssetKey(["sp", "gics_cwiq_pipe", "v1_0", "bronze"]))
    assert bronze.parent_keys == {dg.AssetKey(["sp", "gics_cwiq_pipe", "v1_0", "manifest"])}
    sample = graph.get(dg.AssetKey(["sp", "gics_cwiq_pipe", "v1_0", "sample"]))
    assert sample.parent_keys == {dg.AssetKey(["sp", "gics_cwiq_pipe", "v1_0", "bronze"])}
    assert sample.group_name == "sp__gics_cwiq_pipe__v1_0"
    assert {key.to_user_string() for key in graph.asset_check_keys} == {
        f"{dataset}/sample:{check}"
        for dataset in ("acme/prices/v2", "sp/gics_cwiq_pipe/v1_0")
        for check in ("consistency", "schema_drift")
    }
    sensors = {s.name: s for s in loaded.sensors or []}
    assert sorted(sensors) == [
        "acme__prices__v2__manifest_sensor",
        "sp__gics_cwiq_pipe__v1_0__manifest_sensor",
    ]
    assert all(s.default_status is dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    assert sensors["sp__gics_cwiq_pipe__v1_0__manifest_sensor"].minimum_interval_seconds == 120
    assert sensors["acme__prices__v2__manifest_sensor"].minimum_interval_seconds == 30
    loaded.resolve_job_def("acme__prices__v2__sample_job")


def test_without_fp_prefix_the_code_location_loads_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _load(monkeypatch, None)
    assert list(loaded.resolve_asset_graph().get_all_asset_keys()) == []


def test_two_datasets_with_the_same_key_safe_name_are_refused(fp_prefix: Path) -> None:
    _dataset(fp_prefix, "sp/a-b/1")
    _dataset(fp_prefix, "sp/a_b/1")
    with pytest.raises(
        dg.DagsterInvalidDefinitionError, match="both map to asset group 'sp__a_b__v1'"
    ):
        discover_specs(fp_prefix)


def test_dg_check_defs_passes(fp_prefix: Path, tmp_path: Path) -> None:
    _dataset(fp_prefix, "sp/gics_cwiq_pipe/1.0")
    env = {**os.environ, "FP_PREFIX": str(fp_prefix), "DAGSTER_HOME": str(tmp_path)}
    dg_cli = Path(sys.executable).parent / "dg"
    result = subprocess.run(
        [str(dg_cli), "check", "defs"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr
