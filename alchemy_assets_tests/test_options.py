import os
from pathlib import Path

import pytest

from alchemy_assets.format_options import FormatOptions, options_for, parse_rules
from alchemy_assets.options import OptionsError, StagingOptions


def test_defaults_apply_without_a_file(tmp_path: Path) -> None:
    assert StagingOptions().load(tmp_path) == StagingOptions()
    assert StagingOptions().sample_rows == 100


def test_options_are_read_from_alchemy_toml(tmp_path: Path) -> None:
    (tmp_path / "alchemy.toml").write_text(
        "sample_rows = 5\nsensor_interval_seconds = 60\nbronze_events = false\n"
    )
    options = StagingOptions().load(tmp_path)
    assert (options.sample_rows, options.sensor_interval_seconds) == (5, 60)
    assert options.bronze_events is False
    assert options.asset_checks is True
    assert options.partitions_per_run == StagingOptions().partitions_per_run


def test_alchemy_toml_overrides_its_base_key_by_key_and_keeps_the_rest(tmp_path: Path) -> None:
    base = StagingOptions(sample_rows=7, partitions_per_run=50, asset_checks=False)
    assert base.load(tmp_path) == base
    (tmp_path / "alchemy.toml").write_text("sample_rows = 5\n")
    assert base.load(tmp_path) == StagingOptions(
        sample_rows=5, partitions_per_run=50, asset_checks=False
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sample_rows = ", "not valid TOML"),
        ("rows = 5", "unknown option(s) rows; known: asset_checks, bronze_events, compare, "),
        ('compare = "md5"', "compare must be one of 'quick', 'checksum', got 'md5'"),
        ("compare = 1", "compare must be one of 'quick', 'checksum', got 1"),
        ("sample_rows = 0", "sample_rows must be an integer from 1 to 1,000,000, got 0"),
        ("sample_rows = true", "sample_rows must be an integer from 1 to 1,000,000, got True"),
        ('sample_rows = "5"', "sample_rows must be an integer from 1 to 1,000,000, got '5'"),
        ("sample_rows = 5.0", "sample_rows must be an integer from 1 to 1,000,000, got 5.0"),
        ("bronze_events = 1", "bronze_events must be true or false, got 1"),
        ("sample_rows = [1]", "sample_rows must be an integer from 1 to 1,000,000, got [1]"),
    ],
)
def test_a_bad_option_names_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "alchemy.toml").write_text(text)
    with pytest.raises(OptionsError) as err:
        StagingOptions().load(tmp_path)
    assert str(err.value).startswith(f"{tmp_path}/alchemy.toml: ")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("key", "minimum", "maximum"),
    [
        ("sample_rows", 1, "1,000,000"),
        ("sensor_interval_seconds", 1, "86,400"),
        ("max_lines_per_tick", 1, "100,000"),
        ("partitions_per_run", 1, "10,000"),
        ("max_attempts", 1, "10"),
        ("retry_delay_seconds", 0, "3,600"),
    ],
)
def test_every_integer_option_is_bounded(
    tmp_path: Path, key: str, minimum: int, maximum: str
) -> None:
    for value in (minimum, int(maximum.replace(",", ""))):
        (tmp_path / "alchemy.toml").write_text(f"{key} = {value}\n")
        assert getattr(StagingOptions().load(tmp_path), key) == value
    for value in (int(maximum.replace(",", "")) + 1, 9223372036854775807, minimum - 1):
        (tmp_path / "alchemy.toml").write_text(f"{key} = {value}\n")
        with pytest.raises(OptionsError) as err:
            StagingOptions().load(tmp_path)
        assert str(err.value) == (
            f"{tmp_path}/alchemy.toml: {key} must be an integer from {minimum} to {maximum}, "
            f"got {value}"
        )


def test_compare_is_read_from_alchemy_toml(tmp_path: Path) -> None:
    assert StagingOptions().compare == "quick"
    (tmp_path / "alchemy.toml").write_text('compare = "checksum"\n')
    assert StagingOptions().load(tmp_path).compare == "checksum"


def test_format_rules_are_read_from_alchemy_toml_after_the_bases(tmp_path: Path) -> None:
    (tmp_path / "alchemy.toml").write_text(
        '[formats]\n"env0/*.txt" = { format = "csv", delimiter = "|", header = true }\n'
    )
    base = StagingOptions(formats=parse_rules({"**": {"encoding": "cp1252"}}))
    options = base.load(tmp_path)
    assert [r.pattern for r in options.formats] == ["**", "env0/*.txt"]
    assert options_for(options.formats, "env0/a.txt") == FormatOptions(
        format="csv", delimiter="|", header=True, encoding="cp1252"
    )


def test_a_bad_format_rule_names_the_file_the_pattern_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "alchemy.toml").write_text('[formats]\n"env0/*.txt" = { delimiter = 7 }\n')
    with pytest.raises(OptionsError) as err:
        StagingOptions().load(tmp_path)
    assert str(err.value) == (
        f'{tmp_path}/alchemy.toml: formats."env0/*.txt": delimiter must be one character, got 7'
    )


def test_options_built_in_code_are_bounded_too() -> None:
    with pytest.raises(ValueError) as err:
        StagingOptions(sample_rows=9223372036854775807)
    assert str(err.value) == (
        "sample_rows must be an integer from 1 to 1,000,000, got 9223372036854775807"
    )


def test_an_alchemy_toml_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "alchemy.toml").mkdir()
    with pytest.raises(OptionsError) as err:
        StagingOptions().load(tmp_path)
    assert str(err.value) == f"{tmp_path}/alchemy.toml: a directory, not a file"


def test_a_dangling_alchemy_toml_link_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "alchemy.toml").symlink_to(tmp_path / "gone.toml")
    with pytest.raises(OptionsError) as err:
        StagingOptions().load(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}/alchemy.toml: a symbolic link to {tmp_path}/gone.toml, which does not exist"
    )


def test_an_alchemy_toml_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "alchemy.toml")
    with pytest.raises(OptionsError) as err:
        StagingOptions().load(tmp_path)
    assert str(err.value) == f"{tmp_path}/alchemy.toml: not a regular file"
