"""Per dataset: the ``bronze`` files (written by ``alchemy ingest``) and their ``sample``s."""

import contextlib
import traceback
import warnings
from collections.abc import Iterator

import dagster as dg

from alchemy_assets.dagster_adapters.checks import (
    RunChecks,
    check_outputs,
    check_specs,
    evaluate_recorded,
    selected_checks,
)
from alchemy_assets.dagster_adapters.lookup import latest_sampled_deliveries
from alchemy_assets.dagster_adapters.metadata import (
    bronze_event,
    not_sampled_event,
    sample_event,
)
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.retries import (
    Attempt,
    in_backfill,
    refusal,
    refusal_event,
    refused_in_run,
    sampled_in_run,
)
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.format_options import options_for
from alchemy_assets.layout import LayoutError
from alchemy_assets.sampling import RefusedError, SampleError
from alchemy_assets.stage_file import (
    AlreadySampledError,
    DeliveryOrder,
    Recorded,
    StagedFile,
    SupersededError,
)
from alchemy_assets.stage_object import staging_on
from alchemy_assets.staging import DueFile, due_on_demand

# The sample step's dg.Failure metadata entry: failed partition key → reason.
FAILED_FILES = "failed"
# ... and the attempts the step made.
ATTEMPTS = "attempts"


def _failed_text(failed: dict[str, str], keys: set[str]) -> str:
    return f"{len(failed)} of {len(keys)} file(s) could not be sampled: " + "; ".join(
        f"{key}: {reason}" for key, reason in sorted(failed.items())[:10]
    )


def failed_files(event: dg.DagsterEvent) -> dict[str, str] | None:
    """The per-file reasons a failed sample step recorded, or None (it failed otherwise)."""
    data = event.step_failure_data
    if data.user_failure_data is None:
        return None
    failed = data.user_failure_data.metadata.get(FAILED_FILES)
    if isinstance(failed, dg.JsonMetadataValue) and isinstance(failed.value, dict):
        return {str(k): str(v) for k, v in failed.value.items()}
    return None


class DueFileConfig(dg.Config):
    """One file the sensor found due: partition key, manifest line and reason."""

    key: str
    raw: str
    bronze: str
    mtime: float
    reason: str
    size: int | None = None
    sha256: str | None = None
    format: str | None = None
    etag: str | None = None


class SampleConfig(dg.Config):
    """The files to sample. Empty (a run launched by a person): every partition of the run,
    at the mtime of its latest manifest line."""

    files: list[DueFileConfig] = []  # noqa: RUF012 - pydantic copies field defaults


def _recorded(instance: dg.DagsterInstance, spec: DatasetSpec) -> Recorded:
    """Whether the instance's latest sample of a due file's partition holds its delivery."""

    def recorded(due: DueFile) -> bool:
        held = latest_sampled_deliveries(instance, spec.sample_key, [due.key]).get(due.key)
        return held is not None and due.delivery.same_as(held)

    return recorded


def manifest_spec(spec: DatasetSpec) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=spec.manifest_key,
        group_name=spec.group_name,
        description=(
            f"{spec.dataset_id}'s manifests/processed.jsonl: one line per ingested file. "
            "Observed by the sensor on each tick that reads lines: size, lines consumed, "
            "backlog, quarantined lines and their last reasons."
        ),
        kinds={"json"},
    )


def bronze_spec(spec: DatasetSpec) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=spec.bronze_key,
        deps=[spec.manifest_key],
        partitions_def=spec.partitions_def,
        group_name=spec.group_name,
        description=(
            f"Immutable bronze copies of {spec.dataset_id}'s raw files, one partition per raw "
            "file (key: its path under raw/). Written by `alchemy ingest`, outside Dagster. "
            "A partition is materialized when its file was sampled (path, mtime and size "
            "recorded then); a delivered file whose sample failed has no bronze "
            "materialization: its failure is on the sample partition."
        ),
        kinds={"file"},
    )


def build_sample_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    """The ``sample`` asset of one dataset: the first N rows of each bronze file."""
    rows = spec.options.sample_rows
    with warnings.catch_warnings():
        # backfill_policy is "beta" in Dagster 1.13; it is what batches partitions into runs.
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy")
        return _sample_asset(spec, rows)


