"""A sample's first rows as a Markdown table that stays valid for any width or content."""

from __future__ import annotations

import re
from collections.abc import Sequence

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
    names: Sequence[str], rows: Sequence[Sequence[str]], *, max_columns: int = MAX_COLUMNS
) -> str:
    """The first ``max_columns`` columns of ``rows`` under ``names``; a line after the table
    says how many columns were left out."""
    if not names:
        return "_no columns_"
    shown = names[:max_columns]
    lines = [
        "| " + " | ".join(cell(name) for name in shown) + " |",
        "|" + "---|" * len(shown),
        *("| " + " | ".join(cell(value) for value in row[: len(shown)]) + " |" for row in rows),
    ]
    if not rows:
        lines.append("")
        lines.append("_no rows_")
    hidden = len(names) - len(shown)
    if hidden:
        lines.append("")
        lines.append(f"_{hidden:,} more column(s) not shown: {len(names):,} in all_")
    return "\n".join(lines)
