"""The discovery sensor: unit tests against a real HTTP endpoint, then the real thing under
``dagster dev`` (webserver + daemon): a dataset folder created while it runs goes live, with
no reload from the test."""

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

# Not exported by dagster: the origin the daemon passes to a sensor evaluation.
from dagster._core.remote_origin import RegisteredCodeLocationOrigin

from alchemy_assets.dagster_adapters.discovery import (
    DISCOVERY_SENSOR,
    DagsterWebserver,
    DiscoveryError,
    build_discovery_sensor,
)
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dataset_changes import ReloadRequest
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets_tests.conftest import PROJECT, REPORTS, VENV
from alchemy_assets_tests.ui import (
    DAGSTER_DEV,
    REPOSITORY,
    DagsterDev,
    Graphql,
    location_name,
    sample_materializations,
    sensor_ticks,
    wait_for,
)

LOCATION = "alchemy_assets.definitions:defs"


def _dataset(fp_prefix: Path, name: str, files: dict[str, str] | None = None) -> DatasetLayout:
    """A dataset folder with ``files`` (raw path → CSV text) ingested, or an empty manifest."""
    layout = DatasetLayout.under(fp_prefix, DatasetId.parse(name))
    layout.ensure()
    for relpath, text in (files or {}).items():
        path = layout.raw / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if files:
        ingest(layout)
    else:
        layout.manifest.touch()
    return layout


def _evaluate(
    sensor: dg.SensorDefinition, webserver: DagsterWebserver, cursor: str | None = None
) -> dg.SensorResult:
    """One tick as the daemon runs it in code location ``LOCATION``."""
    context = dg.SensorEvaluationContext(
        instance_ref=None,
        last_tick_completion_time=None,
        last_run_key=None,
        cursor=cursor,
        log_key=None,
        repository_name=REPOSITORY,
        sensor_name=DISCOVERY_SENSOR,
        code_location_origin=RegisteredCodeLocationOrigin(LOCATION),
        resources={"dagster_webserver": webserver},  # type: ignore[dict-item]  # annotated narrower than accepted
    )
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


