import json
import logging
from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets.dagster_adapters.dagster_internals import RANGE_END_TAG, RANGE_START_TAG
from alchemy_assets.dagster_adapters.sensors import (
    BrokenDatasetError,
    build_broken_sensor,
    log_plan,
)
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.tick import TickPlan, plan_tick
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.options import StagingOptions
from alchemy_assets_tests.conftest import (
    RawWriter,
    apply_partition_adds,
    requested_files,
    run_requests,
    tick,
)


def test_a_fresh_cursor_adds_partitions_and_requests_one_range_run(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/data.csv", b"a\n1\n", 100.0)
    write_raw("env1/data.csv", b"a\n2\n", 200.0)
    ingest(layout)
    result = tick(defs, spec, instance, None)
    assert isinstance(result, dg.SensorResult)
    (add,) = result.dynamic_partitions_requests or []
    assert isinstance(add, dg.AddDynamicPartitionsRequest)
    assert (add.partitions_def_name, list(add.partition_keys)) == (
        spec.partitions_name,
        ["env0/data.csv", "env1/data.csv"],
    )
    (request,) = result.run_requests or []
    assert request.job_name == spec.job_name
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
        "env0/data.csv",
        "env1/data.csv",
    )
    files = requested_files(request)
    assert [(f["key"], f["mtime"], f["reason"]) for f in files] == [
        ("env0/data.csv", 100.0, "new file"),
        ("env1/data.csv", 200.0, "new file"),
    ]
    assert json.loads(result.cursor or "")["manifest"]["offset"] == layout.manifest.stat().st_size


