import polars as pl

from alchemy_assets.defs.metadata import preview_markdown


def test_the_preview_is_a_markdown_table_of_at_most_20_rows() -> None:
    frame = pl.DataFrame({"id": list(range(50)), "name": [f"n{i}" for i in range(50)]})
    text = preview_markdown(frame)
    lines = text.splitlines()
    assert lines[0].startswith("|") and "id" in lines[0] and "name" in lines[0]
    assert set(lines[1]) <= {"|", "-", ":", " "}
    assert len(lines) == 2 + 20
    assert "n19" in text and "n20" not in text


def test_a_frame_without_columns_says_so() -> None:
    assert preview_markdown(pl.DataFrame()) == "_no columns_"


def test_pipes_and_line_breaks_in_text_stay_inside_their_cell() -> None:
    text = preview_markdown(pl.DataFrame({"a": [1], "b": ["x|y\nz"]}))
    assert text.splitlines()[2] == "| 1 | x\\|y z |"
