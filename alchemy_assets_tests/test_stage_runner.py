import contextlib
import os
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from alchemy_assets.dagster_adapters import assets as assets_module
from alchemy_assets.dagster_adapters.checks import RunChecks
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.stage_runner import (
    PLANNED_EVENTS_SETTING,
    cursor_key,
    stage_dataset,
)
from alchemy_assets.dagster_adapters.status_lookup import failed_partitions
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.stage_file import StagedFile, staging
from alchemy_assets.staging import DueFile
from alchemy_assets_tests.conftest import RawWriter


def test_stage_samples_everything_due_and_stores_its_cursor(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", b"v\n1\n", 1.0)
    write_raw("env0/bad.xyz", b"v\n1\n", 1.0)
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
    assert list(report.failed) == ["env0/bad.xyz"]
    assert report.errors == []  # a file that cannot be sampled is not an unexpected failure
    assert "unknown format '.xyz'" in report.failed["env0/bad.xyz"]
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
        with staging(layout, due, rows, **options) as staged:
            yield staged

    with monkeypatch.context() as patch:
        patch.setattr(assets_module, "staging", broken)
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
