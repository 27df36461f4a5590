"""PooledSqliteEventLogStorage: Dagster's files, pooled connections, durable at run end, a
live run-log watcher; and the Dagster internals it relies on, pinned."""

import importlib
import inspect
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.instance_storage import sqlite as pooled
from alchemy_assets.instance_storage.sqlite import PooledSqliteEventLogStorage, WalAwareWatchdog
from alchemy_assets_tests.conftest import RawWriter
from alchemy_assets_tests.ui import DagsterDev, check_evaluations, sample_materializations

POOLED_YAML = """telemetry:
  enabled: false
event_log_storage:
  module: alchemy_assets.instance_storage.sqlite
  class: PooledSqliteEventLogStorage
"""
STOCK_YAML = "telemetry:\n  enabled: false\n"

PARTITIONS = dg.DynamicPartitionsDefinition(name="files")


@dg.asset(
    partitions_def=PARTITIONS,
    check_specs=[
        dg.AssetCheckSpec("first", asset="files"),
        dg.AssetCheckSpec("second", asset="files"),
    ],
)
def files(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult[None]]:
    yield dg.MaterializeResult(
        metadata={"mtime": float(len(context.partition_key))},
        check_results=[
            dg.AssetCheckResult(check_name="first", passed=True),
            dg.AssetCheckResult(check_name="second", passed=False),
        ],
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME (the pooled storage's default folder is under it), with the pooled
    storage in its dagster.yaml."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(POOLED_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _materialize(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    instance.add_dynamic_partitions("files", keys)
    run_ids = []
    for key in keys:
        result = dg.materialize([files], instance=instance, partition_key=key)
        assert result.success
        run_ids.append(result.run_id)
    return run_ids


def _resolve(dotted: str) -> object:
    """The object a dotted name of OVERRIDDEN names: module, then attributes."""
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


def test_the_installed_dagster_is_the_version_the_storage_was_written_against() -> None:
    assert dg.__version__.split(".")[:2] == ["1", "13"], (
        f"dagster {dg.__version__}: PooledSqliteEventLogStorage overrides internals of "
        "dagster 1.13 (see OVERRIDDEN in alchemy_assets/instance_storage/sqlite.py); "
        "re-read them in the new version and update this pin"
    )


@pytest.mark.parametrize("dotted", pooled.OVERRIDDEN)
def test_each_dagster_internal_the_storage_relies_on_still_exists(dotted: str) -> None:
    assert callable(_resolve(dotted))


def test_the_overridden_dagster_methods_keep_the_signatures_the_storage_uses() -> None:
    def params(function: object) -> list[str]:
        return list(inspect.signature(function).parameters)  # type: ignore[arg-type]

    assert params(SqliteEventLogStorage._connect) == ["self", "shard"]
    assert params(SqliteEventLogStorage._initdb) == ["self", "engine", "for_index_shard"]
    assert params(SqliteEventLogStorage.watch) == ["self", "run_id", "cursor", "callback"]
    assert params(SqliteEventLogStorageWatchdog._process_log) == ["self"]
    assert params(SqliteEventLogStorage._store_asset_event_tags) == [
        "self",
        "conn",
        "events",
        "event_ids",
    ]
    assert params(SqliteEventLogStorage.store_asset_check_event) == ["self", "event", "event_id"]


def test_the_watchdog_sets_the_fields_of_dagsters_own(tmp_path: Path) -> None:
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    try:

        def callback(event: dg.EventLogEntry, cursor: str) -> None:
            pass

        stock = SqliteEventLogStorageWatchdog(storage, "r", callback, None)
        ours = WalAwareWatchdog(storage, "r", callback, None)
        assert set(vars(stock)) <= set(vars(ours))
        ours.stop()
        path = storage.path_for_shard("r")
        assert stock.patterns == [path]
        assert ours.patterns == [path, f"{path}-wal"]
        # The fields the stock storage sets and the pooled one uses.
        for name in ["_initialized_dbs", "_obs", "_watchers", "_base_dir"]:
            assert hasattr(storage, name), name
    finally:
        storage.dispose()


def test_an_instance_configured_in_dagster_yaml_uses_the_pooled_storage(
    tmp_path: Path, home: Path
) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage) is PooledSqliteEventLogStorage
        storage = instance.event_log_storage
        assert storage._base_dir == str(home / "history" / "runs")  # Dagster's default folder


def test_switching_back_to_dagsters_storage_reads_the_same_materializations_and_checks(
    tmp_path: Path, home: Path
) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_ids = _materialize(instance, ["a", "bb", "ccc"])
    runs = home / "history" / "runs"
    assert sorted(p.name for p in runs.glob("*.db")) == sorted(
        [f"{r}.db" for r in run_ids] + ["index.db"]
    )
    (home / "dagster.yaml").write_text(STOCK_YAML)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        records = instance.fetch_materializations(dg.AssetKey("files"), limit=10).records
        mtimes = {
            r.partition_key: r.asset_materialization.metadata["mtime"].value  # type: ignore[union-attr]
            for r in records
        }
        assert mtimes == {"a": 1.0, "bb": 2.0, "ccc": 3.0}
        for check, passed in [("first", True), ("second", False)]:
            key = dg.AssetCheckKey(dg.AssetKey("files"), check)
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
            assert sorted(h.run_id for h in history) == sorted(run_ids)
            for execution in history:
                evaluation = execution.event.dagster_event.event_specific_data  # type: ignore[union-attr]
                assert evaluation.passed is passed  # type: ignore[union-attr]
        for run_id in run_ids:
            assert instance.get_records_for_run(run_id).records  # the run's own shard


def test_databases_in_wal_mode_get_synchronous_normal_and_others_keep_full(
    tmp_path: Path,
) -> None:
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    try:
        with storage.index_connection() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        storage.dispose()
    legacy = sqlite3.connect(tmp_path / "legacy.db")
    legacy.execute("CREATE TABLE t (x)")
    legacy.close()
    engine = db.create_engine(f"sqlite:///{tmp_path / 'legacy.db'}")
    db.event.listen(engine, "connect", pooled._tune)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL, the default
    engine.dispose()


def test_a_finished_runs_events_are_in_the_db_files_themselves(tmp_path: Path, home: Path) -> None:
    """At run end the shard and the index are checkpointed: copies of the ``.db`` files
    alone, without their ``-wal``, hold the run's events and its materialization."""
    runs = home / "history" / "runs"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run_id,) = _materialize(instance, ["a"])
        assert not (runs / f"{run_id}.db-wal").exists()  # the shard was closed
        copies = tmp_path / "copies"
        copies.mkdir()
        for name in [f"{run_id}.db", "index.db"]:
            (copies / name).write_bytes((runs / name).read_bytes())
        # Still open here: the index's -wal exists, but its frames are in the .db already.
        assert (runs / "index.db-wal").exists()
    shard = sqlite3.connect(copies / f"{run_id}.db")
    index = sqlite3.connect(copies / "index.db")
    try:
        types = {row[0] for row in shard.execute("SELECT dagster_event_type FROM event_logs")}
        assert {"ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION", "PIPELINE_SUCCESS"} <= types
        mirrored = index.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).fetchone()
        assert mirrored == (1,)
        checks = index.execute(
            "SELECT check_name, execution_status FROM asset_check_executions ORDER BY check_name"
        ).fetchall()
        assert checks == [("first", "SUCCEEDED"), ("second", "FAILED")]
    finally:
        shard.close()
        index.close()