def _sample_asset(spec: DatasetSpec, rows: int) -> dg.AssetsDefinition:
    sample_spec = dg.AssetSpec(
        key=spec.sample_key,
        deps=[spec.bronze_key],
        partitions_def=spec.partitions_def,
        group_name=spec.group_name,
        skippable=True,
        kinds={"file"},
        description=(
            f"The first {rows} rows of each bronze file of {spec.dataset_id}, in the file's "
            "own format, at `samples/{env}/{path}/{stem}_sample{ext}`. Metadata `mtime` is the "
            "manifest mtime the sample was taken at."
        ),
    )

    # A multi_asset only for can_subset: a person can run the checks without re-sampling.
    @dg.multi_asset(
        name="__".join(spec.sample_key.path),
        specs=[sample_spec],
        check_specs=check_specs(spec),
        partitions_def=spec.partitions_def,
        backfill_policy=dg.BackfillPolicy.multi_run(spec.options.partitions_per_run),
        can_subset=True,
        pool=spec.pool,
    )
    def sample(
        context: dg.AssetExecutionContext, config: SampleConfig, alchemy_root: AlchemyRoot
    ) -> Iterator[
        dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckEvaluation | dg.Output[None]
    ]:
        layout = alchemy_root.layout(spec.dataset_id)
        keys = set(context.partition_keys)
        checks = selected_checks(context, spec)
        if spec.sample_key not in context.selected_asset_keys:
            yield from evaluate_recorded(context.instance, spec, layout, sorted(keys), checks)
            yield from check_outputs(context, spec)
            return
        if config.files:
            work = [DueFile(**f.model_dump()) for f in config.files if f.key in keys]
            failed = {
                f.key: "not in this run's partitions" for f in config.files if f.key not in keys
            }
        else:
            work, unknown = due_on_demand(layout, keys, spec.options.formats)
            failed = {key: "no valid manifest line for this partition" for key in unknown}
        work = [due.under(spec.options.formats) for due in work]
        attempt = Attempt.of_step(context, spec.options)
        # Refused by earlier attempts of this run: failed, not read again; their check
        # results came from the attempt that refused them.
        refused_before: dict[str, str] = {}
        if attempt.number > 1:
            # Earlier attempts of this run recorded these: only the others are tried again.
            done = sampled_in_run(context.instance, context.run.run_id, spec.sample_key)
            refused_before = refused_in_run(context.instance, context.run.run_id, spec.sample_key)
            failed.update((d.key, refused_before[d.key]) for d in work if d.key in refused_before)
            work = [due for due in work if due.key not in done and due.key not in refused_before]
            context.log.info(
                f"attempt {attempt}: {len(done)} file(s) sampled and {len(refused_before)} "
                f"refused by earlier attempts, {len(work)} tried again"
            )
        run_checks = RunChecks.read(context.instance, spec, checks, work)
        staged_files: list[StagedFile] = []
        tried: dict[str, DueFile] = {}
        retryable: set[str] = set()
        refused: set[str] = set()
        order = DeliveryOrder(layout)
        # Files the sensor or `alchemy stage` planned are sampled once per delivery, whoever
        # runs; a person asking for a partition (no file list) gets a new sample regardless.
        recorded = _recorded(context.instance, spec) if config.files else None
        backfill = in_backfill(context)
        for due in work:
            with contextlib.ExitStack() as held:
                try:
                    staged = held.enter_context(
                        staging_on(
                            layout,
                            due,
                            rows,
                            run_id=context.run.run_id,
                            recorded=recorded,
                            order=order,
                            format_options=options_for(spec.options.formats, due.env_path),
                        )
                    )
                except (SupersededError, AlreadySampledError) as err:
                    if backfill:
                        # A backfill waits for every targeted partition to be materialized or
                        # failed: a skipped one is failed, saying why (dagster#17745).
                        failed[due.key] = f"{err} (so not materialized by this backfill)"
                        context.log.warning(f"{due.key}: {failed[due.key]}")
                    else:
                        context.log.info(f"{due.key}: {err}")
                    continue
                except RefusedError as err:  # decided by the bronze file: the same every time
                    failed[due.key] = refusal(err)
                    tried[due.key] = due
                    refused.add(due.key)
                    context.log.error(f"{due.key}: {failed[due.key]}")
                    yield refusal_event(spec.sample_key, due.key, failed[due.key])
                    continue
                except (SampleError, LayoutError, OSError) as err:
                    failed[due.key] = str(err)
                    tried[due.key] = due
                    retryable.add(due.key)
                    context.log.error(f"{due.key}: {err} (attempt {attempt})")
                    continue
                except Exception as err:  # a bug or a reader's surprise fails this file alone
                    failed[due.key] = f"{due.bronze}: unexpected {type(err).__name__}: {err}"
                    tried[due.key] = due
                    retryable.add(due.key)
                    context.log.error(f"{due.key}: {failed[due.key]}\n{traceback.format_exc()}")
                    continue
                # Recorded while the sample's lock is held: a run that takes the lock next
                # finds this delivery sampled and recorded.
                if spec.options.bronze_events:
                    yield bronze_event(spec, staged)
                if staged.not_data is not None:
                    context.log.info(f"{due.key}: not sampled: {staged.not_data.reason}")
                    yield not_sampled_event(spec, staged)
                else:
                    yield sample_event(spec, staged)
            staged_files.append(staged)
        retry = bool(retryable) and not attempt.last
        if not retry:
            failed = {
                key: attempt.gave_up(reason) if key in retryable else reason
                for key, reason in failed.items()
            }
        if checks:
            # The results of files that failed come once, from the attempt that gives up
            # on them: a refused file's from the attempt that refused it.
            unsampled = {
                key: (tried.get(key), reason)
                for key, reason in failed.items()
                if key in keys and key not in refused_before and (key in refused or not retry)
            }
            yield from run_checks.evaluate(
                context.instance, spec, layout, staged_files, unsampled, str(attempt)
            )
            yield from check_outputs(context, spec)
        if retry:
            seconds = attempt.seconds_to_wait
            raise dg.RetryRequested(max_retries=attempt.of - 1, seconds_to_wait=seconds) from (
                dg.Failure(
                    description=f"attempt {attempt}: {_failed_text(failed, keys)}; "
                    f"{len(retryable)} tried again in {seconds} s",
                    metadata={FAILED_FILES: dg.MetadataValue.json(failed)},
                )
            )
        if failed:
            raise dg.Failure(
                description=_failed_text(failed, keys),
                metadata={
                    FAILED_FILES: dg.MetadataValue.json(failed),
                    ATTEMPTS: dg.MetadataValue.int(attempt.number),
                },
            )

    return sample
