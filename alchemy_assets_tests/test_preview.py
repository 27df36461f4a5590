import re

from alchemy_assets.metadata_bounds import json_size
from alchemy_assets.preview import MAX_COLUMNS, cell, markdown_table


def _cells(line: str) -> list[str]:
    """The cells of one Markdown table line, split at pipes that are not escaped."""
    assert line.startswith("| ") or line.startswith("|-"), line
    return re.split(r"(?<!\\)\|", line)[1:-1]


def test_the_preview_is_a_markdown_table_of_the_rows_given() -> None:
    rows = [(str(i), f"n{i}") for i in range(20)]
    lines = markdown_table(["id", "name"], rows).splitlines()
    assert lines[0] == "| id | name |"
    assert lines[1] == "|---|---|"
    assert lines[2:] == [f"| {i} | n{i} |" for i in range(20)]


def test_without_columns_or_rows_it_says_so() -> None:
    assert markdown_table([], []) == "_no columns_"
    assert markdown_table(["a"], []).splitlines() == ["| a |", "|---|", "", "_no rows_"]


def test_pipes_line_breaks_and_markdown_syntax_stay_inside_their_cell() -> None:
    text = markdown_table(["a", "b|c"], [("x|y\r\nz\rw\nv", "*bold* `code` <b> [l](u) _i_ \\")])
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0] == "| a | b\\|c |"
    assert lines[2] == ("| x\\|y z w v | \\*bold\\* \\`code\\` \\<b\\> \\[l\\](u) \\_i\\_ \\\\ |")
    assert all(len(_cells(line)) == 2 for line in lines)


def test_a_wide_table_shows_the_first_columns_and_says_how_many_more() -> None:
    names = [f"c{i}" for i in range(2500)]
    text = markdown_table(names, [tuple(str(i) for i in range(2500))] * 3)
    lines = text.splitlines()
    assert all(len(_cells(line)) == MAX_COLUMNS for line in lines[:5])
    assert lines[-1] == f"_{2500 - MAX_COLUMNS:,} more column(s) not shown: 2,500 in all_"


def test_long_values_are_cut_with_an_ellipsis() -> None:
    assert cell("x" * 100, max_chars=10) == "x" * 9 + "…"
    assert cell("short") == "short"


def test_a_table_too_big_for_an_event_keeps_its_first_rows_and_says_how_many() -> None:
    rows = [tuple("é" * 60 for _ in range(30))] * 20
    text = markdown_table([f"c{i}" for i in range(30)], rows, max_bytes=64 * 1024)
    assert json_size(text) <= 64 * 1024
    lines = text.splitlines()
    kept = len([line for line in lines if line.startswith("| é")])
    assert 0 < kept < 20 and lines[-1] == f"_first {kept} of 20 rows shown_"