class _Webserver(ThreadingHTTPServer):
    """A stand-in webserver on loopback answering every GraphQL request with ``answer``, and
    keeping the requests' bodies."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Webserver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(json.loads(body))
        reply = json.dumps(self.server.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _reloaded(typename: str = "RepositoryLocation") -> dict[str, Any]:
    location: dict[str, str] = {"__typename": typename}
    if typename == "PythonError":
        location["message"] = "boom"
    entry = {"__typename": "WorkspaceLocationEntry", "locationOrLoadError": location}
    return {"data": {"reloadRepositoryLocation": entry}}


@pytest.fixture
def webserver() -> Iterator[_Webserver]:
    server = _Webserver(_reloaded())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_the_datasets_it_was_built_with_need_no_reload(fp_prefix: Path) -> None:
    _dataset(fp_prefix, "acme/prices/2")
    sensor = build_discovery_sensor(fp_prefix, ["acme/prices/2"], 15)
    # An empty URL would fail the tick if the sensor asked for a reload.
    result = _evaluate(sensor, DagsterWebserver(url=""))
    assert result.skip_reason is not None
    assert result.skip_reason.skip_message == "1 dataset(s), as loaded"
    assert result.cursor is None


def test_a_new_dataset_folder_gets_the_code_location_reloaded_once(
    fp_prefix: Path, webserver: _Webserver
) -> None:
    _dataset(fp_prefix, "acme/prices/2")
    _dataset(fp_prefix, "sp/new/1")
    sensor = build_discovery_sensor(fp_prefix, ["acme/prices/2"], 15)
    before = time.time()
    result = _evaluate(sensor, DagsterWebserver(url=webserver.url))
    assert [r["variables"] for r in webserver.requests] == [{"repositoryLocationName": LOCATION}]
    assert "reloadRepositoryLocation" in webserver.requests[0]["query"]
    assert result.skip_reason is not None
    assert result.skip_reason.skip_message == (
        f"dataset sp/new/1 appeared: code location {LOCATION} reloaded"
    )
    request = ReloadRequest.parse(result.cursor)
    assert request is not None
    assert request.datasets == ("acme/prices/2", "sp/new/1")
    assert before <= request.at <= time.time()
    # The same change, seen again before the reloaded code location ticks: not asked again.
    again = _evaluate(sensor, DagsterWebserver(url=webserver.url), cursor=result.cursor)
    assert len(webserver.requests) == 1
    assert again.skip_reason is not None
    assert (again.skip_reason.skip_message or "").startswith(
        "dataset sp/new/1 appeared; a reload was asked at "
    )


def test_a_removed_dataset_folder_gets_the_code_location_reloaded(
    fp_prefix: Path, webserver: _Webserver
) -> None:
    _dataset(fp_prefix, "acme/prices/2")
    sensor = build_discovery_sensor(fp_prefix, ["acme/prices/2", "sp/gone/1"], 15)
    result = _evaluate(sensor, DagsterWebserver(url=webserver.url))
    assert len(webserver.requests) == 1
    assert result.skip_reason is not None
    assert result.skip_reason.skip_message == (
        f"dataset sp/gone/1 was removed: code location {LOCATION} reloaded"
    )


def test_an_unreachable_webserver_fails_the_tick_saying_what_to_do(fp_prefix: Path) -> None:
    _dataset(fp_prefix, "sp/new/1")
    sensor = build_discovery_sensor(fp_prefix, [], 15)
    url = _closed_port_url()
    with pytest.raises(DiscoveryError) as err:
        _evaluate(sensor, DagsterWebserver(url=url))
    assert str(err.value) == (
        "dataset sp/new/1 appeared; reload the code location (Deployment → Reload) or set "
        f"ALCHEMY_WEBSERVER_URL to the webserver's URL: the webserver at {url} cannot be "
        "reached (connection refused or no such host)"
    )


def test_no_webserver_url_fails_the_tick_saying_what_to_do(fp_prefix: Path) -> None:
    _dataset(fp_prefix, "sp/new/1")
    sensor = build_discovery_sensor(fp_prefix, [], 15)
    with pytest.raises(DiscoveryError) as err:
        _evaluate(sensor, DagsterWebserver(url=""))
    assert str(err.value) == (
        "dataset sp/new/1 appeared; reload the code location (Deployment → Reload) or set "
        "ALCHEMY_WEBSERVER_URL to the webserver's URL: no webserver URL is set"
    )


def test_a_reload_that_fails_to_load_fails_the_tick_with_the_webservers_answer(
    fp_prefix: Path, webserver: _Webserver
) -> None:
    webserver.answer = _reloaded("PythonError")
    _dataset(fp_prefix, "sp/new/1")
    sensor = build_discovery_sensor(fp_prefix, [], 15)
    with pytest.raises(DiscoveryError) as err:
        _evaluate(sensor, DagsterWebserver(url=webserver.url))
    assert str(err.value).endswith(
        f"the webserver at {webserver.url} did not reload code location {LOCATION!r}: "
        "PythonError: boom"
    )


def test_every_dataset_gone_at_once_is_not_reloaded(fp_prefix: Path) -> None:
    sensor = build_discovery_sensor(fp_prefix, ["acme/prices/2"], 15)
    with pytest.raises(DiscoveryError) as err:
        _evaluate(sensor, DagsterWebserver(url=""))
    assert str(err.value) == (
        f"no dataset under {fp_prefix} now (dataset acme/prices/2 was removed); not reloading "
        "the code location (an unmounted data root looks the same): if they were removed, "
        "reload it (Deployment → Reload)"
    )


def test_a_data_root_that_is_gone_is_not_reloaded(fp_prefix: Path) -> None:
    sensor = build_discovery_sensor(fp_prefix / "gone", ["acme/prices/2"], 15)
    with pytest.raises(DiscoveryError, match="is not a folder now; not reloading"):
        _evaluate(sensor, DagsterWebserver(url=""))


def _asset_keys(graphql: Graphql) -> set[str]:
    nodes = graphql.query("{ assetNodes { assetKey { path } } }")["assetNodes"]
    return {"/".join(node["assetKey"]["path"]) for node in nodes}


def _csv(rows: int, seed: int) -> str:
    return "id,price\n" + "".join(f"{i},{(i * 7 + seed) % 101}\n" for i in range(rows))


@dataclass(frozen=True)
class Intervals:
    """The discovery sensor's interval (``defs.yaml``) and the datasets' sensor interval."""

    discovery: int
    sensor: int


# `dg dev` (what `make demo` runs) serves the project as it is: the default discovery interval,
# so its figures are what a user sees (the README quotes them). `dagster dev` serves a copy
# whose intervals are short: the same steps, less waiting.
AS_SHIPPED = Intervals(discovery=15, sensor=5)
SHORT = Intervals(discovery=3, sensor=2)
DEV_SERVERS = [
    pytest.param(DAGSTER_DEV, SHORT, id="dagster dev"),
    pytest.param(("dg", "dev"), AS_SHIPPED, id="dg dev"),
]


def _served_project(project_copy: Path, intervals: Intervals) -> tuple[Path, dict[str, str]]:
    """The folder to serve and the environment to import it with: the project itself at the
    shipped intervals, else a copy of it with ``defs.yaml`` set to ``intervals.discovery``."""
    env = {"VIRTUAL_ENV": str(VENV)}
    if intervals == AS_SHIPPED:
        return PROJECT, env
    yaml = project_copy / "alchemy_assets" / "defs" / "datasets" / "defs.yaml"
    shipped = f"  discovery_interval_seconds: {AS_SHIPPED.discovery}\n"
    assert shipped in yaml.read_text(), "defs.yaml's discovery interval is not the shipped one"
    yaml.write_text(
        yaml.read_text().replace(shipped, f"  discovery_interval_seconds: {intervals.discovery}\n")
    )
    shutil.copy(PROJECT / "workspace.yaml", project_copy)
    return project_copy, {**env, "PYTHONPATH": str(project_copy)}


@pytest.mark.parametrize(("command", "intervals"), DEV_SERVERS)
@pytest.mark.timeout(900)  # dagster dev and its runs: past the 300 s default on a slow CI
def test_a_dataset_folder_created_while_the_dev_server_runs_goes_live_without_a_reload(
    command: tuple[str, ...],
    intervals: Intervals,
    fp_prefix: Path,
    tmp_path: Path,
    project_copy: Path,
) -> None:
    fast = f"sensor_interval_seconds = {intervals.sensor}\n"
    first = _dataset(fp_prefix, "acme/prices/2")
    (first.root / "alchemy.toml").write_text(fast)
    first.raw.joinpath("env0").mkdir(parents=True)
    first.raw.joinpath("env0/daily.csv").write_text(_csv(50, 0))
    ingest(first)
    first_spec = DatasetSpec(first.dataset_id)
    new_id = DatasetId.parse("sp/new/1")
    new_spec = DatasetSpec(new_id)
    new_sample = "/".join(new_spec.sample_key.path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    served, env = _served_project(project_copy, intervals)
    with DagsterDev.start(fp_prefix, home, extra_env=env, command=command, cwd=served) as dev:
        graphql = dev.graphql
        location = location_name(graphql)
        # The dev server loaded the code location with every dataset under the root.
        assert _asset_keys(graphql) == {
            "acme/prices/v2/manifest",
            "acme/prices/v2/bronze",
            "acme/prices/v2/sample",
        }

        def sampled(spec: DatasetSpec, key: str) -> bool:
            return key in sample_materializations(graphql, list(spec.sample_key.path))

        wait_for(
            lambda: sampled(first_spec, "env0/daily.csv"), 180, "the first sample", dev.log_tail
        )
        wait_for(
            lambda: any(
                t["skipReason"] == "1 dataset(s), as loaded"
                for t in sensor_ticks(graphql, DISCOVERY_SENSOR)
            ),
            120,
            "a discovery tick that finds nothing new",
            dev.log_tail,
        )
        assert new_sample not in _asset_keys(graphql)

        # A new dataset folder: its raw file, its options, then the prod side ingests it.
        new = DatasetLayout.under(fp_prefix, new_id)
        new.raw.joinpath("env0").mkdir(parents=True)
        new.raw.joinpath("env0/data.csv").write_text(_csv(30, 1))
        (new.root / "alchemy.toml").write_text(fast)
        created = time.monotonic()
        ingest(new)
        times: dict[str, float] = {}

        def live() -> bool:
            if "asset" not in times and new_sample in _asset_keys(graphql):
                times["asset"] = time.monotonic() - created
            if "tick" not in times and sensor_ticks(graphql, new_spec.sensor_name):
                times["tick"] = time.monotonic() - created
            if "sampled" not in times and sampled(new_spec, "env0/data.csv"):
                times["sampled"] = time.monotonic() - created
            return len(times) == 3

        wait_for(live, 240, f"{new_id} to go live ({sorted(times)} so far)", dev.log_tail)

        # The reloaded code location was built with both datasets: no further reload.
        def settled() -> bool:
            ticks = sensor_ticks(graphql, DISCOVERY_SENSOR)
            return bool(ticks) and ticks[0]["skipReason"] == "2 dataset(s), as loaded"

        wait_for(settled, 120, "the discovery sensor to find the reloaded set", dev.log_tail)
        reasons = [t["skipReason"] or "" for t in sensor_ticks(graphql, DISCOVERY_SENSOR)]
        assert [r for r in reasons if "reloaded" in r] == [
            f"dataset sp/new/1 appeared: code location {location} reloaded"
        ]

        # One dataset folder removed and a broken one added, at once: the new dataset goes on.
        removed = time.monotonic()
        shutil.rmtree(first.root)
        broken = _dataset(fp_prefix, "sp/broken/1")
        (broken.root / "alchemy.toml").write_text("sample_rows = ")
        new.raw.joinpath("env1").mkdir()
        new.raw.joinpath("env1/more.csv").write_text(_csv(20, 2))
        ingest(new)
        broken_sensor = DatasetSpec(broken.dataset_id).sensor_name
        first_sample = "/".join(first_spec.sample_key.path)

        def dropped() -> bool:
            return first_sample not in _asset_keys(graphql)

        def failing() -> bool:
            ticks = sensor_ticks(graphql, broken_sensor)
            return bool(ticks) and ticks[0]["status"] == "FAILURE"

        wait_for(dropped, 120, "the removed dataset's assets to go", dev.log_tail)
        times["removed"] = time.monotonic() - removed
        wait_for(failing, 120, "the broken dataset's sensor to fail", dev.log_tail)
        error = sensor_ticks(graphql, broken_sensor)[0]["error"]
        assert "not valid TOML" in " ".join(c["message"] for c in error["causes"])
        wait_for(lambda: sampled(new_spec, "env1/more.csv"), 180, "the next file", dev.log_tail)
        assert new_sample in _asset_keys(graphql)
        assert sensor_ticks(graphql, first_spec.sensor_name) == []

    REPORTS[f"a new dataset under {' '.join(command)}, no reload by hand (s after its ingest)"] = [
        f"(a) sample asset in GraphQL: {times['asset']:.1f}",
        f"(b) its sensor ticked: {times['tick']:.1f}",
        f"(c) its file sampled: {times['sampled']:.1f}",
        f"a removed dataset's assets gone: {times['removed']:.1f}",
        f"(discovery_interval_seconds {intervals.discovery}, sensor_interval_seconds "
        f"{intervals.sensor}, {os.cpu_count()} cores)",
    ]
