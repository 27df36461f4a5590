import io
import os
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from alchemy_assets.dagster_adapters.assets import ATTEMPTS, FAILED_FILES
from alchemy_assets.dagster_adapters.checks import CONSISTENCY
from alchemy_assets.dagster_adapters.dagster_internals import (
    BACKFILL_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
)
from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.retries import REFUSED, Attempt
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.status_lookup import dataset_status
from alchemy_assets.dagster_adapters.tick import run_config
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.options import StagingOptions
from alchemy_assets.stage_file import stage_file
from alchemy_assets.staging import DueFile
from alchemy_assets.status import format_status
from alchemy_assets_tests.conftest import RawWriter

CSV = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(30))
OPEN_QUOTE = b'id,name\n1,"never closed\n2,n2\n'
GAVE_UP = "(failed after 3 attempts; not retried until re-delivered)"
REFUSED_BYTES = (
    "(depends only on the bronze file's bytes: not retried; re-deliver a corrected file)"
)


def _defs(fp_prefix: Path, spec: DatasetSpec) -> dg.Definitions:
    return build_defs([spec], AlchemyRoot(fp_prefix=str(fp_prefix)))


def _spec(
    layout: DatasetLayout, max_attempts: int = 3, retry_delay_seconds: int = 0
) -> DatasetSpec:
    options = StagingOptions(
        sample_rows=5, max_attempts=max_attempts, retry_delay_seconds=retry_delay_seconds
    )
    return DatasetSpec(layout.dataset_id, options)


def _delivered(
    layout: DatasetLayout, instance: dg.DagsterInstance, spec: DatasetSpec
) -> list[DueFile]:
    """Ingest the raw files; their partitions added, their latest deliveries as planned."""
    copied = ingest(layout).copied
    due = [
        DueFile(Path(c.raw).relative_to("raw").as_posix(), c.raw, c.bronze, c.mtime, "new file")
        for c in copied
    ]
    instance.add_dynamic_partitions(spec.partitions_name, [d.key for d in due])
    return due


def _run(
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    due: list[DueFile],
    *,
    planned: bool = True,
    run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One sample run over ``due``'s partitions: planned (the sensor's file list) or, like a
    run launched in the UI or by a backfill, without one."""
    range_tags = {RANGE_START_TAG: due[0].key, RANGE_END_TAG: due[-1].key} if len(due) > 1 else {}
    return defs.resolve_job_def(spec.job_name).execute_in_process(
        instance=instance,
        run_config=run_config(spec, due) if planned else None,
        partition_key=due[0].key if len(due) == 1 else None,
        tags={**range_tags, **(tags or {})},
        run_id=run_id,
        raise_on_error=False,
    )


def _events(result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type is kind]


def _sampled(result: dg.ExecuteInProcessResult, spec: DatasetSpec) -> Counter[str]:
    return Counter(
        m.partition or ""
        for m in (e.materialization for e in result.get_asset_materialization_events())
        if m.asset_key == spec.sample_key
    )


def _consistency(result: dg.ExecuteInProcessResult) -> dict[str, list[dg.AssetCheckEvaluation]]:
    found: dict[str, list[dg.AssetCheckEvaluation]] = {}
    for event in _events(result, dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = event.event_specific_data
        assert isinstance(evaluation, dg.AssetCheckEvaluation)
        if evaluation.check_name == CONSISTENCY:
            found.setdefault(str(evaluation.partition), []).append(evaluation)
    return found


def _failed(result: dg.ExecuteInProcessResult) -> tuple[dict[str, str], int]:
    (failure,) = _events(result, dg.DagsterEventType.STEP_FAILURE)
    user = failure.step_failure_data.user_failure_data
    assert user is not None
    failed, attempts = user.metadata[FAILED_FILES], user.metadata[ATTEMPTS]
    assert isinstance(failed, dg.JsonMetadataValue) and isinstance(failed.value, dict)
    assert isinstance(attempts, dg.IntMetadataValue) and attempts.value is not None
    return failed.value, attempts.value


def _refusals(result: dg.ExecuteInProcessResult) -> list[tuple[str, str]]:
    """The refusals the run's attempts recorded: (partition, reason)."""
    found = []
    for event in _events(result, dg.DagsterEventType.ASSET_OBSERVATION):
        observation = event.asset_observation_data.asset_observation
        reason = observation.metadata.get(REFUSED)
        if isinstance(reason, dg.TextMetadataValue):
            found.append((str(observation.partition), str(reason.value)))
    return found


