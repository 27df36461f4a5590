"""``alchemy stage``: staging cycles without a daemon, recorded in the ``DAGSTER_HOME`` instance.

Each cycle makes the sensor's decision (:func:`plan_tick`), adds the new partitions, runs the
sample job in-process once per planned run, and only then stores its cursor in the instance,
so an interrupted stage re-reads those lines next time (and skips what was sampled).

Each run records the process that runs it (:mod:`alchemy_assets.run_owner`). A stage killed
with SIGKILL leaves its run STARTED (or NOT_STARTED) for good, holding its slot of the
dataset's concurrency pool; the next stage of the dataset marks such runs of this host
failed, as Dagster's run monitoring does for the runs the daemon launched, and frees their
slots.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from alchemy_assets.dagster_adapters.assets import failed_files
from alchemy_assets.dagster_adapters.dagster_internals import read_kv_cursor, write_kv_cursor
from alchemy_assets.dagster_adapters.lookup import DATA_VERSION_TAG
from alchemy_assets.dagster_adapters.observations import manifest_observation
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.tick import (
    add_requests,
    partition_key,
    plan_tick,
    run_config,
    run_tags,
)
from alchemy_assets.data_root import Layout
from alchemy_assets.delivery import not_data_kind
from alchemy_assets.manifest_line import Rejection
from alchemy_assets.run_owner import RunOwner, Verdict, judge
from alchemy_assets.staging import DueFile
from alchemy_assets.status import LeftBehindRun

CURSOR_PREFIX = "alchemy_assets/stage_cursor/"
# Dagster's console logger stays quiet: the summary names each failed file with its reason,
# and a failure that is not about a file comes with its stack trace in StageReport.errors.
# Every event is still stored in the instance (the UI's run page shows them).
QUIET_LOGS = {"console": {"config": {"log_level": "CRITICAL"}}}
LAUNCHED_BY_TAG = "alchemy_assets/launched_by"
LAUNCHED_BY = "alchemy stage"
# A run in one of these never finished; one of them whose process is gone never will.
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass
class StageReport:
    """What ``alchemy stage`` did for one dataset."""

    new_partitions: int = 0
    sampled: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # unexpected failures, with stack traces
    quarantined: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lines: int = 0
    not_data: int = 0  # files recorded as not sampled: not data
    skipped: int = 0  # due files another run had sampled (at this delivery, or a later one)


def cursor_key(spec: DatasetSpec) -> str:
    return f"{CURSOR_PREFIX}{spec.dataset_id}"


def _failures(
    result: dg.ExecuteInProcessResult, run: list[DueFile], sampled: set[str]
) -> tuple[dict[str, str], str]:
    """Per-file reasons from the step failure; or, when the failure is not about the files
    (an unexpected exception), its innermost message for each file the run had not sampled
    and, as the second item, its full text with the stack trace."""
    error: SerializableErrorInfo | None = None
    for event in result.all_events:
        if event.event_type is dg.DagsterEventType.STEP_FAILURE:
            failed = failed_files(event)
            if failed is not None:
                return failed, ""
            error = event.step_failure_data.error
            break
        if event.event_type is dg.DagsterEventType.RUN_FAILURE:
            error = event.job_failure_data.error
    # Dagster wraps the exception raised in the op: the reason is the innermost cause.
    cause = error
    while cause is not None and cause.cause is not None:
        cause = cause.cause
    message = cause.message.strip() if cause is not None else "run failed"
    detail = error.to_string() if error is not None else message
    unsampled = {d.key: message for d in run if d.key not in sampled}
    return unsampled, f"run {result.run_id}: {detail}"


# Dagster records a run over a partition range as one "planned" event per partition (~20 ms
# each on SQLite) unless this is set; then one per run, and a failed run does not mark its
# partitions failed. ``alchemy stage`` reports its failures itself, so it sets it for its runs.
PLANNED_EVENTS_SETTING = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


@contextlib.contextmanager
def _one_planned_event_per_run() -> Iterator[None]:
    previous = os.environ.get(PLANNED_EVENTS_SETTING)
    if previous is None:
        os.environ[PLANNED_EVENTS_SETTING] = "true"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[PLANNED_EVENTS_SETTING]


def execute_run(
    job: dg.JobDefinition, instance: dg.DagsterInstance, spec: DatasetSpec, run: list[DueFile]
) -> tuple[int, int, dict[str, str], str]:
    """Sample ``run``'s files in one in-process run; return (sampled, recorded as not data,
    failed key → reason, the text of an unexpected failure or "")."""
    config = run_config(spec, run)
    with _one_planned_event_per_run():
        result = job.execute_in_process(
            run_config={**config, "loggers": QUIET_LOGS},
            instance=instance,
            partition_key=partition_key(run),
            tags={
                **run_tags(spec, run),
                LAUNCHED_BY_TAG: LAUNCHED_BY,
                **RunOwner.current().tags(),
            },
            raise_on_error=False,
        )
    recorded = [
        m.step_materialization_data.materialization
        for m in result.get_asset_materialization_events()
        if m.asset_key == spec.sample_key
    ]
    sampled = {m.partition or "" for m in recorded}
    not_data = sum(
        1 for m in recorded if not_data_kind((m.tags or {}).get(DATA_VERSION_TAG, "")) is not None
    )
    failed, error = ({}, "") if result.success else _failures(result, run, sampled)
    return len(sampled) - not_data, not_data, failed, error


def left_behind_runs(instance: dg.DagsterInstance, spec: DatasetSpec) -> list[LeftBehindRun]:
    """The dataset's runs of ``alchemy stage`` that never finished and whose process is not
    running (gone, or not judged from this host), oldest first. Runs of the daemon or the UI
    are not looked at: Dagster's run monitoring judges those."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=spec.job_name, statuses=UNFINISHED, tags={LAUNCHED_BY_TAG: LAUNCHED_BY}
        ),
        ascending=True,
    )
    found = []
    for record in records:
        run = record.dagster_run
        judgement = judge(RunOwner.from_tags(run.tags))
        if judgement.verdict is Verdict.ALIVE:
            continue
        since = record.start_time or record.create_timestamp.timestamp()
        gone = judgement.verdict is Verdict.GONE
        found.append(LeftBehindRun(run.run_id, run.status.value, since, gone, judgement.reason))
    return found


