import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from alchemy_assets.dagster_adapters import assets as assets_module
from alchemy_assets.dagster_adapters.checks import RunChecks
from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.stage_runner import (
    LAUNCHED_BY,
    LAUNCHED_BY_TAG,
    PLANNED_EVENTS_SETTING,
    cursor_key,
    left_behind_runs,
    stage_dataset,
)
from alchemy_assets.dagster_adapters.status_lookup import failed_partitions
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.options import StagingOptions
from alchemy_assets.run_owner import RunOwner
from alchemy_assets.stage_file import StagedFile
from alchemy_assets.stage_object import staging_on
from alchemy_assets.staging import DueFile
from alchemy_assets_tests.conftest import RawWriter
from alchemy_assets_tests.roots import Root
from alchemy_assets_tests.s3 import FaultProxy


def test_stage_samples_everything_due_and_stores_its_cursor(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", b"v\n1\n", 1.0)
    write_raw("env0/bad.csv", b'v\n"never closed\n', 1.0)
    write_raw("env1/a.csv", b"v\n2\n", 2.0)
    ingest(layout)
    with layout.manifest.open("ab") as f:
        f.write(b"not json\n")
    progress: list[tuple[int, int]] = []
    job = defs.resolve_job_def(spec.job_name)
    report = stage_dataset(
        instance, job, spec, layout, lambda done, total: progress.append((done, total))
    )
    assert (report.new_partitions, report.sampled, report.unchanged, report.lines) == (3, 2, 0, 4)
    assert list(report.failed) == ["env0/bad.csv"]
    assert report.errors == []  # a file that cannot be sampled is not an unexpected failure
    assert "unterminated quote" in report.failed["env0/bad.csv"]
    assert [(r.offset, r.reason[:12]) for r in report.quarantined] == [
        (layout.manifest.stat().st_size - 9, "invalid JSON")
    ]
    assert progress[-1] == (3, 3)
    observed = instance.fetch_observations(spec.manifest_key, limit=1).records
    assert observed and observed[0].asset_observation is not None
    quarantined = observed[0].asset_observation.metadata["quarantined_lines"]
    assert quarantined == dg.MetadataValue.int(1)
    stored = instance.run_storage.get_cursor_values({cursor_key(spec)})
    assert f'"offset": {layout.manifest.stat().st_size}' in stored[cursor_key(spec)]
    again = stage_dataset(instance, job, spec, layout)
    assert (again.new_partitions, again.sampled, again.lines, again.failed) == (0, 0, 0, {})


def test_a_lost_stage_cursor_rereads_but_samples_nothing_twice(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", b"v\n1\n", 1.0)
    ingest(layout)
    job = defs.resolve_job_def(spec.job_name)
    assert stage_dataset(instance, job, spec, layout).sampled == 1
    instance.run_storage.set_cursor_values({cursor_key(spec): ""})
    again = stage_dataset(instance, job, spec, layout)
    assert (again.lines, again.sampled, again.unchanged) == (1, 0, 1)


def test_stage_runs_record_one_planned_event_per_run_and_leave_the_setting_alone(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    for i in range(5):
        write_raw(f"env0/f{i}.csv", b"v\n1\n", 1.0)
    ingest(layout)
    stage_dataset(instance, defs.resolve_job_def(spec.job_name), spec, layout)
    (run,) = instance.get_run_records()
    planned = instance.get_records_for_run(
        run.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    assert len(planned) == 1  # one for the range of 5 partitions, not one per partition
    assert PLANNED_EVENTS_SETTING not in os.environ


def test_an_unexpected_error_fails_the_files_not_yet_sampled_and_keeps_its_trace(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bug, not a bad file: an exception the op does not expect. Raised where it stages one
    file, it fails that file alone (its trace in the run's log); raised outside the per-file
    loop, it fails the files not sampled, with the trace in the report."""
    write_raw("env0/a.csv", b"v\n1\n", 1.0)
    write_raw("env1/a.csv", b"v\n2\n", 2.0)
    ingest(layout)
    job = defs.resolve_job_def(spec.job_name)

    @contextlib.contextmanager
    def broken(
        layout: DatasetLayout, due: DueFile, rows: int, **options: Any
    ) -> Iterator[StagedFile]:
        if due.key == "env0/a.csv":
            raise ZeroDivisionError("injected")
        with staging_on(layout, due, rows, **options) as staged:
            yield staged

    with monkeypatch.context() as patch:
        patch.setattr(assets_module, "staging_on", broken)
        report = stage_dataset(instance, job, spec, layout)
    assert report.sampled == 1 and report.errors == []
    (reason,) = report.failed.values()
    assert list(report.failed) == ["env0/a.csv"]
    assert reason.endswith(
        ": unexpected ZeroDivisionError: injected "
        "(failed after 3 attempts; not retried until re-delivered)"
    )
    logs = instance.all_logs(instance.get_runs(limit=1)[0].run_id)
    assert any('raise ZeroDivisionError("injected")' in (e.message or "") for e in logs)
    keys = ["env0/a.csv", "env1/a.csv"]
    assert failed_partitions(instance, spec, keys) == {"env0/a.csv": reason}

    write_raw("env0/b.csv", b"v\n3\n", 3.0)
    ingest(layout)

    def read_broken(*args: object) -> None:
        raise ZeroDivisionError("injected")

    with monkeypatch.context() as patch:
        patch.setattr(RunChecks, "read", read_broken)
        report = stage_dataset(instance, job, spec, layout)
    assert report.sampled == 0
    assert report.failed == {"env0/b.csv": "ZeroDivisionError: injected"}
    (error,) = report.errors
    assert error.startswith("run ")
    assert 'in read_broken\n    raise ZeroDivisionError("injected")' in error
    # Dagster's console logger printed nothing: the report is the only account.
    assert "STEP_FAILURE" not in capsys.readouterr().err
    keys = ["env0/a.csv", "env0/b.csv", "env1/a.csv"]
    assert failed_partitions(instance, spec, keys) == {
        "env0/a.csv": reason,
        "env0/b.csv": "run failed",
    }
    # Fixed: the next stage samples it (the manifest lines are read again after a reset).
    instance.run_storage.set_cursor_values({cursor_key(spec): ""})
    again = stage_dataset(instance, job, spec, layout)
    assert (again.sampled, again.unchanged) == (2, 1)
    assert failed_partitions(instance, spec, keys) == {}


def _add_run(
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    tags: dict[str, str],
    status: dg.DagsterRunStatus,
) -> str:
    """A run of the dataset's job as a process left it: in ``status``, with ``tags``."""
    run = dg.DagsterRun(job_name=spec.job_name, run_id=str(uuid.uuid4()), status=status, tags=tags)
    return instance.add_run(run).run_id


def test_the_next_stage_fails_the_runs_whose_process_is_gone_and_frees_their_slots(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait(timeout=60)
    me = RunOwner.current()
    host = socket.gethostname()
    stage = {LAUNCHED_BY_TAG: LAUNCHED_BY}
    started, not_started = dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.NOT_STARTED
    gone = _add_run(
        instance, spec, {**stage, **RunOwner(host, exited.pid, me.start).tags()}, started
    )
    never_started = _add_run(
        instance, spec, {**stage, **RunOwner(host, exited.pid, None).tags()}, not_started
    )
    elsewhere = _add_run(
        instance, spec, {**stage, **RunOwner("elsewhere", 1, None).tags()}, started
    )
    unrecorded = _add_run(instance, spec, stage, started)
    _add_run(instance, spec, {**stage, **me.tags()}, started)  # in progress: not left behind
    _add_run(instance, spec, RunOwner(host, exited.pid, me.start).tags(), started)  # the daemon's
    instance.event_log_storage.set_concurrency_slots(spec.pool, 1)
    instance.event_log_storage.claim_concurrency_slot(spec.pool, gone, "sample")
    before = left_behind_runs(instance, spec)
    assert [(r.run_id, r.status, r.gone) for r in before] == [
        (gone, "STARTED", True),
        (never_started, "NOT_STARTED", True),
        (elsewhere, "STARTED", False),
        (unrecorded, "STARTED", False),
    ]
    assert before[0].reason.startswith(f"its process {exited.pid} on {host} is gone")

    layout.manifest.touch()
    report = stage_dataset(instance, defs.resolve_job_def(spec.job_name), spec, layout)
    assert [note.split(",")[0] for note in report.notes] == [f"run {gone}", f"run {never_started}"]
    assert report.notes[0].startswith(f"run {gone}, left STARTED since {before[0].since_text}: ")
    assert report.notes[0].endswith(f"{before[0].reason}; marked failed")
    for run_id in (gone, never_started):
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status is dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_info(spec.pool).claimed_slots == []
    assert [r.run_id for r in left_behind_runs(instance, spec)] == [elsewhere, unrecorded]
    assert len(instance.get_runs(dg.RunsFilter(statuses=[started]))) == 4


def test_a_store_that_stops_mid_stage_fails_the_files_left_clearly_and_samples_none_twice(
    s3_root: str,
    s3_proxy: FaultProxy,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The S3 server stops answering (connections closed) while `alchemy stage` samples 12
    files: the stage ends (no exception, no hang), each file not sampled failed in one line
    saying the store is unreachable, what was sampled is exact; once the server is back, the
    next stage samples nothing twice."""
    monkeypatch.setenv("ALCHEMY_STORE_RETRIES", "0")
    root = Root.of("s3", s3_root)
    for i in range(12):
        root.write_raw(f"env0/f{i:02d}.csv", b"v\n%d\n" % i)
    root.ingest()
    spec = DatasetSpec(root.layout.dataset_id, StagingOptions(retry_delay_seconds=0))
    defs = build_defs([spec], AlchemyRoot(fp_prefix=s3_root))
    job = defs.resolve_job_def(spec.job_name)
    s3_proxy.drop, s3_proxy.fail_after = True, len(s3_proxy.requests) + 40
    report = stage_dataset(instance, job, spec, root.layout)
    assert report.failed, report
    for reason in report.failed.values():
        assert "is the store reachable?" in reason and "\n" not in reason, reason
    s3_proxy.fail_after = None  # the server is back
    for sample in root.files("samples"):
        index = int(sample.removeprefix("samples/env0/f").removesuffix("_sample.csv"))
        assert root.read(sample) == b"v\n%d\n" % index
    again = stage_dataset(instance, job, spec, root.layout)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key), limit=100
    ).records
    keys = [r.partition_key for r in records]
    assert len(keys) == len(set(keys)) == report.sampled + again.sampled
    # A file whose sample was PUT just before the server stopped, and not recorded, is among
    # the failed ones (its sample exact, as checked above).
    samples = {
        f.removeprefix("samples/").replace("_sample.csv", ".csv") for f in root.files("samples")
    }
    assert set(keys) <= samples and samples - set(keys) <= set(report.failed), (keys, samples)