def test_a_checkpoint_met_by_another_connections_checkpoint_is_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What another process's checkpoint of the index looks like to a run ending at the same
    moment: SQLite answers busy, -1 of -1 frames. The other checkpoint copies the frames; no
    person needs to hear of it (it was a warning printed to users of ``alchemy stage``)."""
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    path = storage.path_for_shard(INDEX_SHARD_NAME)
    writer = sqlite3.connect(path, isolation_level=None)
    reader = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
    writer.execute("CREATE TABLE scratch (x)")
    writer.execute("INSERT INTO scratch VALUES (1)")
    reader.execute("BEGIN")  # a reader of an older snapshot, as a webserver's query is
    reader.execute("SELECT count(*) FROM scratch").fetchone()
    writer.execute("INSERT INTO scratch VALUES (2)")
    # The other connection's FULL checkpoint holds SQLite's checkpoint lock while it waits for
    # that reader to move on.
    checkpointing = threading.Event()
    result: list[tuple[int, int, int]] = []

    def checkpoint() -> None:
        checkpointing.set()
        result.append(other.execute("PRAGMA wal_checkpoint(FULL)").fetchone())

    thread = threading.Thread(target=checkpoint)
    thread.start()
    try:
        assert checkpointing.wait(60)
        time.sleep(0.5)  # for it to take the lock: a wait, not a measurement
        with caplog.at_level(logging.DEBUG, logger=pooled.__name__):
            ours = storage.checkpoint(INDEX_SHARD_NAME)
    finally:
        reader.execute("COMMIT")  # lets the other checkpoint finish
        thread.join(60)
        for conn in (writer, reader, other):
            conn.close()
        storage.dispose()
    assert not thread.is_alive()
    assert ours == (1, -1, -1)
    assert result[0][0] == 0 and result[0][1] == result[0][2]  # the other copied every frame
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "event log index: checkpointed by another connection at the same time")
    ]


def test_a_check_results_index_writes_are_one_transaction_and_schema_probes_are_cached(
    tmp_path: Path, home: Path
) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _materialize(instance, ["a"])  # the first run probes the schema
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        engine = storage._engine("index")
        commits: list[str] = []
        statements: list[str] = []
        db.event.listen(engine, "commit", lambda conn: commits.append("commit"))
        db.event.listen(
            engine,
            "before_cursor_execute",
            lambda conn, cursor, statement, *rest: statements.append(statement),
        )
        instance.add_dynamic_partitions("files", ["bb"])
        result = dg.materialize([files], instance=instance, partition_key="bb")
        checks = [
            e
            for e in result.all_events
            if e.event_type is dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ]
        assert len(checks) == 2
        commits.clear()
        statements.clear()
        for check in checks:
            entry = dg.EventLogEntry(  # type: ignore[no-untyped-call]  # untyped in dagster
                error_info=None,
                level="DEBUG",
                user_message="",
                run_id=result.run_id,
                timestamp=time.time(),
                dagster_event=check,
            )
            storage.store_event(entry)
        assert commits == ["commit", "commit"]  # one per check result: mirror row + update
        assert not [s for s in statements if "PRAGMA" in s or "sqlite_master" in s]


WRITER = """
import os, sys, time
import dagster as dg
from alchemy_assets.instance_storage.sqlite import PooledSqliteEventLogStorage
base_dir, run_id, acks = sys.argv[1], sys.argv[2], sys.argv[3]
storage = PooledSqliteEventLogStorage(base_dir)
for i in range(6):
    storage.store_event(
        dg.EventLogEntry(
            error_info=None, level="INFO", user_message=f"update {i}", run_id=run_id,
            timestamp=time.time(),
        )
    )
    # The next write waits until the watcher in the other process has seen this one.
    while not os.path.exists(os.path.join(acks, str(i))):
        time.sleep(0.05)
