from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from alchemy_assets.defs.pools import ensure_pool_limit
from alchemy_assets.defs.spec import DatasetSpec
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets_tests.conftest import RawWriter, tick
from alchemy_assets_tests.postgres import storage_config

POOL = "alchemy_assets/sp/gics_cwiq_pipe/1.0"
DEFAULT_LIMIT_2 = {"concurrency": {"pools": {"default_limit": 2, "granularity": "run"}}}


@pytest.fixture(params=["sqlite", "postgres"])
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """An instance whose pools default to 2 slots, on SQLite and on PostgreSQL."""
    overrides: dict[str, Any] = dict(DEFAULT_LIMIT_2)
    if request.param == "postgres":
        overrides["storage"] = storage_config(request.getfixturevalue("postgres_url"))
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        yield instance


def _limits(instance: dg.DagsterInstance) -> dict[str, int | None]:
    return {pool.name: pool.limit for pool in instance.event_log_storage.get_pool_limits()}


def test_a_pool_gets_the_instance_default_once_and_keeps_a_limit_set_by_hand(
    limited: dg.DagsterInstance,
) -> None:
    assert _limits(limited) == {}
    assert ensure_pool_limit(limited, POOL)
    assert _limits(limited) == {POOL: 2}
    assert not ensure_pool_limit(limited, POOL)
    limited.event_log_storage.set_concurrency_slots(POOL, 5)  # as the UI or the CLI would
    assert not ensure_pool_limit(limited, POOL)
    assert _limits(limited) == {POOL: 5}


def test_without_a_default_limit_a_pool_stays_unlimited(instance: dg.DagsterInstance) -> None:
    assert not ensure_pool_limit(instance, POOL)
    assert _limits(instance) == {}


def test_the_sensor_sets_the_pools_limit_before_its_first_runs_queue(
    limited: dg.DagsterInstance,
    defs: dg.Definitions,
    spec: DatasetSpec,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    assert isinstance(tick(defs, spec, limited, None), dg.SkipReason)
    assert _limits(limited) == {}  # no run requested: nothing to limit yet
    write_raw("env0/data.csv", b"a\n1\n", 1000.0)
    ingest(layout)
    result = tick(defs, spec, limited, None)
    assert isinstance(result, dg.SensorResult) and result.run_requests
    assert _limits(limited) == {spec.pool: 2}
