import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alchemy_assets.manifest_line import (
    LineError,
    ManifestEntry,
    _parse_checked,
    encode_line,
    parse_line,
)

ROOT = Path("/data/sp/gics/1.0")
GOOD = b'{"raw": "raw/env0/data.csv", "bronze": "bronze/2026/01/18/143000--data.csv", "mtime": 1.5}'


def test_a_valid_line_becomes_an_entry_with_its_offset() -> None:
    entry = parse_line(GOOD, ROOT, offset=42)
    assert entry == ManifestEntry(
        "raw/env0/data.csv", "bronze/2026/01/18/143000--data.csv", 1.5, 42
    )
    assert entry.env_path == "env0/data.csv"


def test_encode_line_round_trips_through_parse_line() -> None:
    line = encode_line("raw/env1/ü,[x].csv", "bronze/2026/01/18/143000--ü,[x].csv", 1737200000.123)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    entry = parse_line(line[:-1], ROOT)
    assert (entry.raw, entry.mtime) == ("raw/env1/ü,[x].csv", 1737200000.123)


def test_encode_line_refuses_a_non_finite_mtime() -> None:
    with pytest.raises(ValueError, match="mtime must be finite"):
        encode_line("raw/env0/a", "bronze/a", float("nan"))


def test_extra_keys_are_kept_out_of_the_way() -> None:
    doc = json.loads(GOOD)
    doc["size"] = 10
    doc["writer"] = {"host": "prod-1"}
    assert parse_line(json.dumps(doc).encode(), ROOT).raw == "raw/env0/data.csv"


def test_an_integer_mtime_is_a_number() -> None:
    line = GOOD.replace(b"1.5", b"1737200000")
    assert parse_line(line, ROOT).mtime == 1737200000.0


def test_a_crlf_ending_and_a_bom_are_tolerated() -> None:
    assert parse_line(GOOD + b"\r", ROOT).mtime == 1.5
    assert parse_line(b"\xef\xbb\xbf" + GOOD, ROOT).mtime == 1.5


def test_an_absolute_path_inside_the_root_is_made_relative() -> None:
    line = GOOD.replace(b'"raw/env0', b'"/data/sp/gics/1.0/raw/env0')
    assert parse_line(line, ROOT).raw == "raw/env0/data.csv"


BAD_LINES = {
    "invalid JSON": (b'{"raw": "raw/env0/a.csv", "bronze": ', "invalid JSON: Expecting value"),
    "torn fragment": (b'{"raw": "raw/env0/a.csv", "bro', "invalid JSON: Unterminated string"),
    "NaN": (GOOD.replace(b"1.5", b"NaN"), "mtime must be a finite number, not NaN"),
    "Infinity": (GOOD.replace(b"1.5", b"Infinity"), "mtime must be a finite number, not Infinity"),
    "-Infinity": (GOOD.replace(b"1.5", b"-Infinity"), "not -Infinity"),
    "1e999": (GOOD.replace(b"1.5", b"1e999"), "mtime must be a finite number, got inf"),
    "huge integer": (GOOD.replace(b"1.5", b"9" * 400), "an integer too large"),
    "mtime true": (GOOD.replace(b"1.5", b"true"), "mtime must be a number, got bool"),
    "mtime string": (GOOD.replace(b"1.5", b'"1.5"'), "mtime must be a number, got str"),
    "mtime null": (GOOD.replace(b"1.5", b"null"), "mtime must be a number, got NoneType"),
    "missing mtime": (b'{"raw": "raw/env0/a", "bronze": "bronze/a"}', "missing field mtime"),
    "missing two": (b'{"mtime": 1}', "missing fields raw, bronze"),
    "duplicate key": (GOOD[:-1] + b', "mtime": 2}', "duplicate key 'mtime'"),
    "empty line": (b"", "empty line"),
    "blank line": (b"   ", "empty line"),
    "CR only": (b"\r", "empty line"),
    "not an object": (b"[1, 2]", "expected a JSON object, got list"),
    "a string": (b'"raw"', "expected a JSON object, got str"),
    "raw not a string": (GOOD.replace(b'"raw/env0/data.csv"', b"7"), "raw must be a string"),
    "bronze null": (GOOD.replace(b'"bronze/2026/01/18/143000--data.csv"', b"null"), "bronze must"),
    "not UTF-8": (GOOD.replace(b"data.csv", b"\xff.csv", 1), "not UTF-8"),
    "deep nesting": (b"[" * 100_000, "nested too deeply"),
    "dot-dot": (GOOD.replace(b"raw/env0/data.csv", b"raw/env0/../../x"), "contains '..'"),
    "absolute outside": (GOOD.replace(b'"bronze/', b'"/etc/bronze/'), "outside the dataset root"),
    "NUL": (GOOD.replace(b"data.csv", b"da\\u0000ta.csv", 1), "NUL byte"),
    "lone surrogate": (GOOD.replace(b"data.csv", b"\\ud800.csv", 1), "unpaired surrogate"),
    "raw outside raw/": (GOOD.replace(b'"raw/env0/data.csv"', b'"bronze/x"'), "is not under raw/"),
    "raw without env": (GOOD.replace(b'"raw/env0/data.csv"', b'"raw/x"'), "is not under raw/"),
    "bronze outside": (GOOD.replace(b'"bronze/', b'"samples/'), "is not under bronze/"),
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_each_kind_of_malformed_line_is_rejected_with_its_reason(kind: str) -> None:
    data, reason = BAD_LINES[kind]
    with pytest.raises(LineError) as err:
        parse_line(data, ROOT)
    assert reason in str(err.value)


def test_an_optional_size_is_read_into_the_entry() -> None:
    line = encode_line("raw/env0/a.csv", "bronze/2026/01/18/143000--a.csv", 1.5, size=1024)
    assert json.loads(line)["size"] == 1024
    assert parse_line(line[:-1], ROOT).size == 1024
    assert parse_line(GOOD, ROOT).size is None
    assert b"size" not in encode_line("raw/env0/a.csv", "bronze/a.csv", 1.5)


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        (b"-1", "size must be a non-negative integer, got -1"),
        (b"1.5", "size must be a non-negative integer, got float"),
        (b"10.0", "size must be a non-negative integer, got float"),
        (b'"10"', "size must be a non-negative integer, got str"),
        (b"true", "size must be a non-negative integer, got bool"),
        (b"null", "size must be a non-negative integer, got NoneType"),
        (b"1e999", "size must be a non-negative integer, got float"),
    ],
)
def test_a_malformed_size_rejects_the_line_with_its_reason(size: bytes, reason: str) -> None:
    line = GOOD[:-1] + b', "size": ' + size + b"}"
    with pytest.raises(LineError, match=f"^{re.escape(reason)}$"):
        parse_line(line, ROOT)