def _missing(layout: DatasetLayout, due: DueFile) -> None:
    """The bronze file of ``due`` is not there (yet, say: a shared filesystem's lag)."""
    (layout.root / due.bronze).unlink()


def _text(evaluation: dg.AssetCheckEvaluation, label: str) -> str:
    value = evaluation.metadata[label]
    assert isinstance(value, dg.TextMetadataValue)
    return str(value.value)


def test_attempts_wait_longer_each_time_and_say_which_they_are() -> None:
    attempts = [Attempt(number, 3, 10) for number in (1, 2, 3)]
    assert [a.seconds_to_wait for a in attempts[:2]] == [10, 20]
    assert [str(a) for a in attempts] == ["1 of 3", "2 of 3", "3 of 3"]
    assert [a.last for a in attempts] == [False, False, True]
    assert Attempt(1, 1, 10).gave_up("bad") == "bad"
    assert Attempt(3, 3, 10).gave_up("bad") == f"bad {GAVE_UP}"


@pytest.mark.parametrize("planned", [True, False], ids=["planned", "launched_by_a_person"])
def test_a_bronze_file_that_appears_late_is_sampled_on_the_second_attempt_and_others_once(
    fp_prefix: Path,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
    planned: bool,
) -> None:
    spec = _spec(layout, retry_delay_seconds=1)
    write_raw("env0/a.csv", CSV, 1.0)
    write_raw("env0/b.csv", CSV, 2.0)
    write_raw("env0/c.csv", CSV, 3.0)
    due = _delivered(layout, instance, spec)
    late = layout.root / due[1].bronze
    hidden = late.with_name(".hidden")
    os.rename(late, hidden)
    run_id = str(uuid.uuid4())

    def put_back_once_the_first_attempt_failed() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            records = instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
            ).records
            if records:
                os.rename(hidden, late)
                return
            time.sleep(0.05)

    helper = threading.Thread(target=put_back_once_the_first_attempt_failed)
    helper.start()
    result = _run(_defs(fp_prefix, spec), spec, instance, due, planned=planned, run_id=run_id)
    helper.join()
    assert result.success
    assert _sampled(result, spec) == {"env0/a.csv": 1, "env0/b.csv": 1, "env0/c.csv": 1}
    (retry,) = _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert retry.step_retry_data.seconds_to_wait == 1
    assert retry.step_retry_data.error is not None
    cause = retry.step_retry_data.error.cause
    assert (
        cause is not None and "attempt 1 of 3: 1 of 3 file(s) could not be sampled" in cause.message
    )
    assert "env0/b.csv" in cause.message and "bronze file is missing" in cause.message
    # One consistency result per file, from the attempt that sampled it.
    checks = _consistency(result)
    assert {key: len(found) for key, found in checks.items()} == {
        "env0/a.csv": 1,
        "env0/b.csv": 1,
        "env0/c.csv": 1,
    }
    assert _text(checks["env0/a.csv"][0], "attempt") == "1 of 3"
    assert _text(checks["env0/b.csv"][0], "attempt") == "2 of 3"
    assert all(found[0].passed for found in checks.values())


