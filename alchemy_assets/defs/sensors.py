"""Per dataset: the sensor that turns new manifest lines into partitions and sample runs."""

import logging

import dagster as dg

from alchemy_assets.defs.resources import AlchemyRoot
from alchemy_assets.defs.spec import DatasetSpec
from alchemy_assets.defs.tick import TickPlan, add_requests, plan_tick, run_request

LOGGED_REJECTS = 20


def log_plan(log: logging.Logger | dg.DagsterLogManager, plan: TickPlan) -> None:
    """What a person reading the tick log needs: progress, backlog and bad lines."""
    for note in plan.notes:
        log.warning(note)
    batch = plan.batch
    lines = batch.backlog_lines
    log.info(
        f"read {batch.lines_read} line(s), bytes {batch.start_offset}-{batch.cursor.offset} "
        f"of {batch.file_size}; backlog {batch.backlog_bytes} bytes"
        f"{'' if lines is None else f' (~{lines} lines)'}"
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
        plan = plan_tick(
            context.instance, spec, alchemy_root.layout(spec.dataset_id), context.cursor
        )
        log_plan(context.log, plan)
        if not plan.runs and not plan.new_keys:
            context.update_cursor(plan.cursor)
            return dg.SkipReason(
                f"no new sample due: {plan.batch.lines_read} line(s) read, "
                f"{plan.unchanged} unchanged, {len(plan.batch.rejects)} quarantined"
            )
        return dg.SensorResult(
            run_requests=[run_request(spec, run) for run in plan.runs],
            dynamic_partitions_requests=add_requests(spec, plan.new_keys),
            cursor=plan.cursor,
        )

    return manifest_sensor
