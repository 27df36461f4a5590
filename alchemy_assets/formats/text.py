"""What text formats share: decoding for display, and column types inferred from kept values.

Types are inferred over the kept values alone, so a file is never refused for its types: a
column whose kept values do not share one type is ``String``. Type names follow polars
(``Int64``, ``Float64``, ``Boolean``, ``String``; ``List``, ``Struct``, ``Null`` for JSON).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from alchemy_assets.formats.records import line_number

_INT = re.compile(r"[+-]?\d+", re.ASCII)
_FLOAT = re.compile(
    r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)",
    re.ASCII | re.IGNORECASE,
)
_BOOL = {"true", "false"}
_INT64 = range(-(2**63), 2**63)


# Byte order marks of UTF-16 and UTF-32 (whose text holds NUL bytes).
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def looks_like_text(head: bytes) -> bool:
    """Whether a file's first bytes can be text: no NUL byte, unless after a UTF-16 or
    UTF-32 byte order mark."""
    return head.startswith(_WIDE_BOMS) or b"\x00" not in head


def cut_note(kept: int, rows: int, max_bytes: int) -> str:
    """The ``cut`` note of a text sample whose records asked for did not all end within the
    read cap."""
    return (
        f"only {kept} of the first {rows} records end within the first {max_bytes} bytes; "
        "the sample holds those"
    )


def decode(data: bytes) -> tuple[str, str | None]:
    """``data`` as text: UTF-8 (a BOM dropped), else cp1252, else Latin-1, and a note if not
    UTF-8 saying where the first byte that is not UTF-8 is."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        where = f"byte {err.start} (line {line_number(data, err.start)})"
        first = f"0x{data[err.start]:02x}"
    body = data.removeprefix(b"\xef\xbb\xbf")
    for encoding in ("cp1252", "latin-1"):
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, f"not UTF-8 ({first} at {where}); decoded as {encoding} for the preview"
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def text_type(values: Iterable[str]) -> str:
    """The narrowest type every non-empty value of a delimited column is written as."""
    kinds = {_text_kind(v) for v in values if v != ""}
    if not kinds:
        return "String"
    if len(kinds) == 1:
        return kinds.pop()
    return "Float64" if kinds == {"Int64", "Float64"} else "String"


def _text_kind(value: str) -> str:
    if _INT.fullmatch(value):
        return "Int64" if int(value) in _INT64 else "String"
    if _FLOAT.fullmatch(value):
        return "Float64"
    if value.lower() in _BOOL:
        return "Boolean"
    return "String"


def json_type(values: Iterable[Any]) -> str:
    """The narrowest type every non-null parsed JSON value of a column has."""
    kinds = {_json_kind(v) for v in values if v is not None}
    if not kinds:
        return "Null"
    if len(kinds) == 1:
        return kinds.pop()
    return "Float64" if kinds == {"Int64", "Float64"} else "String"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Int64" if value in _INT64 else "Float64"
    if isinstance(value, float):
        return "Float64"
    if isinstance(value, list):
        return "List"
    if isinstance(value, dict):
        return "Struct"
    return "String"
