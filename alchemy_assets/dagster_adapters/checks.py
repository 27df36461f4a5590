"""Per dataset: the ``consistency`` and ``schema_drift`` checks of each ``sample`` partition.

Both are partitioned checks declared on the ``sample`` asset and evaluated in its step: after
a sample run records its samples (from what the run just wrote), or alone, when a person
executes them for some partitions (from the samples recorded in the instance, the bronze files
on disk and the whole manifest).
"""

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import dagster as dg

from alchemy_assets.consistency import Consistency, SampledFile, check_consistency
from alchemy_assets.dagster_adapters.dagster_internals import CheckTarget as Target
from alchemy_assets.dagster_adapters.lookup import latest_records, recorded_mtime
from alchemy_assets.dagster_adapters.metadata import (
    COLUMN_SCHEMA,
    COLUMN_SCHEMA_DIGEST,
    COLUMNS,
    NOT_SAMPLED,
    bounded,
)
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.data_root import Layout
from alchemy_assets.metadata_bounds import MAX_TEXT_CHARS, cut_text
from alchemy_assets.schema_drift import (
    MAX_LISTED,
    Drift,
    SchemaError,
    SchemaRecord,
    check_drift,
    schema_of,
)
from alchemy_assets.stage_file import StagedFile
from alchemy_assets.staging import DueFile, due_on_demand

CONSISTENCY = "consistency"
SCHEMA_DRIFT = "schema_drift"
# Latest sample materializations of the dataset read to find its prevailing schema.
WINDOW = 200


def check_specs(spec: DatasetSpec) -> list[dg.AssetCheckSpec]:
    """The two checks of the dataset's ``sample`` asset, one result per partition."""
    if not spec.options.asset_checks:
        return []
    with warnings.catch_warnings():
        # partitions_def on a check is "preview" in Dagster 1.13; it records a result per partition.
        warnings.filterwarnings(
            "ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec"
        )
        return [
            dg.AssetCheckSpec(
                CONSISTENCY,
                asset=spec.sample_key,
                partitions_def=spec.partitions_def,
                description=(
                    "The bronze file the sample was taken from still exists with the manifest "
                    "mtime and the size seen when sampled, and the sample is of the latest "
                    "manifest line for its raw file (else: stale)."
                ),
            ),
            dg.AssetCheckSpec(
                SCHEMA_DRIFT,
                asset=spec.sample_key,
                partitions_def=spec.partitions_def,
                description=(
                    "The sample's columns and types against the previous sample of the same "
                    f"partition and the schema prevailing among the latest {WINDOW} samples "
                    "of the dataset (WARN on added, removed or retyped columns)."
                ),
            ),
        ]


@dataclass(frozen=True)
class RecordedSample:
    """A stored ``sample`` materialization: where it is and what its metadata says.

    ``sampled`` (or ``schema``) is None where that metadata is missing or malformed, and
    ``source_errors`` (or ``schema_errors``) says what is wrong with it.
    """

    target: Target
    sampled: SampledFile | None
    schema: SchemaRecord | None
    source_errors: list[str] = field(default_factory=list)
    schema_errors: list[str] = field(default_factory=list)
    not_data: str | None = None  # the file's kind, where it was recorded as not sampled

    @classmethod
    def of(cls, record: dg.EventLogRecord) -> "RecordedSample":
        target = Target(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
        )
        meta = record.asset_materialization.metadata if record.asset_materialization else {}
        source_errors: list[str] = []
        schema_errors: list[str] = []
        sampled = _sampled_file(meta, source_errors)
        if NOT_SAMPLED in meta:
            kind = meta.get("kind")
            shown = kind.value if isinstance(kind, dg.TextMetadataValue) else None
            return cls(target, sampled, None, source_errors, [], shown or "not data")
        return cls(target, sampled, _schema(meta, schema_errors), source_errors, schema_errors)


