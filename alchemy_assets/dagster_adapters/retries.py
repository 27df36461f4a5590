"""Attempts of one sample step: files whose sample failed are tried again in the same run.

The step raises ``dg.RetryRequested`` after recording the files it sampled; Dagster then runs
the step again (an ``up for retry`` event, then a restart, on the run's page), and the new
attempt samples only the files no attempt of this run has recorded yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from alchemy_assets.dagster_adapters.dagster_internals import BACKFILL_TAG
from alchemy_assets.options import StagingOptions

GAVE_UP = "not retried until re-delivered"


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
    cursor = None
    while True:
        page = instance.get_records_for_run(
            run_id, cursor=cursor, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1000
        )
        for record in page.records:
            event = record.event_log_entry.asset_materialization
            if event is not None and event.asset_key == asset_key and event.partition:
                keys.add(event.partition)
        if not page.has_more:
            return keys
        cursor = page.cursor


def in_backfill(context: dg.AssetExecutionContext) -> bool:
    """Whether a backfill launched this run: the backfill waits for each of its partitions
    to be materialized or failed (dagster#17745)."""
    return BACKFILL_TAG in context.run.tags
