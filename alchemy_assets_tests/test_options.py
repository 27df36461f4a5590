from pathlib import Path

import pytest

from alchemy_assets.options import OptionsError, StagingOptions


def test_defaults_apply_without_a_file(tmp_path: Path) -> None:
    assert StagingOptions.load(tmp_path) == StagingOptions()
    assert StagingOptions().sample_rows == 100


def test_options_are_read_from_alchemy_toml(tmp_path: Path) -> None:
    (tmp_path / "alchemy.toml").write_text(
        "sample_rows = 5\nsensor_interval_seconds = 60\nbronze_events = false\n"
    )
    options = StagingOptions.load(tmp_path)
    assert (options.sample_rows, options.sensor_interval_seconds) == (5, 60)
    assert options.bronze_events is False
    assert options.asset_checks is True
    assert options.partitions_per_run == StagingOptions().partitions_per_run


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sample_rows = ", "not valid TOML"),
        ("rows = 5", "unknown option(s) rows; known: asset_checks, bronze_events, max_lines_"),
        ("sample_rows = 0", "sample_rows must be a positive integer, got 0"),
        ("sample_rows = true", "sample_rows must be a positive integer, got True"),
        ('sample_rows = "5"', "sample_rows must be a positive integer, got '5'"),
        ("bronze_events = 1", "bronze_events must be true or false, got 1"),
    ],
)
def test_a_bad_option_names_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "alchemy.toml").write_text(text)
    with pytest.raises(OptionsError) as err:
        StagingOptions.load(tmp_path)
    assert str(err.value).startswith(f"{tmp_path}/alchemy.toml: ")
    assert message in str(err.value)