def _sampled_file(meta: Mapping[str, dg.MetadataValue], errors: list[str]) -> SampledFile | None:
    bronze, mtime, size = meta.get("bronze"), meta.get("mtime"), meta.get("bronze_size")
    if not isinstance(bronze, dg.TextMetadataValue) or not bronze.value:
        errors.append("the sample's metadata has no `bronze` path")
        return None
    sampled_mtime = recorded_mtime(mtime)
    if sampled_mtime is None:
        errors.append("the sample's metadata has no timestamp `mtime`")
        return None
    recorded = size.value if isinstance(size, dg.IntMetadataValue) else None
    sha256 = meta.get("sha256")
    checksum = sha256.value if isinstance(sha256, dg.TextMetadataValue) else None
    return SampledFile(bronze.value, sampled_mtime, recorded, checksum or None)


def _schema(meta: Mapping[str, dg.MetadataValue], errors: list[str]) -> SchemaRecord | None:
    value = meta.get(COLUMN_SCHEMA)
    if not isinstance(value, dg.TableSchemaMetadataValue):
        errors.append(f"the sample's metadata has no `{COLUMN_SCHEMA}`")
        return None
    columns, digest = meta.get(COLUMNS), meta.get(COLUMN_SCHEMA_DIGEST)
    try:
        # A sample recorded before `columns` and its digest were lists its whole schema.
        return SchemaRecord.recorded(
            schema_of((c.name, c.type) for c in value.schema.columns),
            columns.value if isinstance(columns, dg.IntMetadataValue) else None,
            digest.value if isinstance(digest, dg.TextMetadataValue) else None,
        )
    except SchemaError as err:
        errors.append(f"the sample's column schema is malformed: {err}")
        return None


def latest_samples(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Iterable[str]
) -> dict[str, RecordedSample]:
    """The latest stored sample of each partition in ``keys`` that has one (batched queries)."""
    records = latest_records(instance, asset_key, sorted(keys))
    return {key: RecordedSample.of(record) for key, record in records.items()}


def previous_samples(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Iterable[str]
) -> dict[str, RecordedSample]:
    """The sample before the latest one of each partition that has two (a query per partition:
    for the few partitions a person checks on demand)."""
    found: dict[str, RecordedSample] = {}
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=2
        ).records
        if len(records) == 2:
            found[key] = RecordedSample.of(records[1])
    return found