def test_a_duplicate_size_rejects_the_line() -> None:
    with pytest.raises(LineError, match=r"^duplicate key 'size'$"):
        parse_line(GOOD[:-1] + b', "size": 1, "size": 2}', ROOT)


def test_an_optional_sha256_is_read_into_the_entry_and_its_delivery() -> None:
    digest = "0123456789abcdef" * 4
    line = encode_line("raw/env0/a.csv", "bronze/a.csv", 1.5, size=3, sha256=digest)
    entry = parse_line(line[:-1], ROOT)
    assert (entry.sha256, entry.delivery.version()) == (digest, f"1.5 size=3 sha256={digest}")
    assert parse_line(GOOD, ROOT).sha256 is None


@pytest.mark.parametrize(
    "value",
    [
        b'"ABCDEF"',
        b'"' + b"A" * 64 + b'"',
        b'"' + b"a" * 65 + b'"',
        b'"' + b"a" * 64 + b'\\n"',
        b"12",
    ],
)
def test_a_malformed_sha256_rejects_the_line(value: bytes) -> None:
    with pytest.raises(LineError, match=r"^sha256 must be 64 lowercase hex digits, got "):
        parse_line(GOOD[:-1] + b', "sha256": ' + value + b"}", ROOT)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["raw/env0/a.csv", "bronze/x.csv", "raw/a.csv", "/abs", "..", "raw/e/\x00"]),
    st.sampled_from(["a" * 64, "A" * 64, "a" * 63, "a" * 64 + "\n", "g" * 64]),
    st.text(max_size=8),
)
_DOCS = st.dictionaries(
    st.sampled_from(["raw", "bronze", "mtime", "size", "sha256", "extra"]), _VALUES, max_size=6
)


def _outcome(parse: Callable[[], ManifestEntry]) -> ManifestEntry | str:
    try:
        return parse()
    except LineError as err:
        return f"error: {err}"


@settings(max_examples=2000, deadline=None)
@given(
    doc=_DOCS,
    duplicate=st.sampled_from([None, "raw", "mtime", "size", "sha256"]),
    mtime=st.sampled_from([None, "1e999", "-1e999", "1e308", "12345678901234567890123", "-0"]),
    junk=st.booleans(),
)
def test_the_fast_path_and_the_checked_path_agree_on_every_line(
    doc: dict[str, object], duplicate: str | None, mtime: str | None, junk: bool
) -> None:
    if mtime is not None:
        doc.pop("mtime", None)
    text = json.dumps(doc, allow_nan=True)
    for name, value in ((duplicate, "1"), ("mtime" if mtime else None, mtime)):
        if name is not None:
            text = (text[:-1] + ", " if text != "{}" else "{") + f'"{name}": {value}}}'
    if junk:
        text = text.replace('": ', '":  ', 1) + " "
    data = text.encode()
    root = Path("/r")
    assert _outcome(lambda: parse_line(data, root, 7)) == _outcome(
        lambda: _parse_checked(data, root, 7)
    )