print("all seen")
"""


def test_the_run_log_watcher_sees_each_event_another_process_writes_while_it_writes(
    tmp_path: Path,
) -> None:
    base_dir = tmp_path / "runs"
    acks = tmp_path / "acks"
    acks.mkdir()
    storage = PooledSqliteEventLogStorage(str(base_dir))
    seen: list[str] = []
    lock = threading.Lock()

    def callback(event: dg.EventLogEntry, cursor: str) -> None:
        with lock:
            seen.append(event.user_message)
            (acks / str(len(seen) - 1)).touch()

    storage.watch("live-run", None, callback)
    try:
        writer = subprocess.run(
            [sys.executable, "-c", WRITER, str(base_dir), "live-run", str(acks)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the watcher saw {len(seen)} of 6 live updates: {seen}")
    finally:
        storage.dispose()
    assert writer.returncode == 0, writer.stderr[-2000:]
    assert seen == [f"update {i}" for i in range(6)]


SUBSCRIPTION = """
subscription($runId: ID!) {
  pipelineRunLogs(runId: $runId) {
    __typename
    ... on PipelineRunLogsSubscriptionSuccess { messages { ... on MessageEvent { message } } }
    ... on PipelineRunLogsSubscriptionFailure { message }
  }
}
"""

LIVE_WRITER = """
import os, sys, time
import dagster as dg
run_id, acks = sys.argv[1], sys.argv[2]
with dg.DagsterInstance.get() as instance:
    for i in range(6):
        instance.event_log_storage.store_event(
            dg.EventLogEntry(
                error_info=None, level="INFO", user_message=f"update {i}", run_id=run_id,
                timestamp=time.time(),
            )
        )
        # The next write waits until the webserver has pushed this one to the subscriber.
        while not os.path.exists(os.path.join(acks, str(i))):
            time.sleep(0.05)