def test_a_used_cursor_with_nothing_new_skips(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/data.csv", b"a\n1\n", 100.0)
    ingest(layout)
    first = tick(defs, spec, instance, None)
    assert isinstance(first, dg.SensorResult)
    again = tick(defs, spec, instance, first.cursor)
    assert isinstance(again, dg.SkipReason)
    assert again.skip_message == "no new manifest line"


def test_the_same_cursor_twice_gives_the_same_run_keys(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/data.csv", b"a\n1\n", 100.0)
    ingest(layout)
    one, two = tick(defs, spec, instance, None), tick(defs, spec, instance, None)
    assert isinstance(one, dg.SensorResult) and isinstance(two, dg.SensorResult)
    assert [r.run_key for r in one.run_requests or []] == [
        r.run_key for r in two.run_requests or []
    ]
    assert [r.run_key for r in one.run_requests or []] == ["env0/data.csv@100.0 size=4"]


def test_only_a_changed_mtime_is_requested_again_after_sampling(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    write_raw("env0/a.csv", b"a\n1\n", 100.0)
    write_raw("env0/b.csv", b"a\n1\n", 100.0)
    ingest(layout)
    first = tick(defs, spec, instance, None)
    assert isinstance(first, dg.SensorResult)
    apply_partition_adds(first, instance)
    run_requests(defs, spec, instance, first)
    # A re-delivery of b with a new mtime, and a line repeating a's old mtime.
    write_raw("env0/b.csv", b"a\n2\n", 300.0)
    ingest(layout)
    line = encode_line("raw/env0/a.csv", ingest_bronze(layout, "a.csv"), 100.0)
    with layout.manifest.open("ab") as f:
        f.write(line)
    second = tick(defs, spec, instance, first.cursor)
    assert isinstance(second, dg.SensorResult)
    assert second.dynamic_partitions_requests == []
    (request,) = second.run_requests or []
    assert request.run_key == "env0/b.csv@300.0 size=4"
    assert request.partition_key == "env0/b.csv"
    assert request.tags == {"alchemy_assets/dataset": str(spec.dataset_id)}
    (entry,) = requested_files(request)
    assert entry["reason"] == "mtime changed from 100.0 to 300.0"


def test_a_restatement_with_its_mtime_kept_is_requested_under_a_run_key_of_its_own(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    """Dagster drops a run request whose run_key it has seen: the key must tell them apart."""
    write_raw("env0/p.csv", b"d\n1\n", 100.0)
    ingest(layout)
    first = tick(defs, spec, instance, None)
    assert isinstance(first, dg.SensorResult)
    apply_partition_adds(first, instance)
    run_requests(defs, spec, instance, first)
    write_raw("env0/p.csv", b"d\n1\n2\n", 100.0)
    ingest(layout)
    second = tick(defs, spec, instance, first.cursor)
    assert isinstance(second, dg.SensorResult)
    (request,) = second.run_requests or []
    (old,) = first.run_requests or []
    assert (old.run_key, request.run_key) == ("env0/p.csv@100.0 size=4", "env0/p.csv@100.0 size=6")
    (entry,) = requested_files(request)
    assert entry["reason"] == "size changed from 4 to 6 bytes (same mtime 100.0)"


def ingest_bronze(layout: DatasetLayout, name: str) -> str:
    return (
        next(p for p in (layout.root / "bronze").rglob(f"*--{name}"))
        .relative_to(layout.root)
        .as_posix()
    )


def test_a_partial_last_line_is_requested_only_once_it_is_complete(
    defs: dg.Definitions, spec: DatasetSpec, instance: dg.DagsterInstance, layout: DatasetLayout
) -> None:
    layout.manifest.parent.mkdir(parents=True, exist_ok=True)
    line = encode_line("raw/env0/a.csv", "bronze/2026/01/01/000000--a.csv", 5.0)
    layout.manifest.write_bytes(line[:20])
    first = tick(defs, spec, instance, None)
    assert isinstance(first, dg.SkipReason)
    with layout.manifest.open("ab") as f:
        f.write(line[20:])
    second = tick(defs, spec, instance, None)
    assert isinstance(second, dg.SensorResult)
    assert [r.run_key for r in second.run_requests or []] == ["env0/a.csv@5.0"]


def test_quarantined_lines_are_logged_with_file_offset_and_reason(
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    caplog: pytest.LogCaptureFixture,
) -> None:
    layout.manifest.write_bytes(
        b'{"mtime": NaN}\n' + encode_line("raw/env0/a.csv", "bronze/a.csv", 1.0)
    )
    plan = plan_tick(instance, spec, layout, None)
    with caplog.at_level(logging.INFO, logger="alchemy_test"):
        log_plan(logging.getLogger("alchemy_test"), plan)
    assert f"quarantined {layout.manifest}:0: mtime must be a finite number, not NaN" in (
        caplog.text
    )
    assert "read 2 line(s)" in caplog.text and "1 quarantined" in caplog.text
    assert "backlog 0 bytes (~0 lines)" in caplog.text
    assert "1 new partition(s), 1 due in 1 run(s)" in caplog.text


def _logged(plan: TickPlan, caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="alchemy_test"):
        log_plan(logging.getLogger("alchemy_test"), plan)
    return [f"{r.levelname} {r.getMessage()}" for r in caplog.records]


def test_an_idle_tick_logs_nothing_and_a_tick_that_reads_logs_one_line(
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    caplog: pytest.LogCaptureFixture,
) -> None:
    layout.manifest.write_bytes(encode_line("raw/env0/a.csv", "bronze/a.csv", 1.0))
    first = plan_tick(instance, spec, layout, None)
    size = layout.manifest.stat().st_size
    assert _logged(first, caplog) == [
        f"INFO read 1 line(s), bytes 0-{size} of {size}; backlog 0 bytes (~0 lines); "
        "1 new partition(s), 1 due in 1 run(s), 0 unchanged, 0 quarantined"
    ]
    idle = plan_tick(instance, spec, layout, first.cursor)
    assert idle.batch.lines_read == 0
    assert _logged(idle, caplog) == []


def test_the_cap_message_shows_only_when_lines_are_left_for_the_next_tick(
    fp_prefix: Path,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    caplog: pytest.LogCaptureFixture,
) -> None:
    capped = DatasetSpec(layout.dataset_id, StagingOptions(max_lines_per_tick=2))
    lines = [encode_line(f"raw/env0/f{i}.csv", f"bronze/f{i}.csv", 1.0) for i in range(3)]
    layout.manifest.write_bytes(lines[0] + lines[1])
    exactly = _logged(plan_tick(instance, capped, layout, None), caplog)
    assert "read 2 line(s)" in exactly[0] and "cap" not in exactly[0]
    layout.manifest.write_bytes(b"".join(lines))
    more = _logged(plan_tick(instance, capped, layout, None), caplog)
    assert "backlog" in more[0]
    assert "(~1 lines) (per-tick cap reached: more next tick);" in more[0]


def test_each_tick_that_reads_lines_observes_the_manifest_with_backlog_and_quarantine(
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    fp_prefix: object,
) -> None:
    from alchemy_assets.dagster_adapters.datasets import build_defs
    from alchemy_assets.dagster_adapters.resources import AlchemyRoot
    from alchemy_assets.options import StagingOptions

    capped = DatasetSpec(layout.dataset_id, StagingOptions(max_lines_per_tick=3))
    capped_defs = build_defs([capped], AlchemyRoot(fp_prefix=str(fp_prefix)))
    good = [encode_line(f"raw/env0/f{i}.csv", f"bronze/f{i}.csv", 1.0) for i in range(4)]
    layout.manifest.write_bytes(good[0] + b"{bad\n" + good[1] + good[2] + b"[]\n" + good[3])
    first = tick(capped_defs, capped, instance, None)
    assert isinstance(first, dg.SensorResult)
    (observation,) = first.asset_events
    assert isinstance(observation, dg.AssetObservation)
    assert observation.asset_key == capped.manifest_key
    meta = {k: getattr(v, "value", v) for k, v in observation.metadata.items()}
    assert meta["lines_consumed"] == 3 and meta["quarantined_lines"] == 1
    assert meta["backlog_lines"] == 3 and meta["lines"] == 6
    assert meta["backlog_bytes"] == len(good[2]) + 3 + len(good[3])
    assert f"{layout.manifest}:{len(good[0])}: invalid JSON" in str(meta["last_quarantined"])
    second = tick(capped_defs, capped, instance, first.cursor)
    assert isinstance(second, dg.SensorResult)
    meta = {k: getattr(v, "value", v) for k, v in second.asset_events[0].metadata.items()}
    assert (meta["lines_consumed"], meta["quarantined_lines"], meta["backlog_bytes"]) == (6, 2, 0)
    assert "expected a JSON object, got list" in str(meta["last_quarantined"])


def test_a_broken_datasets_sensor_fails_every_tick_with_the_reason_and_keeps_its_cursor(
    instance: dg.DagsterInstance,
) -> None:
    reason = "/fp/acme/prices/2/alchemy.toml: sample_rows must be an integer from 1 to 1,000,000"
    sensor = build_broken_sensor("acme__prices__v2__manifest_sensor", reason)
    assert sensor.default_status is dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30
    for _ in range(2):
        context = dg.build_sensor_context(instance=instance, cursor='{"v": 1}')
        with pytest.raises(BrokenDatasetError) as err:
            sensor(context)
        assert str(err.value) == reason
        assert context.cursor == '{"v": 1}'
