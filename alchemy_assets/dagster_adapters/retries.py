"""Attempts of one sample step: files whose sample failed are tried again in the same run.

The step raises ``dg.RetryRequested`` after recording the files it sampled; Dagster then runs
the step again (an ``up for retry`` event, then a restart, on the run's page), and the new
attempt samples only the files no attempt of this run has recorded yet. A file refused (the
same on every attempt: :class:`~alchemy_assets.sample_errors.RefusedError`) is tried once:
the attempt records the refusal as an observation of its partition, and later attempts of
the run take the reason from there instead of reading the file again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg

from alchemy_assets.dagster_adapters.dagster_internals import BACKFILL_TAG
from alchemy_assets.options import StagingOptions
from alchemy_assets.sample_errors import RefusedError

GAVE_UP = "not retried until re-delivered"
NOT_RETRIED = "not retried; re-deliver a corrected file"
# The metadata entry of a refused partition's observation: the reason.
REFUSED = "refused"


def refusal(err: RefusedError) -> str:
    """The reason of a refused file, saying why it is not tried again."""
    return f"{err} ({err.because}: {NOT_RETRIED})"


def refusal_event(asset_key: dg.AssetKey, key: str, reason: str) -> dg.AssetObservation:
    """Partition ``key`` of ``asset_key`` was refused for ``reason`` (see :func:`refusal`)."""
    return dg.AssetObservation(
        asset_key=asset_key, partition=key, metadata={REFUSED: dg.MetadataValue.text(reason)}
    )


@dataclass(frozen=True)
class Attempt:
    """The step's attempt ``number`` (from 1) of at most ``of``, and the wait before the next:
    ``delay`` seconds after the first, doubled after each next one."""

    number: int
    of: int
    delay: int

    @classmethod
    def of_step(cls, context: dg.AssetExecutionContext, options: StagingOptions) -> Attempt:
        return cls(context.retry_number + 1, options.max_attempts, options.retry_delay_seconds)

    @property
    def last(self) -> bool:
        return self.number >= self.of

    @property
    def seconds_to_wait(self) -> int:
        return self.delay << (self.number - 1)

    def __str__(self) -> str:
        return f"{self.number} of {self.of}"

    def gave_up(self, reason: str) -> str:
        """``reason`` of a file that failed every attempt, saying it is not tried again."""
        if self.of == 1:
            return reason
        return f"{reason} (failed after {self.of} attempts; {GAVE_UP})"


def sampled_in_run(instance: dg.DagsterInstance, run_id: str, asset_key: dg.AssetKey) -> set[str]:
    """The partitions of ``asset_key`` that earlier attempts of run ``run_id`` recorded."""
    keys: set[str] = set()
    for record in _records(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION):
        event = record.event_log_entry.asset_materialization
        if event is not None and event.asset_key == asset_key and event.partition:
            keys.add(event.partition)
    return keys


def refused_in_run(
    instance: dg.DagsterInstance, run_id: str, asset_key: dg.AssetKey
) -> dict[str, str]:
    """The partitions of ``asset_key`` that earlier attempts of run ``run_id`` refused, with
    the reasons (:func:`refusal_event`)."""
    refused: dict[str, str] = {}
    for record in _records(instance, run_id, dg.DagsterEventType.ASSET_OBSERVATION):
        event = record.event_log_entry.asset_observation
        if event is None or event.asset_key != asset_key or not event.partition:
            continue
        reason = event.metadata.get(REFUSED)
        if isinstance(reason, dg.TextMetadataValue) and reason.value is not None:
            refused[event.partition] = reason.value
    return refused


def _records(
    instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType
) -> Iterator[dg.EventLogRecord]:
    cursor = None
    while True:
        page = instance.get_records_for_run(run_id, cursor=cursor, of_type=kind, limit=1000)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def in_backfill(context: dg.AssetExecutionContext) -> bool:
    """Whether a backfill launched this run: the backfill waits for each of its partitions
    to be materialized or failed (dagster#17745)."""
    return BACKFILL_TAG in context.run.tags