"""


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alchemy_assets.cli", *args],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _what_the_webserver_shows(dev: DagsterDev, spec: DatasetSpec) -> dict[str, Any]:
    """Per partition: its sample and bronze materializations, and both checks' results."""
    shown: dict[str, Any] = {
        "sample": sample_materializations(dev.graphql, [*spec.sample_key.path]),
        "bronze": sample_materializations(dev.graphql, [*spec.bronze_key.path]),
    }
    for check in ["consistency", "schema_drift"]:
        results = check_evaluations(dev.graphql, [*spec.sample_key.path], check)
        shown[check] = sorted(
            (r["partition"], r["success"], r["severity"], r["runId"]) for r in results
        )
    return shown


@pytest.mark.timeout(900)  # dagster dev and its runs: past the 300 s default on a slow CI
def test_the_webserver_streams_live_run_logs_and_reads_back_what_stage_recorded_either_storage(
    tmp_path: Path, home: Path, fp_prefix: Path, write_raw: RawWriter, spec: DatasetSpec
) -> None:
    keys = [f"env{i % 2}/f{i}.csv" for i in range(4)]
    for i, key in enumerate(keys):
        write_raw(key, f"a,b\n{i},{i}\n".encode(), 1000.0 + i)
    assert _cli(home, "ingest", str(spec.dataset_id), "--root", str(fp_prefix)).returncode == 0
    staged = _cli(home, "stage", "--root", str(fp_prefix))
    assert staged.returncode == 0, staged.stderr
    run_id = "live-" + os.urandom(4).hex()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_run(dg.DagsterRun(job_name="live", run_id=run_id))
    acks = tmp_path / "acks"
    acks.mkdir()
    with DagsterDev.start(fp_prefix=fp_prefix, dagster_home=home) as dev:
        # Live run logs: each event another process writes reaches a GraphQL subscriber
        # before that process writes the next one.
        url = dev.url.replace("http://", "ws://") + "/graphql"
        seen: list[str] = []
        with connect(url, subprotocols=[Subprotocol("graphql-ws")], open_timeout=30) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            start = {"query": SUBSCRIPTION, "variables": {"runId": run_id}}
            ws.send(json.dumps({"id": "1", "type": "start", "payload": start}))
            writer = subprocess.Popen(
                [sys.executable, "-c", LIVE_WRITER, run_id, str(acks)],
                env={**os.environ, "DAGSTER_HOME": str(home), "PYTHONWARNINGS": "ignore"},
            )
            try:
                while len(seen) < 6:
                    try:
                        message = json.loads(ws.recv(timeout=60))
                    except TimeoutError:
                        pytest.fail(f"the webserver pushed {len(seen)} of 6 live updates: {seen}")
                    if message.get("type") != "data":
                        continue
                    logs = message["payload"]["data"]["pipelineRunLogs"]
                    for event in logs.get("messages", []):
                        seen.append(event["message"])
                        (acks / str(len(seen) - 1)).touch()
                assert writer.wait(timeout=60) == 0
            finally:
                if writer.poll() is None:
                    writer.kill()
                    writer.wait(timeout=30)
        assert seen == [f"update {i}" for i in range(6)]
        pooled_view = _what_the_webserver_shows(dev, spec)
    sample = pooled_view["sample"]
    assert {key: [m["mtime"] for m in sample[key]] for key in keys} == {
        key: [1000.0 + i] for i, key in enumerate(keys)
    }
    assert set(pooled_view["bronze"]) == set(keys)
    for check in ["consistency", "schema_drift"]:
        assert [(p, ok) for p, ok, *_ in pooled_view[check]] == [
            (key, True) for key in sorted(keys)
        ]
    # Back to Dagster's own storage: a change of dagster.yaml, and the same view.
    (home / "dagster.yaml").write_text(STOCK_YAML)
    with DagsterDev.start(fp_prefix=fp_prefix, dagster_home=home) as dev:
        assert _what_the_webserver_shows(dev, spec) == pooled_view
