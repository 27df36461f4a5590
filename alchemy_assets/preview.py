"""A sample's first rows as a Markdown table that stays valid for any width or content."""

from __future__ import annotations

import re
from collections.abc import Sequence

from alchemy_assets.metadata_bounds import MAX_PREVIEW_BYTES, json_size

MAX_COLUMNS = 30
MAX_CHARS = 60
_BREAKS = re.compile(r"\r\n|\r|\n")
# Characters that Markdown would read as table syntax, emphasis, code, links or HTML.
_SPECIAL = re.compile(r"([\\|`*_\[\]<>#~])")


def cell(text: str, max_chars: int = MAX_CHARS) -> str:
    """``text`` on one line, cut to ``max_chars`` characters, with Markdown syntax escaped."""
    flat = _BREAKS.sub(" ", text)
    if len(flat) > max_chars:
        flat = flat[: max_chars - 1] + "…"
    return _SPECIAL.sub(r"\\\1", flat)


def markdown_table(
    names: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    max_columns: int = MAX_COLUMNS,
    max_bytes: int = MAX_PREVIEW_BYTES,
) -> str:
    """The first ``max_columns`` columns of ``rows`` under ``names``; a line after the table
    says how many columns were left out. Rows are left out from the end while the table
    takes more than ``max_bytes`` in a stored event (a line says how many are shown)."""
    if not names:
        return "_no columns_"
    shown = names[:max_columns]
    header = [
        "| " + " | ".join(cell(name) for name in shown) + " |",
        "|" + "---|" * len(shown),
    ]
    body = ["| " + " | ".join(cell(value) for value in row[: len(shown)]) + " |" for row in rows]
    hidden = len(names) - len(shown)
    more = [f"_{hidden:,} more column(s) not shown: {len(names):,} in all_"] if hidden else []
    kept = len(body)
    while True:
        lines = [*header, *body[:kept]]
        if not rows:
            lines += ["", "_no rows_"]
        elif kept < len(body):
            lines += ["", f"_first {kept:,} of {len(body):,} rows shown_"]
        if more:
            lines += ["", *more]
        text = "\n".join(lines)
        if kept == 0 or json_size(text) <= max_bytes:
            return text
        kept -= 1
