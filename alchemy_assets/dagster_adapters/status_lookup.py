"""What the Dagster instance knows about one dataset's staging, for ``alchemy status``.

Every look-up is batched: partitions and sampled mtimes in queries of 5,000 keys, the
partition status from Dagster's own status cache, failures from the failed runs of the
dataset's sample job (one query for the runs, one per failed run for its step failure), runs
left behind by a killed ``alchemy stage`` from one query for its unfinished runs.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import dagster as dg

from alchemy_assets.dagster_adapters.assets import failed_files
from alchemy_assets.dagster_adapters.dagster_internals import read_kv_cursor, sensor_states
from alchemy_assets.dagster_adapters.lookup import (
    latest_records,
    latest_sampled,
)
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.stage_runner import cursor_key, left_behind_runs
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_reader import ManifestCursor
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.staging import StagingCursor
from alchemy_assets.status import DatasetStatus, backlog_of, classify, scan_log, scan_manifest

DAGSTER_MARKED_FAILED = "the run sampling it failed (Dagster's partition status)"


def sensor_cursors(instance: dg.DagsterInstance) -> dict[str, str | None]:
    """The cursor the daemon stored for each sensor, by sensor name (the latest-ticked state
    when several code locations hold a sensor of one name)."""
    states = sorted(sensor_states(instance), key=lambda state: state[1])
    return {name: cursor for name, _, cursor in states}


def stage_cursor(instance: dg.DagsterInstance, spec: DatasetSpec) -> str | None:
    """The cursor ``alchemy stage`` stored in the run storage's key-value table."""
    return read_kv_cursor(instance, cursor_key(spec))


def _manifest_cursor(text: str | None) -> ManifestCursor | None:
    if text is None:
        return None
    cursor, _note = StagingCursor.decode(text)  # unreadable: the reader starts over, so do we
    return cursor.manifest


def _run_failures(instance: dg.DagsterInstance, run_id: str) -> tuple[dict[str, str], float] | None:
    """Per-file reasons of a failed run's step failure, and when it failed."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1
    ).records
    if not records:
        return None
    event = records[0].event_log_entry.dagster_event
    if event is None:
        return None
    return failed_files(event) or {}, records[0].timestamp


def _run_keys(run: dg.DagsterRun) -> list[str]:
    """The files a run was asked to sample (its config), or its single partition."""
    config: Any = run.run_config
    try:
        (op_config,) = config["ops"].values()
        return [str(f["key"]) for f in op_config["config"]["files"]]
    except (KeyError, TypeError, ValueError):
        partition = run.tags.get("dagster/partition")
        return [partition] if partition else []


def _latest_sample_times(
    instance: dg.DagsterInstance, spec: DatasetSpec, keys: list[str]
) -> dict[str, float]:
    """When each partition's latest sample was recorded. Timestamps, not storage ids: on
    SQLite a run's events and the asset index are numbered in different databases."""
    records = latest_records(instance, spec.sample_key, keys)
    return {key: record.timestamp for key, record in records.items()}


def failed_partitions(
    instance: dg.DagsterInstance, spec: DatasetSpec, keys: Collection[str]
) -> dict[str, str]:
    """Partitions among ``keys`` whose latest sample attempt failed, with the reason.

    Two sources, because ``alchemy stage`` records one "planned" event per run, so Dagster
    does not mark its failed partitions: the ``failed`` metadata of each failed run's
    ``dg.Failure`` (a failure counts until a later sample materialization of the partition),
    and Dagster's own partition status (runs launched by the daemon or the UI). Only the
    partitions named in failures are looked up; failed runs are read one query each.
    """
    wanted = set(keys)
    latest_failure: dict[str, tuple[float, str]] = {}
    runs = instance.get_run_records(
        filters=dg.RunsFilter(job_name=spec.job_name, statuses=[dg.DagsterRunStatus.FAILURE])
    )
    for record in runs:
        found = _run_failures(instance, record.dagster_run.run_id)
        if found is None:
            continue
        reasons, failed_at = found
        if not reasons:
            # No per-file reasons (an unexpected error): the run's files that got no sample
            # since the run started are the failed ones; those it sampled before failing not.
            reasons = {key: "run failed" for key in _run_keys(record.dagster_run)}
            failed_at = record.start_time or record.create_timestamp.timestamp()
        for key, reason in reasons.items():
            if key in wanted and failed_at > latest_failure.get(key, (0.0, ""))[0]:
                latest_failure[key] = (failed_at, reason)
    sampled_at = _latest_sample_times(instance, spec, list(latest_failure))
    failed = {
        key: reason
        for key, (failed_at, reason) in latest_failure.items()
        if sampled_at.get(key, 0.0) < failed_at
    }
    statuses = instance.get_status_by_partition(
        spec.sample_key, sorted(wanted), spec.partitions_def
    )
    for key, partition_status in (statuses or {}).items():
        if partition_status == dg.AssetPartitionStatus.FAILED:
            failed.setdefault(key, DAGSTER_MARKED_FAILED)
    return failed


def dataset_status(
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    layout: DatasetLayout | ObjectLayout,
    sensors: dict[str, str | None] | None = None,
) -> DatasetStatus:
    """Read the manifest once and the instance in batches; see :mod:`alchemy_assets.status`.

    ``sensors``: :func:`sensor_cursors`, when already read for several datasets.
    """
    scan = (
        scan_log(layout, spec.options.formats)
        if isinstance(layout, ObjectLayout)
        else scan_manifest(layout.manifest, layout.root, spec.options.formats)
    )
    partitions = instance.get_dynamic_partitions(spec.partitions_name)
    keys = sorted(set(scan.latest) | set(partitions))
    sampled = latest_sampled(instance, spec.sample_key, keys)
    up_to_date, stale, unsampled = classify(scan.latest, sampled.deliveries)
    # Up to date, but recorded as not sampled (not data): counted apart.
    pending = {*stale, *unsampled}
    not_data = {
        key: kind
        for key, kind in sampled.not_data.items()
        if key in scan.latest and key not in pending
    }
    sensors = sensor_cursors(instance) if sensors is None else sensors
    cursors = {
        "sensor": _manifest_cursor(sensors.get(spec.sensor_name)),
        "stage": _manifest_cursor(stage_cursor(instance, spec)),
    }
    each, backlog, backlog_by = backlog_of(scan, cursors)
    return DatasetStatus(
        dataset=str(spec.dataset_id),
        manifest=str(layout.manifest),
        manifest_lines=len(scan.line_starts),
        manifest_bytes=scan.size,
        files=len(scan.latest),
        partitions=len(partitions),
        up_to_date=up_to_date - len(not_data),
        not_data=not_data,
        stale=stale,
        unsampled=unsampled,
        failed=failed_partitions(instance, spec, keys),
        cursors=each,
        backlog=backlog,
        backlog_by=backlog_by,
        quarantined=scan.quarantined,
        last_quarantined=scan.last_quarantined,
        left_behind=left_behind_runs(instance, spec),
    )