def recent_schemas(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> dict[str, SchemaRecord]:
    """The latest schema of each partition among the dataset's last :data:`WINDOW` samples."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key), limit=WINDOW
    ).records
    found: dict[str, SchemaRecord] = {}
    for record in records:  # newest first: keep each partition's first
        key = record.partition_key
        if key is not None and key not in found:
            schema = RecordedSample.of(record).schema
            if schema is not None:
                found[key] = schema
    return found


def consistency_evaluation(
    spec: DatasetSpec,
    key: str,
    verdict: Consistency,
    target: Target | None,
    attempt: str | None = None,
) -> dg.AssetCheckEvaluation:
    """ERROR severity: a sample that no longer matches its bronze file or the manifest.
    ``attempt``: in a sample run, the attempt that sampled the file or gave up ("2 of 3")."""
    problems = [cut_text(problem) for problem in verdict.problems]
    metadata: dict[str, dg.MetadataValue] = {
        "problems": dg.MetadataValue.json(problems),
        "compared": dg.MetadataValue.json(verdict.compared),
    }
    if attempt is not None:
        metadata["attempt"] = dg.MetadataValue.text(attempt)
    return dg.AssetCheckEvaluation(
        asset_key=spec.sample_key,
        check_name=CONSISTENCY,
        passed=verdict.passed,
        partition=key,
        target_materialization_data=target,
        severity=dg.AssetCheckSeverity.ERROR,
        description=cut_text(
            "; ".join(problems) or "bronze file and manifest match the sample", 2 * MAX_TEXT_CHARS
        ),
        metadata=bounded(metadata),
    )


def drift_evaluation(
    spec: DatasetSpec, key: str, drift: Drift, target: Target | None
) -> dg.AssetCheckEvaluation:
    """WARN severity: columns added, removed or retyped since the previous sample of the
    partition (``added``, ``removed``, ``retyped``) and against the prevailing schema
    (``prevailing_added``, ...), the first :data:`MAX_LISTED` of each (the description counts
    them all); ``changes`` shows both as Markdown tables."""
    previous, prevailing = drift.previous, drift.prevailing
    tables = [
        f"**{label}**\n\n{diff.markdown() if diff else '_nothing to compare_'}"
        for label, diff in (
            ("since the previous sample", previous),
            ("against prevailing", prevailing),
        )
    ]
    metadata: dict[str, dg.MetadataValue] = {
        "changes": dg.MetadataValue.md("\n\n".join(tables)),
        "prevailing_partitions": dg.MetadataValue.int(drift.prevailing_count),
        "compared_partitions": dg.MetadataValue.int(drift.compared_partitions),
    }
    for prefix, diff in (("", previous), ("prevailing_", prevailing)):
        for name in ("added", "removed", "retyped"):
            listed = getattr(diff, name)[:MAX_LISTED] if diff else []
            metadata[prefix + name] = dg.MetadataValue.json(listed)
    if drift.problems:
        metadata["problems"] = dg.MetadataValue.json([cut_text(p) for p in drift.problems])
    return dg.AssetCheckEvaluation(
        asset_key=spec.sample_key,
        check_name=SCHEMA_DRIFT,
        passed=drift.passed,
        partition=key,
        target_materialization_data=target,
        severity=dg.AssetCheckSeverity.WARN,
        description=cut_text(drift.description(), 2 * MAX_TEXT_CHARS),
        metadata=bounded(metadata),
    )


def staged_schema(staged: StagedFile) -> SchemaRecord:
    """The whole schema of a sample just taken, every column listed."""
    return SchemaRecord.of(tuple(staged.sample.schema))


@dataclass
class RunChecks:
    """What a sample run needs to check its samples, read before it writes them: the latest
    sample of each re-sampled partition (to be the previous one) and the recent schemas."""

    names: set[str]
    before: dict[str, RecordedSample] = field(default_factory=dict)
    schemas: dict[str, SchemaRecord] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        instance: dg.DagsterInstance,
        spec: DatasetSpec,
        names: set[str],
        work: Sequence[DueFile],
    ) -> "RunChecks":
        if SCHEMA_DRIFT not in names:
            return cls(names)
        # A "new file" had no sample when the run was planned: no previous one to read.
        known = [due.key for due in work if due.reason != "new file"]
        return cls(
            names,
            latest_samples(instance, spec.sample_key, known),
            recent_schemas(instance, spec.sample_key),
        )

    def evaluate(
        self,
        instance: dg.DagsterInstance,
        spec: DatasetSpec,
        layout: Layout,
        staged: Sequence[StagedFile],
        failed: Mapping[str, tuple[DueFile | None, str]],
        attempt: str | None = None,
    ) -> Iterator[dg.AssetCheckEvaluation]:
        """The results for the files just sampled (``staged``, already recorded) and for those
        that could not be (``failed``: the manifest line tried, if any, and why), by the
        step's ``attempt``."""
        targets = {
            key: sample.target
            for key, sample in latest_samples(
                instance, spec.sample_key, [s.due.key for s in staged]
            ).items()
        }
        current = {s.due.key: staged_schema(s) for s in staged if s.not_data is None}
        schemas = {**self.schemas, **current}
        for item in staged:
            key, target = item.due.key, targets.get(item.due.key)
            if CONSISTENCY in self.names:
                # The latest manifest line known to this run is the one it sampled: the
                # sensor passes the last line per file it read (a later line is the next
                # tick's), and a run launched by a person read the whole manifest.
                held = item.due
                sampled = SampledFile(held.bronze, held.mtime, item.bronze_size, held.sha256)
                verdict = check_consistency(layout, sampled, held.delivery)
                yield consistency_evaluation(spec, key, verdict, target, attempt)
            if SCHEMA_DRIFT in self.names:
                if item.not_data is not None:
                    drift = Drift(nothing=_not_data(item.not_data.kind))
                else:
                    drift = _drift(current[key], self.before.get(key), schemas)
                yield drift_evaluation(spec, key, drift, target)
        if CONSISTENCY in self.names:
            for key, (due, reason) in sorted(failed.items()):
                verdict = _unsampled(layout, due, reason)
                yield consistency_evaluation(spec, key, verdict, None, attempt)


def _unsampled(layout: Layout, due: DueFile | None, reason: str) -> Consistency:
    if due is None:
        return Consistency([reason], {})
    tried = SampledFile(due.bronze, due.mtime, due.size, due.sha256)
    return check_consistency(layout, tried, due.delivery, reason)


def evaluate_recorded(
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    layout: Layout,
    keys: Sequence[str],
    names: set[str],
) -> Iterator[dg.AssetCheckEvaluation]:
    """The checks of the latest recorded sample of each partition in ``keys``, run on demand:
    against the bronze files now, the whole manifest and the samples stored before."""
    latest = latest_samples(instance, spec.sample_key, keys)
    manifest = {due.key: due.delivery for due in due_on_demand(layout, keys)[0]}
    previous = previous_samples(instance, spec.sample_key, keys) if SCHEMA_DRIFT in names else {}
    schemas = recent_schemas(instance, spec.sample_key) if SCHEMA_DRIFT in names else {}
    schemas.update((k, s.schema) for k, s in latest.items() if s.schema is not None)
    for key in keys:
        sample = latest.get(key)
        if sample is None:
            if CONSISTENCY in names:
                yield consistency_evaluation(
                    spec, key, Consistency(["no sample recorded for this partition"]), None
                )
            if SCHEMA_DRIFT in names:
                drift = Drift(problems=["no sample recorded for this partition"])
                yield drift_evaluation(spec, key, drift, None)
            continue
        if CONSISTENCY in names:
            if sample.sampled is None:
                verdict = Consistency(sample.source_errors, {})
            else:
                verdict = check_consistency(layout, sample.sampled, manifest.get(key))
            yield consistency_evaluation(spec, key, verdict, sample.target)
        if SCHEMA_DRIFT in names:
            if sample.not_data is not None:
                drift = Drift(nothing=_not_data(sample.not_data))
            elif sample.schema is not None:
                drift = _drift(sample.schema, previous.get(key), schemas)
            else:
                drift = Drift(problems=sample.schema_errors)
            yield drift_evaluation(spec, key, drift, sample.target)


def _not_data(kind: str) -> str:
    return f"not a data file ({kind}), recorded as not sampled: no schema to compare"


def _drift(
    schema: SchemaRecord, previous: RecordedSample | None, schemas: Mapping[str, SchemaRecord]
) -> Drift:
    """``schema`` against the ``previous`` sample (if any) and the prevailing of ``schemas``."""
    if previous is None or previous.schema is not None:
        return check_drift(schema, previous.schema if previous else None, list(schemas.values()))
    drift = check_drift(schema, None, list(schemas.values()))
    problem = f"previous sample not comparable: {'; '.join(previous.schema_errors)}"
    return replace(drift, problems=[problem])


def check_outputs(
    context: dg.AssetExecutionContext, spec: DatasetSpec
) -> Iterator[dg.Output[None]]:
    """The step's outputs of the selected checks, once their results are yielded.

    Dagster takes a check's output as yielded only for an ``AssetCheckResult``, which has no
    partition; for the per-partition ``AssetCheckEvaluation``s yielded here it logged "did not
    yield or return expected outputs" on every successful run. An ``AssetCheckResult`` is
    turned into exactly this ``Output`` plus its evaluation (``_process_user_event`` in
    ``dagster/_core/execution/plan/execute_step.py``); the output records nothing.
    """
    for output_name, check_spec in context.assets_def.check_specs_by_output_name.items():
        if check_spec.asset_key == spec.sample_key:
            yield dg.Output(None, output_name=output_name)


def selected_checks(context: dg.AssetExecutionContext, spec: DatasetSpec) -> set[str]:
    """The names of this dataset's checks the run evaluates."""
    return {k.name for k in context.selected_asset_check_keys if k.asset_key == spec.sample_key}
