"""One staging cycle's decision, shared by the sensor and ``alchemy stage``.

Reads the manifest lines after the cursor (at most ``max_lines_per_tick``), finds the new
partitions, looks up the delivery the latest sample of every touched partition holds in
batched queries, and groups the files whose delivery differs into run requests over
contiguous partition ranges.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from alchemy_assets.dagster_adapters.dagster_internals import RANGE_END_TAG, RANGE_START_TAG
from alchemy_assets.dagster_adapters.lookup import chunks, latest_sampled_deliveries
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.data_root import Layout, read_batch
from alchemy_assets.format_options import rules_fingerprint
from alchemy_assets.manifest_reader import ReadBatch
from alchemy_assets.staging import DueFile, StagingCursor, batches, decide, latest_by_key

DATASET_TAG = "alchemy_assets/dataset"
# Above this many due partitions that already exist, list all partitions to range their runs.
LIST_PARTITIONS_ABOVE = 16


@dataclass
class TickPlan:
    """What one cycle read and decided."""

    batch: ReadBatch
    staging_cursor: StagingCursor
    new_keys: list[str] = field(default_factory=list)
    runs: list[list[DueFile]] = field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def cursor(self) -> str:
        return self.staging_cursor.encode()

    @property
    def due(self) -> int:
        return sum(len(run) for run in self.runs)


def plan_tick(
    instance: dg.DagsterInstance, spec: DatasetSpec, layout: Layout, cursor: str | None
) -> TickPlan:
    """Decide one cycle for ``spec`` from ``cursor``; touches the instance only to read."""
    previous, note = StagingCursor.decode(cursor)
    rules = spec.options.formats
    previous, changed = previous.for_formats(rules_fingerprint(rules))
    batch = read_batch(layout, previous.manifest, max_lines=spec.options.max_lines_per_tick)
    plan = TickPlan(batch=batch, staging_cursor=previous.advanced(batch))
    plan.notes += [n for n in (note, changed) if n]
    if batch.restarted:
        plan.notes.append(f"manifest read from the start: {batch.restarted}")
    latest = latest_by_key(batch.entries)
    if not latest:
        return plan
    existing = instance.get_existing_dynamic_partitions(spec.partitions_name, list(latest))
    known = [key for key in latest if key in existing]
    plan.new_keys = [key for key in latest if key not in existing]
    sampled = latest_sampled_deliveries(instance, spec.sample_key, known)
    due, plan.unchanged = decide(latest, sampled, rules)
    order = _partition_order(
        instance, spec, plan.new_keys, [d.key for d in due if d.key in existing]
    )
    plan.runs = batches(due, order, spec.options.partitions_per_run)
    return plan


def _partition_order(
    instance: dg.DagsterInstance, spec: DatasetSpec, new_keys: list[str], due_known: list[str]
) -> dict[str, int]:
    """Where each due partition sits, so runs cover contiguous ranges.

    New partitions are added after all others, in this order. Only when many known
    partitions are due (re-deliveries) is every partition listed to find theirs (2.7 s for
    10^6 partitions here); a few get one run each instead, at no listing cost.
    """
    end = 2**62
    order = {key: end + index for index, key in enumerate(new_keys)}
    if len(due_known) > LIST_PARTITIONS_ABOVE:
        listed = instance.get_dynamic_partitions(spec.partitions_name)
        order.update((key, index) for index, key in enumerate(listed))
    else:
        order.update((key, -2 * index) for index, key in enumerate(due_known))  # never adjacent
    return order


def add_requests(spec: DatasetSpec, keys: list[str]) -> list[dg.AddDynamicPartitionsRequest]:
    """Partition add requests, chunked so no SQL statement exceeds SQLite's variable limit."""
    return [spec.partitions_def.build_add_request(list(chunk)) for chunk in chunks(keys)]


def run_key(run: list[DueFile]) -> str:
    """Unique per set of (partition, delivery): a re-delivered file, also one restated with
    its mtime kept, is never taken as a duplicate."""
    if len(run) == 1:
        return f"{run[0].key}@{run[0].delivery.version()}"
    lines = "\n".join(f"{d.key}\t{d.delivery.version()}" for d in run)
    digest = hashlib.sha256(lines.encode()).hexdigest()
    return f"{run[0].key}..{run[-1].key}@{digest[:16]}"


def partition_key(run: list[DueFile]) -> str | None:
    """The run's partition when it samples one file (a range run has none, but range tags)."""
    return run[0].key if len(run) == 1 else None


def run_tags(spec: DatasetSpec, run: list[DueFile]) -> dict[str, str]:
    """The run's dataset (to filter runs by in the UI) and, for several files, the range of
    partitions from first to last."""
    if len(run) == 1:
        return {DATASET_TAG: str(spec.dataset_id)}
    return {
        RANGE_START_TAG: run[0].key,
        RANGE_END_TAG: run[-1].key,
        DATASET_TAG: str(spec.dataset_id),
    }


def run_config(spec: DatasetSpec, run: list[DueFile]) -> dict[str, Any]:
    """The run's :class:`SampleConfig` as plain data (building 10^4 Config objects per tick
    costs seconds; Dagster validates the plain form against the same class at launch)."""
    op_name = "__".join(spec.sample_key.path)
    return {"ops": {op_name: {"config": {"files": [d.to_dict() for d in run]}}}}


def run_request(spec: DatasetSpec, run: list[DueFile]) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key(run),
        job_name=spec.job_name,
        run_config=run_config(spec, run),
        tags=run_tags(spec, run),
        partition_key=partition_key(run),
    )
