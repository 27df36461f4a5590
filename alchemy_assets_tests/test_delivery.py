import io

import pytest

from alchemy_assets.delivery import Delivery, sha256_of

SHA = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "delivery",
    [
        Delivery(1737200000.5),
        Delivery(1737200000.123456789, 198),
        Delivery(1.0, 0, SHA),
        Delivery(2.5, 7, None, "a1b2c3d4e5f6"),
        Delivery(-1.5, 7, SHA, "a1b2c3d4e5f6"),
    ],
)
def test_a_version_parses_back_to_its_delivery_exactly(delivery: Delivery) -> None:
    assert Delivery.parse(delivery.version()) == delivery


def test_a_bare_mtime_is_the_version_samples_recorded_before_sizes() -> None:
    assert Delivery(1737200000.5).version() == "1737200000.5"
    assert Delivery.parse("1737200000.5") == Delivery(1737200000.5)


@pytest.mark.parametrize(
    "version",
    ["", "x", "1.5 size=", "1.5 size=-1", "1.5 size=1 size=2", "1.5 sha256=ab", "1.5 z=1"],
)
def test_anything_else_is_not_a_version(version: str) -> None:
    with pytest.raises(ValueError):
        Delivery.parse(version)


def test_the_size_counts_only_where_both_sides_have_it() -> None:
    assert Delivery(1.0, 5).same_as(Delivery(1.0, 5))
    assert not Delivery(1.0, 6).same_as(Delivery(1.0, 5))
    assert Delivery(1.0).same_as(Delivery(1.0, 5))
    assert Delivery(1.0, 5).same_as(Delivery(1.0))
    assert not Delivery(2.0, 5).same_as(Delivery(1.0, 5))


def test_a_checksum_on_the_manifest_side_must_be_the_one_the_sample_holds() -> None:
    assert Delivery(1.0, 5, SHA).same_as(Delivery(1.0, 5, SHA))
    assert not Delivery(1.0, 5, SHA).same_as(Delivery(1.0, 5))
    assert not Delivery(1.0, 5, SHA).same_as(Delivery(1.0, 5, "f" * 64))
    assert Delivery(1.0, 5).same_as(Delivery(1.0, 5, SHA))


def test_configured_format_options_must_match_on_both_sides() -> None:
    assert not Delivery(1.0, 5, None, "aa").same_as(Delivery(1.0, 5))
    assert not Delivery(1.0, 5).same_as(Delivery(1.0, 5, None, "aa"))
    assert Delivery(1.0, 5, None, "aa").same_as(Delivery(1.0, 5, None, "aa"))


def test_each_change_says_what_changed() -> None:
    assert Delivery(1.0).change_from(None) == "new file"
    assert Delivery(2.0).change_from(Delivery(1.0)) == "mtime changed from 1.0 to 2.0"
    assert Delivery(1.0, 27).change_from(Delivery(1.0, 21)) == (
        "size changed from 21 to 27 bytes (same mtime 1.0)"
    )
    assert Delivery(1.0, 5, None, "bb").change_from(Delivery(1.0, 5, None, "aa")) == (
        "configured format options changed (fingerprint aa to bb)"
    )
    assert Delivery(1.0, 5, "b" * 64).change_from(Delivery(1.0, 5, "a" * 64)) == (
        "content changed: sha256 aaaaaaaaaaaa… to bbbbbbbbbbbb… (same mtime 1.0 and size)"
    )


def test_the_checksum_of_a_stream_is_its_sha256() -> None:
    assert sha256_of(io.BytesIO(b"abc")) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