def test_a_file_still_missing_fails_after_three_attempts_and_says_it_is_not_retried(
    fp_prefix: Path,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    spec = _spec(layout, retry_delay_seconds=0)
    defs = _defs(fp_prefix, spec)
    write_raw("env0/a.csv", CSV, 1.0)
    write_raw("env0/b.parquet", b"PAR1", 2.0)
    due = _delivered(layout, instance, spec)
    _missing(layout, due[1])
    result = _run(defs, spec, instance, due)
    assert not result.success
    assert _sampled(result, spec) == {"env0/a.csv": 1}
    assert len(_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    failed, attempts = _failed(result)
    assert attempts == 3
    assert failed == {"env0/b.parquet": f"{due[1].bronze}: bronze file is missing {GAVE_UP}"}
    checks = _consistency(result)
    assert {key: len(found) for key, found in checks.items()} == {
        "env0/a.csv": 1,
        "env0/b.parquet": 1,
    }
    (gave_up,) = checks["env0/b.parquet"]
    assert not gave_up.passed and GAVE_UP in (gave_up.description or "")
    assert _text(gave_up, "attempt") == "3 of 3"
    # `alchemy status` says so.
    status = dataset_status(instance, spec, layout)
    assert status.failed == {"env0/b.parquet": failed["env0/b.parquet"]}
    assert GAVE_UP in format_status(status)


def test_a_file_refused_for_its_bytes_is_tried_once_without_waiting_and_says_why(
    fp_prefix: Path,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    spec = _spec(layout, retry_delay_seconds=1)
    write_raw("env0/a.csv", CSV, 1.0)
    write_raw("env0/b.csv", OPEN_QUOTE, 2.0)
    due = _delivered(layout, instance, spec)
    result = _run(_defs(fp_prefix, spec), spec, instance, due)
    assert not result.success
    assert _sampled(result, spec) == {"env0/a.csv": 1}
    assert _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    assert len(_events(result, dg.DagsterEventType.STEP_START)) == 1
    failed, attempts = _failed(result)
    assert attempts == 1
    reason = (
        f"{due[1].bronze}: unterminated quote: the quoted field opened on line 2 (byte 10) runs "
        f"to the end of the file {REFUSED_BYTES}"
    )
    assert failed == {"env0/b.csv": reason}
    assert _refusals(result) == [("env0/b.csv", reason)]
    (refused,) = _consistency(result)["env0/b.csv"]
    assert not refused.passed and REFUSED_BYTES in (refused.description or "")
    assert _text(refused, "attempt") == "1 of 3"
    # `alchemy status` says so.
    status = dataset_status(instance, spec, layout)
    assert status.failed == {"env0/b.csv": reason}
    assert REFUSED_BYTES in format_status(status)


def test_a_refused_file_beside_one_tried_again_is_read_by_the_first_attempt_alone(
    fp_prefix: Path,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    spec = _spec(layout, retry_delay_seconds=0)
    write_raw("env0/a.csv", CSV, 1.0)
    write_raw("env0/b.csv", OPEN_QUOTE, 2.0)
    write_raw("env0/c.csv", CSV, 3.0)
    due = _delivered(layout, instance, spec)
    _missing(layout, due[2])
    result = _run(_defs(fp_prefix, spec), spec, instance, due)
    assert len(_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    failed, attempts = _failed(result)
    assert attempts == 3
    assert failed["env0/b.csv"].endswith(f"runs to the end of the file {REFUSED_BYTES}")
    assert failed["env0/c.csv"] == f"{due[2].bronze}: bronze file is missing {GAVE_UP}"
    # Refused by attempt 1; attempts 2 and 3 took its reason from there, not from the file.
    assert _refusals(result) == [("env0/b.csv", failed["env0/b.csv"])]
    checks = _consistency(result)
    assert {key: [_text(c, "attempt") for c in found] for key, found in checks.items()} == {
        "env0/a.csv": ["1 of 3"],
        "env0/b.csv": ["1 of 3"],
        "env0/c.csv": ["3 of 3"],
    }
    assert dataset_status(instance, spec, layout).failed == {
        "env0/b.csv": failed["env0/b.csv"],
        "env0/c.csv": failed["env0/c.csv"],
    }


def test_a_re_delivery_of_a_file_that_gave_up_gets_three_fresh_attempts(
    fp_prefix: Path,
    instance: dg.DagsterInstance,
    layout: DatasetLayout,
    write_raw: RawWriter,
) -> None:
    spec = _spec(layout, retry_delay_seconds=0)
    defs = _defs(fp_prefix, spec)
    write_raw("env0/b.parquet", b"PAR1", 2.0)
    due = _delivered(layout, instance, spec)
    _missing(layout, due[0])
    first = _run(defs, spec, instance, due)
    assert _failed(first)[1] == 3
    write_raw("env0/b.parquet", b"PAR1!", 5.0)
    due = _delivered(layout, instance, spec)
    _missing(layout, due[0])
    second = _run(defs, spec, instance, due)
    assert len(_events(second, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    failed, attempts = _failed(second)
    assert attempts == 3 and failed["env0/b.parquet"].endswith(GAVE_UP)
    fixed = io.BytesIO()
    pl.DataFrame({"v": [1, 2]}).write_parquet(fixed)
    write_raw("env0/b.parquet", fixed.getvalue(), 7.0)  # fixed upstream
    third = _run(defs, spec, instance, _delivered(layout, instance, spec))
    assert third.success and _sampled(third, spec) == {"env0/b.parquet": 1}
    assert dataset_status(instance, spec, layout).failed == {}


def test_a_file_of_unknown_format_is_not_data_neither_failed_nor_retried(
    fp_prefix: Path, instance: dg.DagsterInstance, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    spec = _spec(layout, retry_delay_seconds=0)
    write_raw("env0/b.xyz", b"hello", 2.0)
    result = _run(_defs(fp_prefix, spec), spec, instance, _delivered(layout, instance, spec))
    assert result.success
    assert _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == spec.sample_key
    ]
    assert "unknown format '.xyz'" in str(event.materialization.metadata["not_sampled"].value)


def test_max_attempts_1_turns_retries_off(
    fp_prefix: Path, instance: dg.DagsterInstance, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    spec = _spec(layout, max_attempts=1)
    write_raw("env0/b.parquet", b"PAR1", 2.0)
    due = _delivered(layout, instance, spec)
    _missing(layout, due[0])
    result = _run(_defs(fp_prefix, spec), spec, instance, due)
    assert _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    failed, attempts = _failed(result)
    assert attempts == 1 and failed["env0/b.parquet"].endswith("bronze file is missing")


def test_a_backfill_run_fails_a_superseded_delivery_it_skips_and_other_runs_do_not(
    fp_prefix: Path, instance: dg.DagsterInstance, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    spec = _spec(layout, retry_delay_seconds=0)
    defs = _defs(fp_prefix, spec)
    write_raw("env0/a.csv", CSV, 1.0)
    (older,) = _delivered(layout, instance, spec)
    write_raw("env0/a.csv", CSV + b"30,n30\n", 2.0)
    (newer,) = _delivered(layout, instance, spec)
    stage_file(layout, newer, 5)  # the later delivery's sample is there already
    skipped = _run(defs, spec, instance, [older])
    assert skipped.success and _sampled(skipped, spec) == {}
    backfill = _run(defs, spec, instance, [older], tags={BACKFILL_TAG: "abcdefgh"})
    assert not backfill.success and _sampled(backfill, spec) == {}
    assert _events(backfill, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    failed, attempts = _failed(backfill)
    assert attempts == 1
    assert failed == {
        "env0/a.csv": f"samples/env0/a_sample.csv already holds the sample of {newer.bronze}, "
        f"a later manifest line; {older.bronze} is not sampled over it "
        "(so not materialized by this backfill)"
    }
