from datetime import UTC, datetime, timedelta, timezone

import pytest

from alchemy_assets.bronze_naming import bronze_relpath, day_of

WHEN = datetime(2026, 1, 18, 14, 30, 0, tzinfo=UTC)


def test_the_env_folder_is_dropped_and_the_utc_date_and_time_added() -> None:
    assert bronze_relpath("raw/env0/data.csv", WHEN) == "bronze/2026/01/18/143000--data.csv"


def test_sub_folders_are_dropped_too() -> None:
    assert bronze_relpath("raw/env1/a/b/file.parquet", WHEN) == (
        "bronze/2026/01/18/143000--file.parquet"
    )


def test_local_times_are_converted_to_utc() -> None:
    local = WHEN.astimezone(timezone(timedelta(hours=-5)))
    assert bronze_relpath("raw/env0/data.csv", local) == "bronze/2026/01/18/143000--data.csv"
    assert day_of(local) == "2026-01-18"


def test_same_name_in_the_same_second_gets_distinct_names_that_sort_by_time() -> None:
    names = [bronze_relpath("raw/env0/data.csv", WHEN, attempt) for attempt in range(12)]
    assert len(set(names)) == 12
    assert names[1] == "bronze/2026/01/18/143000-001--data.csv"
    next_second = bronze_relpath("raw/env0/data.csv", WHEN + timedelta(seconds=1))
    previous_second = bronze_relpath("raw/env0/data.csv", WHEN - timedelta(seconds=1))
    assert sorted([next_second, *reversed(names), previous_second]) == [
        previous_second,
        *names,
        next_second,
    ]


def test_a_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 0, got -1"):
        bronze_relpath("raw/env0/data.csv", WHEN, -1)
