from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.checks import SCHEMA_DRIFT
from alchemy_assets.dagster_adapters.dagster_internals import serialized_size
from alchemy_assets.dagster_adapters.metadata import bounded
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.metadata_bounds import MAX_EVENT_METADATA
from alchemy_assets_tests.conftest import RawWriter

KIB = 1024
COLUMNS = 200_000


def _wide_csv(columns: int, retyped: int | None = None) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    rows = [
        ",".join("x" if i == retyped else str(i % 10) for i in range(columns)) for _ in range(3)
    ]
    return "\n".join([header, *rows]).encode() + b"\n"


def _stage(fp_prefix: Path) -> None:
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 0


def _stored_events(instance: dg.DagsterInstance) -> list[dg.EventLogEntry]:
    return [entry for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]


def _metadata_sizes(entry: dg.EventLogEntry) -> int:
    event = entry.dagster_event
    data = event.event_specific_data if event else None
    inner = getattr(data, "materialization", None) or getattr(data, "asset_observation", None)
    metadata = getattr(inner or data, "metadata", None) or {}
    return sum(serialized_size(value) for value in metadata.values())


def test_a_200000_column_csv_is_staged_with_every_stored_event_under_256_kib(
    fp_prefix: Path,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
) -> None:
    write_raw("env0/wide.csv", _wide_csv(COLUMNS), 1000.0)
    _stage(fp_prefix)
    events = _stored_events(instance)
    largest = max(events, key=serialized_size)
    assert serialized_size(largest) < 256 * KIB, largest.dagster_event_type
    assert max(_metadata_sizes(entry) for entry in events) <= MAX_EVENT_METADATA
    (record,) = instance.fetch_materializations(spec.sample_key, limit=1).records
    meta = record.asset_materialization.metadata if record.asset_materialization else {}
    schema = meta["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchemaMetadataValue)
    assert [c.name for c in schema.schema.columns] == [f"c{i}" for i in range(1_000)]
    assert meta["columns"] == dg.MetadataValue.int(COLUMNS)
    assert meta["column_schema_note"] == dg.MetadataValue.text(
        "first 1,000 of 200,000 columns; all are compared by column_schema_digest"
    )
    assert meta["dagster/row_count"] == dg.MetadataValue.int(3)


def test_a_note_naming_every_one_of_100000_empty_column_names_is_cut_saying_how_long(
    fp_prefix: Path,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
) -> None:
    write_raw("env0/empty.csv", b"," * 99_999 + b"\n" + b"1," * 99_999 + b"1\n", 1000.0)
    _stage(fp_prefix)
    (record,) = instance.fetch_materializations(spec.sample_key, limit=1).records
    materialization = record.asset_materialization
    assert materialization is not None and materialization.description is not None
    note = materialization.metadata["header"]
    assert isinstance(note, dg.TextMetadataValue) and note.text is not None
    assert note.text.startswith("empty name at column(s) 1, 2, 3,") and len(note.text) == 2_000
    assert note.text.endswith(" characters in all)")
    assert materialization.description.endswith("; odd: header")


def _drift(instance: dg.DagsterInstance, spec: DatasetSpec) -> dg.AssetCheckEvaluation:
    check_key = dg.AssetCheckKey(spec.sample_key, SCHEMA_DRIFT)
    (latest, *_) = instance.event_log_storage.get_asset_check_execution_history(check_key, 1)
    assert latest.event and latest.event.dagster_event
    data = latest.event.dagster_event.event_specific_data
    assert isinstance(data, dg.AssetCheckEvaluation)
    return data


def test_a_column_retyped_past_the_recorded_ones_of_a_wide_file_is_schema_drift(
    fp_prefix: Path,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
) -> None:
    write_raw("env0/wide.csv", _wide_csv(20_000), 1000.0)
    _stage(fp_prefix)
    write_raw("env0/wide.csv", _wide_csv(20_000), 2000.0)
    _stage(fp_prefix)
    assert _drift(instance, spec).passed
    write_raw("env0/wide.csv", _wide_csv(20_000, retyped=15_000), 3000.0)
    _stage(fp_prefix)
    drift = _drift(instance, spec)
    assert not drift.passed
    assert drift.description == (
        "since the previous sample: full schemas differ (20,000 → 20,000 columns, not all recorded)"
    )


@pytest.mark.parametrize("limit", [1 * KIB, 4 * KIB])
def test_an_event_too_big_leaves_out_its_largest_entries_saying_how_big(limit: int) -> None:
    metadata: dict[str, dg.MetadataValue] = {
        "small": dg.MetadataValue.int(1),
        "big": dg.MetadataValue.text("x" * 10_000),
        "bigger": dg.MetadataValue.text("é" * 10_000),
    }
    kept = bounded(metadata, limit)
    assert kept["small"] == metadata["small"]
    assert kept["bigger"] == dg.MetadataValue.text(
        f"left out: 60,062 bytes, more than the {limit // KIB} KiB an event's metadata may hold"
    )
    assert sum(serialized_size(v) for v in kept.values()) <= limit
