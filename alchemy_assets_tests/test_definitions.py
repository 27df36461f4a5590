import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets import definitions
from alchemy_assets.dagster_adapters.datasets import discover
from alchemy_assets.dagster_adapters.sensors import BrokenDatasetError
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets_tests.conftest import VENV
from alchemy_assets_tests.processes import sigint_ignored
from alchemy_assets_tests.ui import DagsterDev

PROJECT = Path(__file__).resolve().parent.parent
TIMEOUT = 300


def _env(fp_prefix: Path, path: Path) -> dict[str, str]:
    """The environment of a dg command: the data root, a Dagster instance of its own, the
    project's virtual environment active, and the package imported from ``path``."""
    home = path / "dagster_home"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "FP_PREFIX": str(fp_prefix),
        "DAGSTER_HOME": str(home),
        "VIRTUAL_ENV": str(VENV),
        "PYTHONPATH": str(path),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    program = str(VENV / "bin" / command[0])
    return subprocess.run(
        [program, *command[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _listed_assets(project: Path, env: dict[str, str]) -> set[str]:
    result = _run(["dg", "list", "defs", "--json"], project, env)
    assert result.returncode == 0, result.stdout + result.stderr
    return {asset["asset_key"] for asset in json.loads(result.stdout)["assets"]}


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
        "alchemy_assets__discovery_sensor",
        "sp__gics_cwiq_pipe__v1_0__manifest_sensor",
    ]
    assert all(s.default_status is dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    assert sensors["sp__gics_cwiq_pipe__v1_0__manifest_sensor"].minimum_interval_seconds == 120
    assert sensors["acme__prices__v2__manifest_sensor"].minimum_interval_seconds == 30
    loaded.resolve_job_def("acme__prices__v2__sample_job")


def test_without_fp_prefix_the_code_location_fails_to_load_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(Exception, match="Error while building definitions for datasets") as err:
        _load(monkeypatch, None)
    assert str(err.value.__cause__) == (
        "FP_PREFIX is not set: set it to the data root, the folder holding "
        "{vendor}/{dataset}/{version} dataset folders"
    )


def test_a_file_scaffolded_into_the_defs_folder_loads_beside_the_datasets(
    fp_prefix: Path, project_copy: Path
) -> None:
    _dataset(fp_prefix, "acme/prices/2")
    env = _env(fp_prefix, project_copy)
    scaffold = _run(["dg", "scaffold", "defs", "dagster.asset", "foo.py"], project_copy, env)
    assert scaffold.returncode == 0, scaffold.stdout + scaffold.stderr
    assert (project_copy / "alchemy_assets" / "defs" / "foo.py").is_file()
    assert _listed_assets(project_copy, env) == {
        "foo",
        "acme/prices/v2/manifest",
        "acme/prices/v2/bronze",
        "acme/prices/v2/sample",
    }


def test_dg_list_defs_lists_every_datasets_assets(fp_prefix: Path, tmp_path: Path) -> None:
    _dataset(fp_prefix, "acme/prices/2")
    assert _listed_assets(PROJECT, _env(fp_prefix, tmp_path)) == {
        "acme/prices/v2/manifest",
        "acme/prices/v2/bronze",
        "acme/prices/v2/sample",
    }


def test_dg_check_yaml_passes_the_projects_yaml(fp_prefix: Path, tmp_path: Path) -> None:
    result = _run(["dg", "check", "yaml"], PROJECT, _env(fp_prefix, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All component YAML validated successfully" in result.stdout + result.stderr


def test_dg_check_yaml_reports_a_misspelled_attribute_at_its_line(
    fp_prefix: Path, project_copy: Path
) -> None:
    yaml = project_copy / "alchemy_assets" / "defs" / "datasets" / "defs.yaml"
    lines = yaml.read_text().splitlines()
    line = lines.index("  defaults:") + 1
    lines[line - 1] = "  defualts:"
    yaml.write_text("\n".join(lines) + "\n")
    result = _run(["dg", "check", "yaml"], project_copy, _env(fp_prefix, project_copy))
    assert result.returncode == 1
    assert (
        f"{yaml}:{line} - alchemy_assets.dagster_adapters.component.AlchemyDatasets "
        "attributes.defualts Additional properties are not allowed ('defualts' was unexpected)"
    ) in result.stdout + result.stderr


# That `dagster dev` and `dg dev` load the code location with every dataset under the root
# is asserted in test_discovery.py, by the test that runs each of them (one server start
# each, not two).


def _asset_keys(loaded: dg.Definitions) -> set[str]:
    return {key.to_user_string() for key in loaded.resolve_asset_graph().get_all_asset_keys()}


def _sensor_error(loaded: dg.Definitions, name: str, instance: dg.DagsterInstance) -> str:
    """The error one evaluation of sensor ``name`` fails with, as the daemon would run it."""
    sensor = loaded.resolve_sensor_def(name)
    context = dg.build_sensor_context(
        instance=instance, definitions=loaded, resources=dict(loaded.resources or {})
    )
    with pytest.raises(BrokenDatasetError) as err:
        sensor(context)
    return str(err.value)


def _break_options(root: Path, kind: str) -> None:
    path = root / "alchemy.toml"
    if kind == "directory":
        path.mkdir()
    elif kind == "dangling link":
        path.symlink_to(root / "gone.toml")
    else:
        path.write_text(kind)


BAD_OPTIONS = [
    ("sample_rows = ", "not valid TOML: Invalid value (at end of document)"),
    (
        "rows = 5",
        "unknown option(s) rows; known: asset_checks, bronze_events, compare, formats, "
        "max_attempts, max_lines_per_tick, partitions_per_run, retry_delay_seconds, sample_rows, "
        "sensor_interval_seconds",
    ),
    ('sample_rows = "5"', "sample_rows must be an integer from 1 to 1,000,000, got '5'"),
    (
        "sample_rows = 9223372036854775807",
        "sample_rows must be an integer from 1 to 1,000,000, got 9223372036854775807",
    ),
    ("directory", "a directory, not a file"),
    ("dangling link", "a symbolic link to {root}/gone.toml, which does not exist"),
]


@pytest.mark.parametrize(("kind", "message"), BAD_OPTIONS)
def test_a_bad_alchemy_toml_breaks_only_its_own_dataset_whose_sensor_fails_with_the_reason(
    kind: str,
    message: str,
    fp_prefix: Path,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _dataset(fp_prefix, "sp/gics_cwiq_pipe/1.0")
    broken = _dataset(fp_prefix, "acme/prices/2")
    _break_options(broken.root, kind)
    loaded = _load(monkeypatch, fp_prefix)
    assert _asset_keys(loaded) == {
        "sp/gics_cwiq_pipe/v1_0/manifest",
        "sp/gics_cwiq_pipe/v1_0/bronze",
        "sp/gics_cwiq_pipe/v1_0/sample",
    }
    loaded.resolve_job_def("sp__gics_cwiq_pipe__v1_0__sample_job")
    sensors = {s.name: s for s in loaded.sensors or []}
    assert sorted(sensors) == [
        "acme__prices__v2__manifest_sensor",
        "alchemy_assets__discovery_sensor",
        "sp__gics_cwiq_pipe__v1_0__manifest_sensor",
    ]
    reason = f"{broken.root}/alchemy.toml: {message.format(root=broken.root)}"
    broken_sensor = sensors["acme__prices__v2__manifest_sensor"]
    assert broken_sensor.default_status is dg.DefaultSensorStatus.RUNNING
    assert broken_sensor.description == f"Not loaded: {reason}"
    assert _sensor_error(loaded, "acme__prices__v2__manifest_sensor", instance) == reason


def test_folders_that_map_to_one_asset_group_are_all_refused_and_the_rest_loads(
    fp_prefix: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dataset(fp_prefix, "sp/x/1.0")
    _dataset(fp_prefix, "sp/x/v1.0")
    _dataset(fp_prefix, "sp/a-b/1")
    _dataset(fp_prefix, "sp/a_b/1")
    _dataset(fp_prefix, "sp/a.b/1")
    _dataset(fp_prefix, "acme/prices/2")
    found = discover(fp_prefix)
    assert [str(spec.dataset_id) for spec in found.specs] == ["acme/prices/2"]
    assert [(list(map(str, b.dataset_ids)), b.sensor_name, b.reason) for b in found.broken] == [
        (
            ["sp/a-b/1", "sp/a.b/1", "sp/a_b/1"],
            "sp__a_b__v1__manifest_sensor",
            "datasets sp/a-b/1, sp/a.b/1 and sp/a_b/1 all map to asset group 'sp__a_b__v1'; "
            "none of them is loaded: rename all but one of their folders",
        ),
        (
            ["sp/x/1.0", "sp/x/v1.0"],
            "sp__x__v1_0__manifest_sensor",
            "datasets sp/x/1.0 and sp/x/v1.0 both map to asset group 'sp__x__v1_0'; "
            "none of them is loaded: rename one of their folders",
        ),
    ]
    loaded = _load(monkeypatch, fp_prefix)
    assert _asset_keys(loaded) == {
        "acme/prices/v2/manifest",
        "acme/prices/v2/bronze",
        "acme/prices/v2/sample",
    }
    assert sorted(s.name for s in loaded.sensors or []) == [
        "acme__prices__v2__manifest_sensor",
        "alchemy_assets__discovery_sensor",
        "sp__a_b__v1__manifest_sensor",
        "sp__x__v1_0__manifest_sensor",
    ]
    assert _sensor_error(loaded, "sp__x__v1_0__manifest_sensor", instance) == (
        found.broken[1].reason
    )


def test_dg_check_defs_passes_beside_a_broken_dataset(fp_prefix: Path, tmp_path: Path) -> None:
    _dataset(fp_prefix, "sp/gics_cwiq_pipe/1.0")
    _dataset(fp_prefix, "acme/prices/2", "sample_rows = [")
    result = _run(["dg", "check", "defs"], PROJECT, _env(fp_prefix, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dagster_evaluates_a_broken_datasets_sensor_to_its_error(
    fp_prefix: Path, tmp_path: Path
) -> None:
    _dataset(fp_prefix, "sp/gics_cwiq_pipe/1.0")
    broken = _dataset(fp_prefix, "acme/prices/2", "sample_rows = 9223372036854775807\n")
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "FP_PREFIX": str(fp_prefix), "DAGSTER_HOME": str(home)}
    dagster_cli = str(Path(sys.executable).parent / "dagster")
    sensor = "acme__prices__v2__manifest_sensor"
    result = subprocess.run(
        [dagster_cli, "sensor", "preview", sensor, "-m", "alchemy_assets.definitions"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert (
        f"alchemy_assets.dagster_adapters.sensors.BrokenDatasetError: {broken.root}/alchemy.toml: "
        "sample_rows must be an integer from 1 to 1,000,000, got 9223372036854775807"
    ) in result.stdout + result.stderr


def test_dg_list_components_lists_the_datasets_component(tmp_path: Path) -> None:
    result = _run(["dg", "list", "components", "--json"], PROJECT, _env(tmp_path, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alchemy_assets.dagster_adapters.component.AlchemyDatasets" in {
        component["key"] for component in json.loads(result.stdout)["items"]
    }


def _dagster(fp_prefix: str | None, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _env(tmp_path, tmp_path)
    del env["FP_PREFIX"]
    if fp_prefix is not None:
        env["FP_PREFIX"] = fp_prefix
    return _run(["dagster", *args, "-m", "alchemy_assets.definitions"], PROJECT, env)


def test_dagster_asset_list_fails_naming_an_unset_fp_prefix(tmp_path: Path) -> None:
    result = _dagster(None, tmp_path, "asset", "list")
    assert result.returncode == 1
    assert (
        "alchemy_assets.dagster_adapters.component.RootError: FP_PREFIX is not set: set it to "
        "the data root, the folder holding {vendor}/{dataset}/{version} dataset folders"
    ) in result.stderr


def test_a_root_that_does_not_exist_is_the_code_locations_load_error_in_the_ui(
    tmp_path: Path,
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    missing = tmp_path / "nowhere"
    # Started as in CI, SIGINT ignored: stopping it is still Dagster's own clean shutdown (it
    # was a SIGKILL 30 s later).
    with sigint_ignored(), DagsterDev.start(missing, home, wait_loaded=False) as dev:
        error = dev.graphql.location_error(180, dev.log_tail)
    assert dev.process.returncode == 0, dev.log_tail()
    assert (
        f"RootError: FP_PREFIX={missing}: the data root does not exist; set FP_PREFIX to the "
        "folder holding {vendor}/{dataset}/{version} dataset folders"
    ) in error


def test_a_root_without_a_dataset_is_a_warning_in_the_log_and_a_failing_sensor(
    fp_prefix: Path, tmp_path: Path
) -> None:
    reason = (
        f"no dataset under {fp_prefix}: expected "
        f"{fp_prefix}/{{vendor}}/{{dataset}}/{{version}}/manifests/processed.jsonl"
    )
    listed = _dagster(str(fp_prefix), tmp_path, "asset", "list")
    assert listed.returncode == 0
    assert reason in listed.stderr
    preview = _dagster(
        str(fp_prefix), tmp_path, "sensor", "preview", "alchemy_assets__no_dataset_sensor"
    )
    assert f"BrokenDatasetError: {reason}" in preview.stdout + preview.stderr
