"""deploy/dagster.yaml, the team instance: PostgreSQL storage, queued runs, concurrency limits."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from alchemy_assets.defs.spec import DatasetSpec
from alchemy_assets_tests.conftest import RawWriter
from alchemy_assets_tests.postgres import storage_config

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
    return subprocess.run(
        [sys.executable, "-m", "alchemy_assets.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_team_instance_queues_runs_and_limits_them_per_dataset(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, env = _team_home(tmp_path, postgres_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs == 4
        assert queue.tag_concurrency_limits == [
            {
                "key": "alchemy_assets/dataset",
                "value": {"applyLimitPerUniqueValue": True},
                "limit": 2,
            }
        ]


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

    # What the CLI recorded is in the PostgreSQL database, not in a file under DAGSTER_HOME.
    with dg.instance_for_test(overrides={"storage": storage_config(postgres_url)}) as instance:
        records = instance.fetch_materializations(spec.sample_key, limit=10).records
        assert sorted(r.partition_key or "" for r in records) == ["env0/data.csv", "env1/data.csv"]
        assert instance.get_dynamic_partitions(spec.partitions_name) == [
            "env0/data.csv",
            "env1/data.csv",
        ]
