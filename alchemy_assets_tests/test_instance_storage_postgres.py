"""PooledPostgresEventLogStorage: dagster-postgres's tables through a pool; the internals it
relies on, pinned."""

import importlib
import inspect
from importlib.metadata import version
from pathlib import Path

import dagster as dg
import pytest
from dagster_postgres import PostgresEventLogStorage
from sqlalchemy.pool import QueuePool

from alchemy_assets.instance_storage import postgres as pooled
from alchemy_assets.instance_storage.postgres import PooledPostgresEventLogStorage
from alchemy_assets_tests.postgres import storage_config


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:]:
            found = getattr(found, name)
        return found
    raise ModuleNotFoundError(dotted)


def _yaml(url: str, synchronous_commit: bool) -> str:
    config = storage_config(url)["postgres"]
    assert isinstance(config, dict)
    return (
        "telemetry:\n  enabled: false\n"
        "event_log_storage:\n"
        "  module: alchemy_assets.instance_storage.postgres\n"
        "  class: PooledPostgresEventLogStorage\n"
        "  config:\n"
        f"    postgres_url: {config['postgres_url']}\n"
        f"    synchronous_commit: {str(synchronous_commit).lower()}\n"
    )


def test_the_installed_dagster_postgres_is_the_version_the_storage_was_written_against() -> None:
    assert version("dagster-postgres").split(".")[:2] == ["0", "29"], (
        f"dagster-postgres {version('dagster-postgres')}: PooledPostgresEventLogStorage "
        "overrides its internals as of 0.29 (see OVERRIDDEN in "
        "alchemy_assets/instance_storage/postgres.py); re-read them and update this pin"
    )
    assert dg.__version__.split(".")[:2] == ["1", "13"]


def test_the_fields_the_storage_replaces_are_set_by_the_stock_constructor(
    postgres_url: str,
) -> None:
    url = storage_config(postgres_url)["postgres"]
    assert isinstance(url, dict)
    stock = PostgresEventLogStorage(url["postgres_url"])
    try:
        assert {"_engine", "_token_provider"} <= set(vars(stock))
    finally:
        stock.dispose()


FIELDS = ("._engine", "._token_provider")  # instance fields, checked on a stock storage below


@pytest.mark.parametrize("dotted", [d for d in pooled.OVERRIDDEN if not d.endswith(FIELDS)])
def test_each_dagster_internal_the_storage_relies_on_still_exists(dotted: str) -> None:
    assert callable(_resolve(dotted))


def test_the_stock_constructor_and_webserver_hook_keep_the_signatures_the_storage_uses() -> None:
    def params(function: object) -> list[str]:
        return list(inspect.signature(function).parameters)  # type: ignore[arg-type]

    assert params(PostgresEventLogStorage.__init__) == [
        "self",
        "postgres_url",
        "should_autocreate_tables",
        "inst_data",
        "token_provider",
    ]
    assert params(PostgresEventLogStorage.optimize_for_webserver) == [
        "self",
        "statement_timeout",
        "pool_recycle",
        "max_overflow",
    ]


@pytest.mark.parametrize("synchronous_commit", [True, False])
def test_the_pooled_storage_keeps_its_connections_and_the_stock_one_reads_what_it_wrote(
    tmp_path: Path, postgres_url: str, synchronous_commit: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_yaml(postgres_url, synchronous_commit))
    key = dg.AssetKey("files")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert type(storage) is PooledPostgresEventLogStorage
        for partition in ["a", "b"]:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(key, partition=partition, metadata={"mtime": 1.0})
            )
        engine = storage._engine
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.checkedin() >= 1  # kept open for the next statement group
        with engine.connect() as conn:
            setting = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        assert setting == ("on" if synchronous_commit else "off")
    with dg.instance_for_test(overrides={"storage": storage_config(postgres_url)}) as stock:
        assert type(stock.event_log_storage) is PostgresEventLogStorage
        records = stock.fetch_materializations(key, limit=10).records
        assert sorted(r.partition_key or "" for r in records) == ["a", "b"]
