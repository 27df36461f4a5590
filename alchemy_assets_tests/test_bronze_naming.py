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


def test_a_name_too_long_for_the_prefix_is_shortened_uniquely_keeping_its_extension() -> None:
    long_a = "a" * 240 + "-one.csv.gz"
    long_b = "a" * 240 + "-two.csv.gz"
    names = [
        bronze_relpath(f"raw/env0/{n}", WHEN, attempt).rsplit("/", 1)[1]
        for n in (long_a, long_b)
        for attempt in (0, 1)
    ]
    assert len(set(names)) == 4
    for name in names:
        assert len(name.encode()) == 255
        assert name.endswith(".csv.gz")
    assert names[0].startswith("143000--aaaa") and names[1].startswith("143000-001--aaaa")
    assert names[0][:-20] == names[2][:-20]  # same head, told apart by the hash of the name
    assert sorted(names)[:2] == sorted([names[0], names[2]])  # plain names sort first


def test_a_shortened_name_cuts_between_characters() -> None:
    name = bronze_relpath("raw/env0/" + "é" * 125 + "xx.csv", WHEN).rsplit("/", 1)[1]
    assert len(name.encode()) <= 255
    assert name.encode().decode() == name


def test_a_name_that_fits_is_kept_as_it_is() -> None:
    name = "a" * 243 + ".csv"
    assert bronze_relpath(f"raw/env0/{name}", WHEN, 0) == f"bronze/2026/01/18/143000--{name}"
