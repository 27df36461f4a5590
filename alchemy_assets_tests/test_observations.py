from pathlib import Path

import dagster as dg

from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.options import StagingOptions
from alchemy_assets_tests.conftest import tick


def _tick_as_the_daemon(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, cursor: str | None
) -> str | None:
    """One tick whose asset events are stored the way the sensor daemon stores them."""
    result = tick(defs, spec, instance, cursor)
    assert isinstance(result, dg.SensorResult)
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return result.cursor


def _latest_observation(instance: dg.DagsterInstance, spec: DatasetSpec) -> dict[str, object]:
    (record,) = instance.fetch_observations(spec.manifest_key, limit=1).records
    assert record.asset_observation is not None
    return {k: getattr(v, "value", v) for k, v in record.asset_observation.metadata.items()}


def test_a_partial_tick_records_the_exact_backlog_and_the_drain_records_none(
    instance: dg.DagsterInstance, layout: DatasetLayout, fp_prefix: Path
) -> None:
    capped = DatasetSpec(layout.dataset_id, StagingOptions(max_lines_per_tick=4))
    defs = build_defs([capped], AlchemyRoot(fp_prefix=str(fp_prefix)))
    # Lines of different lengths, so an estimate from the mean line length would be off.
    lines = [encode_line(f"raw/env0/{'f' * i}.csv", f"bronze/{i}.csv", 1.0) for i in range(1, 8)]
    lines.insert(2, b"{bad\n")
    layout.manifest.write_bytes(b"".join(lines) + b'{"raw": "incomplete')
    cursor = _tick_as_the_daemon(defs, capped, instance, None)
    meta = _latest_observation(instance, capped)
    assert (meta["lines_consumed"], meta["lines_this_tick"], meta["quarantined_lines"]) == (4, 4, 1)
    assert meta["backlog_lines"] == 4 and meta["backlog_lines_exact"] is True
    assert meta["backlog_bytes"] == len(b"".join(lines[4:])) + len(b'{"raw": "incomplete')
    assert meta["lines"] == 8 and meta["bytes"] == layout.manifest.stat().st_size
    _tick_as_the_daemon(defs, capped, instance, cursor)
    meta = _latest_observation(instance, capped)
    assert (meta["lines_consumed"], meta["lines_this_tick"], meta["lines"]) == (8, 4, 8)
    assert (meta["backlog_lines"], meta["backlog_bytes"]) == (0, len(b'{"raw": "incomplete'))


def test_the_last_quarantine_reasons_stay_visible_after_a_clean_tick(
    instance: dg.DagsterInstance, layout: DatasetLayout, spec: DatasetSpec, defs: dg.Definitions
) -> None:
    layout.manifest.write_bytes(b"{bad\n" + encode_line("raw/env0/a.csv", "bronze/a.csv", 1.0))
    cursor = _tick_as_the_daemon(defs, spec, instance, None)
    with layout.manifest.open("ab") as f:
        f.write(encode_line("raw/env0/b.csv", "bronze/b.csv", 1.0))
    _tick_as_the_daemon(defs, spec, instance, cursor)
    meta = _latest_observation(instance, spec)
    assert (meta["quarantined_this_tick"], meta["quarantined_lines"]) == (0, 1)
    assert str(meta["last_quarantined"]).startswith(f"- `{layout.manifest}:0: invalid JSON")


def test_a_manifest_without_bad_lines_says_none(
    instance: dg.DagsterInstance, layout: DatasetLayout, spec: DatasetSpec, defs: dg.Definitions
) -> None:
    layout.manifest.write_bytes(encode_line("raw/env0/a.csv", "bronze/a.csv", 1.0))
    _tick_as_the_daemon(defs, spec, instance, None)
    assert _latest_observation(instance, spec)["last_quarantined"] == "_none_"
