import pytest
from dagster._core.definitions.partitions.utils.base import (
    raise_error_on_invalid_partition_key_substring,
)
from hypothesis import given
from hypothesis import strategies as st

from alchemy_assets.partition_keys import decode_key, encode_key, raw_relpath


def test_a_plain_path_is_its_own_key() -> None:
    assert encode_key("env0/data.csv") == "env0/data.csv"
    assert raw_relpath("env0/data.csv") == "raw/env0/data.csv"


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("env0/a,b.csv", "env0/a%2Cb.csv"),
        ("env0/[x].csv", "env0/%5Bx%5D.csv"),
        ("env0/100%.csv", "env0/100%25.csv"),
        ("env0/a...b.csv", "env0/a%2E%2E%2Eb.csv"),
        ("env0/tab\there.csv", "env0/tab%09here.csv"),
        ("env0/données.csv", "env0/données.csv"),
    ],
)
def test_characters_dagster_or_its_ui_cannot_take_are_percent_encoded(path: str, key: str) -> None:
    assert encode_key(path) == key
    assert decode_key(key) == path


@given(st.text(min_size=1))
def test_every_path_maps_to_a_valid_key_and_back(path: str) -> None:
    key = encode_key(path)
    raise_error_on_invalid_partition_key_substring([key])
    assert not {",", "[", "]"} & set(key)
    assert decode_key(key) == path
