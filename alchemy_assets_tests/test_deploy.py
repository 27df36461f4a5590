"""deploy/dagster.yaml, the team instance: PostgreSQL storage, queued runs, concurrency limits."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
from dagster._core.instance.config import PoolGranularity
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.instance_storage.postgres import PooledPostgresEventLogStorage
from alchemy_assets_tests.conftest import RawWriter
from alchemy_assets_tests.postgres import storage_config
from alchemy_assets_tests.ui import DagsterDev, sample_materializations, wait_for

DEPLOY_YAML = Path(__file__).resolve().parent.parent / "deploy" / "dagster.yaml"


def _team_home(tmp_path: Path, postgres_url: str) -> tuple[Path, dict[str, str]]:
    """A DAGSTER_HOME holding deploy/dagster.yaml, and the environment that fills it in."""
    home = tmp_path / "team_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    url = urlsplit(postgres_url)
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": url.hostname or "",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_DB": url.path.lstrip("/"),
        "DAGSTER_PG_USERNAME": url.username or "",
        "DAGSTER_PG_PASSWORD": url.password or "",
    }
    return home, env


def _alchemy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _run(env, sys.executable, "-m", "alchemy_assets.cli", *args)


def _dagster(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _run(env, str(Path(sys.executable).with_name("dagster")), *args)


def _run(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_team_instance_queues_runs_and_limits_each_datasets_pool(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, env = _team_home(tmp_path, postgres_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert type(instance.event_log_storage) is PooledPostgresEventLogStorage
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert "run_coordinator" not in DEPLOY_YAML.read_text()  # queued is Dagster's default
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        config = instance.get_concurrency_config()
        assert config.run_queue_config is not None
        assert config.run_queue_config.max_concurrent_runs == 4
        assert config.run_queue_config.tag_concurrency_limits == []
        assert config.pool_config.default_pool_limit == 2
        assert config.pool_config.pool_granularity == PoolGranularity.RUN
        # Each dataset's sensor is evaluated in a thread of its own (P5 in benchmarks/).
        assert instance.get_settings("sensors") == {"use_threads": True, "num_workers": 8}


def test_the_cli_ingests_and_stages_into_the_team_instance(
    tmp_path: Path,
    postgres_url: str,
    fp_prefix: Path,
    write_raw: RawWriter,
    spec: DatasetSpec,
) -> None:
    _, env = _team_home(tmp_path, postgres_url)
    write_raw("env0/data.csv", b"a,b\n1,2\n", 1000.0)
    write_raw("env1/data.csv", b"a,b\n3,4\n", 1000.0)
    root = ["--root", str(fp_prefix)]
    assert _alchemy(env, "ingest", str(spec.dataset_id), *root).returncode == 0
    staged = _alchemy(env, "stage", *root)
    assert staged.returncode == 0, staged.stderr
    assert "2 new partitions, 2 sampled" in staged.stdout
    again = _alchemy(env, "stage", *root)
    assert "0 new partitions, 0 sampled" in again.stdout

    # What the CLI recorded is in the PostgreSQL database, not in a file under DAGSTER_HOME,
    # and dagster-postgres's own storage (configured here) reads it.
    with dg.instance_for_test(overrides={"storage": storage_config(postgres_url)}) as instance:
        records = instance.fetch_materializations(spec.sample_key, limit=10).records
        assert sorted(r.partition_key or "" for r in records) == ["env0/data.csv", "env1/data.csv"]
        assert instance.get_dynamic_partitions(spec.partitions_name) == [
            "env0/data.csv",
            "env1/data.csv",
        ]


@pytest.mark.timeout(900)  # dagster dev and its runs: past the 300 s default on a slow CI
def test_the_daemon_dequeues_and_runs_the_sensors_runs_on_postgres(
    tmp_path: Path, postgres_url: str, fp_prefix: Path, write_raw: RawWriter, spec: DatasetSpec
) -> None:
    """``dagster dev`` on the team instance: the sensor's runs go through the queue, take a
    slot of the dataset's pool (at most 2 at a time) and succeed; all recorded in PostgreSQL."""
    home, env = _team_home(tmp_path, postgres_url)
    for i in range(6):
        write_raw(f"env{i % 2}/f{i}.csv", f"a,b\n{i},{i}\n".encode(), 1000.0 + i)
    (fp_prefix / "sp" / "gics_cwiq_pipe" / "1.0" / "alchemy.toml").write_text(
        "sensor_interval_seconds = 5\npartitions_per_run = 2\n"
    )
    assert _alchemy(env, "ingest", str(spec.dataset_id), "--root", str(fp_prefix)).returncode == 0
    keys = {f"env{i % 2}/f{i}.csv" for i in range(6)}
    path = [*spec.sample_key.path]
    # The deploy step the README asks for: the dataset's pool limit, before its first runs.
    done = _dagster(env, "instance", "concurrency", "set", spec.pool, "2")
    assert done.returncode == 0, done.stderr
    with (
        dg.instance_for_test(overrides={"storage": storage_config(postgres_url)}) as instance,
        DagsterDev.start(fp_prefix=fp_prefix, dagster_home=home, extra_env=env) as dev,
    ):

        def all_sampled_and_finished() -> bool:
            if not set(sample_materializations(dev.graphql, path)) >= keys:
                return False
            runs = instance.get_runs(dg.RunsFilter(job_name=spec.job_name))
            return all(run.is_finished for run in runs)

        what = "the sensor's runs to sample every file and end"
        wait_for(all_sampled_and_finished, 180.0, what, dev.log_tail)
        assert "QueuedRunCoordinatorDaemon" in dev.log.read_text()
        runs = instance.get_runs(dg.RunsFilter(job_name=spec.job_name))
        assert len(runs) == 3  # 6 files, at most 2 partitions per run
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
        assert {run.tags.get("alchemy_assets/dataset") for run in runs} == {str(spec.dataset_id)}
        # Each run went through the queue: Dagster records the enqueue event.
        for run in runs:
            queued = instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED
            ).records
            assert len(queued) == 1
            assert run.run_op_concurrency is not None
            assert run.run_op_concurrency.all_pools == {spec.pool}
        # The sensor queued the 3 runs in one tick; the pool let at most 2 of them run at once.
        # The daemon launches runs one after the other (~3 s each here), so start and end times
        # alone can miss a pass that let all 3 go; its log says how many each pass launched.
        # (Without the deploy step above its first pass launched all 3: see the README.)
        launched = [int(n) for n in re.findall(r"Launched (\d+) runs?\.", dev.log.read_text())]
        assert launched and max(launched) <= 2, launched
        records = instance.get_run_records(dg.RunsFilter(job_name=spec.job_name))
        spans = [(r.start_time or 0.0, r.end_time or 0.0) for r in records]
        assert all(0.0 < start < end for start, end in spans), spans
        assert _most_at_once(spans) <= 2, spans
        pool = instance.event_log_storage.get_concurrency_info(spec.pool)
        assert pool.slot_count == 2


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most spans (start, end) that overlap at one moment."""
    return max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)
