"""Per dataset: the sensor that turns new manifest lines into partitions and sample runs."""

import logging

import dagster as dg

from alchemy_assets.dagster_adapters.observations import manifest_observation
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.tick import TickPlan, add_requests, plan_tick, run_request
from alchemy_assets.options import StagingOptions

LOGGED_REJECTS = 20


def log_plan(log: logging.Logger | dg.DagsterLogManager, plan: TickPlan) -> None:
    """What a person reading the tick log needs: progress, backlog and bad lines. An idle
    tick logs nothing (its skip reason says so)."""
    for note in plan.notes:
        log.warning(note)
    batch = plan.batch
    if not batch.lines_read:
        return
    log.info(
        f"read {batch.lines_read} line(s), bytes {batch.start_offset}-{batch.cursor.offset} "
        f"of {batch.file_size}; backlog {batch.backlog_bytes} bytes (~{batch.backlog_lines} lines)"
        f"{'' if batch.at_end else ' (per-tick cap reached: more next tick)'}; "
        f"{len(plan.new_keys)} new partition(s), {plan.due} due in {len(plan.runs)} run(s), "
        f"{plan.unchanged} unchanged, {len(batch.rejects)} quarantined"
    )
    for reject in batch.rejects[:LOGGED_REJECTS]:
        log.warning(f"quarantined {reject}")
    if len(batch.rejects) > LOGGED_REJECTS:
        log.warning(f"... and {len(batch.rejects) - LOGGED_REJECTS} more quarantined line(s)")


def build_sensor(spec: DatasetSpec) -> dg.SensorDefinition:
    @dg.sensor(
        name=spec.sensor_name,
        job_name=spec.job_name,
        minimum_interval_seconds=spec.options.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Reads new lines of {spec.dataset_id}'s manifests/processed.jsonl, adds a "
            "partition per new raw file and requests a sample where the manifest mtime "
            "differs from the latest sample's."
        ),
    )
    def manifest_sensor(
        context: dg.SensorEvaluationContext, alchemy_root: AlchemyRoot
    ) -> dg.SensorResult | dg.SkipReason:
        layout = alchemy_root.layout(spec.dataset_id)
        plan = plan_tick(context.instance, spec, layout, context.cursor)
        log_plan(context.log, plan)
        if not plan.batch.lines_read and not plan.notes:
            context.update_cursor(plan.cursor)
            return dg.SkipReason(
                f"no new manifest line; backlog {plan.batch.backlog_bytes} bytes "
                "(an incomplete last line)"
                if plan.batch.backlog_bytes
                else "no new manifest line"
            )
        return dg.SensorResult(
            run_requests=[run_request(spec, run) for run in plan.runs],
            dynamic_partitions_requests=add_requests(spec, plan.new_keys),
            asset_events=[manifest_observation(spec, plan, layout.manifest)],
            cursor=plan.cursor,
        )

    return manifest_sensor


class BrokenDatasetError(Exception):
    """A dataset whose configuration cannot be used; the message says why and what to fix."""


def build_broken_sensor(name: str, reason: str) -> dg.SensorDefinition:
    """The sensor of a dataset that could not be loaded: every tick fails with ``reason``, so
    the sensor's page and tick history show it; its cursor is kept for when it is fixed."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=StagingOptions().sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Not loaded: {reason}",
    )
    def broken_dataset_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        raise BrokenDatasetError(reason)

    return broken_dataset_sensor
