"""Fixtures: a data root ``FP_PREFIX`` under ``tmp_path``, raw files, a real Dagster instance."""

import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

# Not exported by dagster: a sensor's stored state, as the daemon writes it.
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)

from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.lookup import recorded_mtime
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets.options import StagingOptions
from alchemy_assets_tests.postgres import ENV as POSTGRES_ENV
from alchemy_assets_tests.postgres import (
    Databases,
    admin_url,
    create_dagster_template,
    storage_config,
)
from alchemy_assets_tests.processes import default_sigterm
from alchemy_assets_tests.roots import Root, disk_root
from alchemy_assets_tests.s3 import FaultProxy, S3Server

RawWriter = Callable[[str, bytes, float], Path]
PROJECT = Path(__file__).resolve().parent.parent
VENV = Path(sys.executable).parent.parent

# What the reliability tests tried and found, printed at the end of the run (the README's
# "Guarantees" figures come from the last `make test-all`).
FIGURES: Counter[str] = Counter()
# Tables a test prints at the end of the run, by title (the real-data corpus results per kind).
REPORTS: dict[str, list[str]] = {}


def pytest_sessionfinish(session: pytest.Session) -> None:
    # An xdist worker (make test runs two) sends what its tests found to the controller,
    # whose terminal summary prints it.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["alchemy_figures"] = dict(FIGURES)
        workeroutput["alchemy_reports"] = REPORTS


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """An xdist worker's figures and reports, added to the controller's."""
    output = getattr(node, "workeroutput", {})
    FIGURES.update(output.get("alchemy_figures", {}))
    REPORTS.update(output.get("alchemy_reports", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_sep("-", "guarantee figures")
        for name, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {value}")
    for title, lines in REPORTS.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def sigterm_not_left_ignored() -> Iterator[None]:
    """Undo the SIGTERM "ignore" a Dagster run leaves behind in a test run started with SIGINT
    ignored (see ``processes.py``), so the next test's children and a CI runner's SIGTERM work."""
    yield
    default_sigterm()


@pytest.fixture
def fp_prefix(tmp_path: Path) -> Path:
    root = tmp_path / "fp"
    root.mkdir()
    return root


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the dg project (its package imported from the copy: set PYTHONPATH to it)
    that a test may change; the virtual environment is the project's own."""
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(PROJECT / "pyproject.toml", copy)
    shutil.copytree(
        PROJECT / "alchemy_assets",
        copy / "alchemy_assets",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (copy / ".venv").symlink_to(VENV)
    return copy


@pytest.fixture
def layout(fp_prefix: Path) -> DatasetLayout:
    dataset = DatasetLayout.under(fp_prefix, DatasetId("sp", "gics_cwiq_pipe", "1.0"))
    dataset.ensure()
    return dataset


@pytest.fixture
def write_raw(layout: DatasetLayout) -> RawWriter:
    """Write ``raw/<relpath>`` with ``data`` and set its mtime."""

    def write(relpath: str, data: bytes, mtime: float) -> Path:
        path = layout.raw / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        return path

    return write


@pytest.fixture(scope="session")
def postgres_databases() -> Databases:
    """The Postgres cluster of ``scripts/services.sh`` (skips when ``make test`` did not set it)."""
    url = admin_url()
    if url is None:
        pytest.skip(f"{POSTGRES_ENV} is not set: run the tests with `make test`")
    return Databases(url)


@pytest.fixture(scope="session")
def postgres_template(
    postgres_databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database holding Dagster's schema, copied for each test."""
    name = create_dagster_template(postgres_databases, str(tmp_path_factory.mktemp("pg_home")))
    yield name
    postgres_databases.drop(name)


@pytest.fixture
def postgres_url(postgres_databases: Databases, postgres_template: str) -> Iterator[str]:
    """A fresh database with Dagster's schema, dropped after the test."""
    with postgres_databases.database(template=postgres_template) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A real Dagster instance in a temp ``DAGSTER_HOME`` (its dagster.yaml written there, so
    the CLI finds it too): on SQLite files, and again on a real PostgreSQL server."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    overrides = None
    if request.param == "postgres":
        overrides = {"storage": storage_config(request.getfixturevalue("postgres_url"))}
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as test_instance:
        yield test_instance


@pytest.fixture
def spec(layout: DatasetLayout) -> DatasetSpec:
    return DatasetSpec(layout.dataset_id, StagingOptions(sample_rows=5, retry_delay_seconds=0))


@pytest.fixture
def defs(spec: DatasetSpec, fp_prefix: Path) -> dg.Definitions:
    return build_defs([spec], AlchemyRoot(fp_prefix=str(fp_prefix)))


def tick(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, cursor: str | None
) -> dg.SensorResult | dg.SkipReason:
    """Evaluate the dataset's sensor once, as the daemon would."""
    sensor = defs.resolve_sensor_def(spec.sensor_name)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
    )
    result = sensor(context)
    assert isinstance(result, dg.SensorResult | dg.SkipReason)
    return result


def apply_partition_adds(result: dg.SensorResult, instance: dg.DagsterInstance) -> None:
    """Add the partitions a tick asked for, as the daemon does before launching runs."""
    for request in result.dynamic_partitions_requests or []:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def run_requests(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    result: dg.SensorResult,
) -> None:
    """Launch a tick's run requests in-process, as the daemon would launch them."""
    job = defs.resolve_job_def(spec.job_name)
    for request in result.run_requests or []:
        job.execute_in_process(
            run_config=request.run_config,
            instance=instance,
            partition_key=request.partition_key,
            tags=request.tags,
            raise_on_error=False,
        )


def daemon_tick(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, cursor: str | None
) -> str | None:
    """One sensor tick as the daemon applies it: adds, runs, then the new cursor."""
    result = tick(defs, spec, instance, cursor)
    if isinstance(result, dg.SkipReason):
        return cursor
    apply_partition_adds(result, instance)
    run_requests(defs, spec, instance, result)
    return result.cursor


def sampled_mtimes(instance: dg.DagsterInstance, spec: DatasetSpec) -> list[tuple[str, float]]:
    """Every sample materialization recorded, as (partition, mtime), oldest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key), limit=10_000, ascending=True
    ).records
    out = []
    for record in records:
        event = record.asset_materialization
        assert event is not None and event.partition is not None
        mtime = recorded_mtime(event.metadata["mtime"])
        assert mtime is not None
        out.append((event.partition, mtime))
    return out


def requested_files(request: dg.RunRequest) -> list[dict[str, Any]]:
    """The files a sensor's run request asks the sample run to sample."""
    (op_config,) = request.run_config["ops"].values()
    files: list[dict[str, Any]] = op_config["config"]["files"]
    return files


def store_sensor_cursor(
    instance: dg.DagsterInstance, name: str, cursor: str | None, tick: float
) -> None:
    """Store a sensor's state with ``cursor``, as the daemon does after a tick at ``tick``."""
    origin = RemoteInstigatorOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(f"loc{tick}"), "__repository__"),
        name,
    )
    data = SensorInstigatorData(last_tick_timestamp=tick, cursor=cursor)
    instance.add_instigator_state(
        InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.RUNNING, data)
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server for the test process (see alchemy_assets_tests/s3.py)."""
    from alchemy_assets_tests.s3 import running_server

    with running_server() as server:
        yield server


@pytest.fixture
def s3_root(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket and the data root URL ``s3://<bucket>/fp`` on it, with the ``AWS_*``
    variables of the server set for this test (and the processes it starts)."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return f"s3://{s3_server.new_bucket()}/fp"


@pytest.fixture(params=["disk", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Root:
    """The data root of a core test, once on disk and once on the S3 API server (moto), with
    the dataset ``sp/gics_cwiq_pipe/1.0`` in it (see alchemy_assets_tests/roots.py)."""
    if request.param == "disk":
        return disk_root(tmp_path)
    return Root.of("s3", request.getfixturevalue("s3_root"))


@pytest.fixture
def s3_proxy(
    s3_server: S3Server, s3_root: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the test's S3 server (it records each request and
    answers 503 SlowDown when told to), as ``AWS_ENDPOINT_URL`` of the roots opened after."""
    from alchemy_assets_tests.s3 import fault_proxy

    with fault_proxy(s3_server) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        yield proxy
