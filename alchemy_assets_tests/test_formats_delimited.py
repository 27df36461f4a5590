import io

import pytest

from alchemy_assets.formats.base import Options
from alchemy_assets.formats.delimited import DelimitedReader, describe_delimited, name_dialect
from alchemy_assets.formats.records import Dialect

COMMA = Dialect()


def test_types_are_inferred_from_the_kept_values_only() -> None:
    contents = describe_delimited(b"n,x,flag,word,empty\n1,1.5,true,a,\n-2,3,False,7,\n", COMMA)
    assert contents.columns == (
        ("n", "Int64"),
        ("x", "Float64"),
        ("flag", "Boolean"),
        ("word", "String"),
        ("empty", "String"),
    )
    assert contents.rows == 2


def test_a_column_whose_values_share_no_type_is_string_and_nothing_is_refused() -> None:
    contents = describe_delimited(b"a,b\n1,2\nx,99999999999999999999\n", COMMA)
    assert contents.columns == (("a", "String"), ("b", "String"))


def test_header_names_are_kept_exactly_and_repeats_or_gaps_are_noted() -> None:
    contents = describe_delimited(b"0.00,0.00,,b\n1,2,3,4\n", COMMA)
    assert [name for name, _ in contents.columns] == ["0.00", "0.00", "", "b"]
    assert contents.notes == {"header": "'0.00' 2 times; empty name at column(s) 3"}


def test_ragged_records_are_noted_with_their_line() -> None:
    contents = describe_delimited(b'a,b\n1,2\n"x\ny",2,3\n4\n', COMMA)
    assert contents.notes["ragged"] == (
        "record 2 (line 3) has 3 fields, the header 2; 2 of 3 records differ"
    )
    assert contents.head == (("1", "2"), ("x\ny", "2"), ("4", ""))


def test_a_bom_is_not_part_of_the_first_name_whatever_the_encoding() -> None:
    contents = describe_delimited(b"\xef\xbb\xbfname\nJos\xe9\n", COMMA)
    assert contents.columns == (("name", "String"),)
    assert contents.head == (("José",),)


@pytest.mark.parametrize(
    ("extension", "delimiter"),
    [(".csv", ","), (".txt", ","), (".dat", ","), (".tsv", "\t"), (".tab", "\t"), (".psv", "|")],
)
def test_the_name_implies_the_delimiter_until_one_is_detected(
    extension: str, delimiter: str
) -> None:
    assert name_dialect(extension) == Dialect(delimiter)


def test_a_pipe_file_with_a_quoted_pipe_and_line_break_has_its_own_columns_and_rows() -> None:
    data = (
        b"gics_code|sector_name|as_of\n"
        b'10|"Energy | Oil"|2026-01-01\n'
        b'15|"Materials\nand more"|2026-01-01\n'
        b"20|Industrials|2026-01-01\n"
        b"25|Consumer|2026-01-01\n"
    )
    taken = DelimitedReader().sample(
        io.BytesIO(data), 3, max_bytes=1 << 20, options=Options(extension=".psv")
    )
    assert taken.data == data[: data.index(b"25|")]
    assert taken.contents.rows == 3
    assert [name for name, _ in taken.contents.columns] == ["gics_code", "sector_name", "as_of"]
    assert taken.contents.head[1] == ("15", "Materials\nand more", "2026-01-01")


def test_preamble_lines_are_not_the_header_and_escapes_and_quotes_follow_the_dialect() -> None:
    dialect = Dialect(";", quotechar="'", escapechar="\\", preamble_lines=2)
    data = b"Prices, 2026\r\n(source: ECB)\r\nday;note\r\n1;'a;b'\r\n2;c\\;d\r\n"
    contents = describe_delimited(data, dialect)
    assert contents.columns == (("day", "Int64"), ("note", "String"))
    assert contents.head == (("1", "a;b"), ("2", "c;d"))


def test_a_file_without_a_header_gets_numbered_column_names() -> None:
    contents = describe_delimited(b"1|x\n2|y\n", Dialect("|", header=False))
    assert contents.rows == 2
    assert contents.columns == (("column_1", "Int64"), ("column_2", "String"))