def fail_left_behind(instance: dg.DagsterInstance, spec: DatasetSpec) -> list[str]:
    """Mark failed each of the dataset's stage runs whose process on this host is gone, with
    Dagster's own run failure, and free the concurrency slots they hold; a note for each."""
    notes = []
    me = RunOwner.current()
    for left in left_behind_runs(instance, spec):
        if not left.gone:
            continue
        run = instance.get_run_by_id(left.run_id)
        if run is None or run.status not in UNFINISHED:  # another stage marked it meanwhile
            continue
        instance.report_run_failed(
            run,
            f"Marked failed by alchemy stage ({me}): {left.reason}; the run was "
            f"{left.status} since {left.since_text} and would never finish.",
        )
        # Dagster frees a finished run's slots only from the daemon, and only where
        # run_monitoring.free_slots_after_run_end_seconds is set: a stage does it here.
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        notes.append(
            f"run {run.run_id}, left {left.status} since {left.since_text}: {left.reason}; "
            "marked failed"
        )
    return notes


def stage_dataset(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    spec: DatasetSpec,
    layout: Layout,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> StageReport:
    """Stage ``spec`` until its manifest is drained; ``on_progress(done, due)`` after each run."""
    report = StageReport(notes=fail_left_behind(instance, spec))
    key = cursor_key(spec)
    done = due_total = 0
    while True:
        cursor = read_kv_cursor(instance, key)
        plan = plan_tick(instance, spec, layout, cursor)
        report.lines += plan.batch.lines_read
        report.quarantined += plan.batch.rejects
        report.unchanged += plan.unchanged
        report.notes += plan.notes
        if plan.batch.lines_read or plan.notes:
            instance.report_runless_asset_event(manifest_observation(spec, plan, layout.manifest))
        for request in add_requests(spec, plan.new_keys):
            instance.add_dynamic_partitions(spec.partitions_name, list(request.partition_keys))
        report.new_partitions += len(plan.new_keys)
        due_total += plan.due
        for run in plan.runs:
            sampled, not_data, failed, error = execute_run(job, instance, spec, run)
            report.sampled += sampled
            report.not_data += not_data
            report.skipped += len(run) - sampled - not_data - len(failed)
            report.failed.update(failed)
            if error:
                report.errors.append(error)
            done += len(run)
            on_progress(done, due_total)
        write_kv_cursor(instance, key, plan.cursor)
        if plan.batch.at_end:
            if report.skipped:
                report.notes.append(
                    f"{report.skipped} file(s) not sampled again: another run had sampled this "
                    "delivery or a later one (see the run's log)"
                )
            return report
