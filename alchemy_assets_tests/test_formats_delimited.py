import io

from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats.base import Options, Taken
from alchemy_assets.formats.delimited import DelimitedReader, describe_delimited
from alchemy_assets.formats.dialect import Dialect

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


def _take(data: bytes, rows: int, extension: str = ".csv", **configured: object) -> Taken:
    options = Options(extension=extension, configured=FormatOptions(**configured))  # type: ignore[arg-type]
    return DelimitedReader().sample(io.BytesIO(data), rows, max_bytes=1 << 20, options=options)


GICS = (
    b"gics_code|sector_name|industry_group|as_of\n"
    b'10|"Energy | Oil"|Energy|2026-01-01\n'
    b'15|"Materials\nand more"|Materials|2026-01-01\n'
    b"20|Industrials|Capital Goods|2026-01-01\n"
    b"25|Consumer|Autos|2026-01-01\n"
)


def test_a_pipe_file_named_csv_has_its_real_columns_and_rows_with_a_quoted_line_break() -> None:
    taken = _take(GICS, 100)
    assert taken.data == GICS
    assert taken.contents.rows == 4
    assert [n for n, _ in taken.contents.columns] == [
        "gics_code",
        "sector_name",
        "industry_group",
        "as_of",
    ]
    assert taken.contents.head[1][1] == "Materials\nand more"
    assert taken.contents.metadata["dialect"] == {
        "delimiter": "|",
        "quotechar": '"',
        "escapechar": None,
        "header": True,
        "preamble_lines": 0,
        "encoding": "utf-8",
        "source": "detected",
    }


def test_a_semicolon_file_whose_comma_reading_opens_a_quote_mid_file_is_cut_at_its_records() -> (
    None
):
    lines = [b"id;note"] + [b"%d;plain %d" % (i, i) for i in range(8)]
    lines[3] = b'2;says a,"quote'  # read with commas, a quote opens here and runs on
    data = b"\n".join(lines) + b"\n"
    taken = _take(data, 4)
    assert taken.data == b"\n".join(lines[:5]) + b"\n"
    assert taken.contents.rows == 4
    assert taken.contents.head[2] == ("2", 'says a,"quote')


def test_a_txt_with_a_preamble_keeps_it_and_takes_the_header_below_it() -> None:
    data = b"Prices, 2026\n(source: ECB)\nday\tvalue\tunit\n1\t2.5\tEUR\n2\t3.5\tEUR\n3\t4\tEUR\n"
    taken = _take(data, 2, ".txt")
    assert taken.data == data[: data.index(b"3\t")]
    assert taken.contents.columns == (("day", "Int64"), ("value", "Float64"), ("unit", "String"))
    assert taken.contents.metadata["dialect"]["preamble_lines"] == 2  # type: ignore[index,call-overload]


def test_text_without_a_consistent_delimiter_is_its_first_non_blank_lines() -> None:
    data = b"This delivery holds the sectors.\n\nSee gics.txt; columns are, in order:\ncode\n"
    taken = _take(data, 2, ".txt")
    assert taken.data == data[: data.index(b"code")]
    assert taken.contents.rows == 2
    assert taken.contents.columns == (("line", "String"),)
    assert taken.contents.head == (
        ("This delivery holds the sectors.",),
        ("See gics.txt; columns are, in order:",),
    )
    assert taken.contents.metadata["dialect"]["delimiter"] is None  # type: ignore[index,call-overload]


def test_utf16le_tab_text_is_cut_as_text_and_kept_in_its_own_bytes() -> None:
    text = 'name\tcity\r\nJosé\t"Zürich\r\nOst"\r\nÅsa\tMalmö\r\n李\t北京\r\n'
    data = b"\xff\xfe" + text.encode("utf-16-le")
    taken = _take(data, 2, ".txt")
    assert taken.data == data[: len(b"\xff\xfe" + text[: text.index("李")].encode("utf-16-le"))]
    assert taken.contents.rows == 2
    assert [n for n, _ in taken.contents.columns] == ["name", "city"]
    assert taken.contents.head == (("José", "Zürich\r\nOst"), ("Åsa", "Malmö"))
    assert taken.contents.metadata["dialect"]["encoding"] == "utf-16-le"  # type: ignore[index,call-overload]


def test_a_configured_delimiter_beats_the_detected_one_and_says_so() -> None:
    data = b"id,note,flag\n1,a;b,yes\n2,c;d,no\n3,e;f,yes\n"
    detected = _take(data, 5)
    assert [n for n, _ in detected.contents.columns] == ["id", "note", "flag"]
    configured = _take(data, 5, delimiter=";")
    assert configured.contents.head[0] == ("1,a", "b,yes")
    dialect = configured.contents.metadata["dialect"]
    assert dialect["delimiter"] == ";" and dialect["source"] == "configured"  # type: ignore[index,call-overload]


def test_configured_formats_tsv_and_lines_set_the_delimiter() -> None:
    data = b"a,b\tc\n1,2\t3\n"
    assert [n for n, _ in _take(data, 5, format="tsv").contents.columns] == ["a,b", "c"]
    lines = _take(data, 5, format="lines").contents
    assert (lines.rows, lines.columns) == (2, (("line", "String"),))
    csv_ = _take(data, 5, format="csv").contents
    assert csv_.metadata["dialect"]["source"] == "detected"  # type: ignore[index,call-overload]


def test_one_column_of_text_named_csv_is_a_column_under_its_header_and_as_txt_lines() -> None:
    data = b"ticker\nAAPL\nMSFT\nNVDA\n"
    named = _take(data, 2).contents
    assert (named.rows, named.columns, named.head) == (
        2,
        (("ticker", "String"),),
        (("AAPL",), ("MSFT",)),
    )
    lines = _take(data, 2, ".txt").contents
    assert (lines.rows, lines.columns, lines.head) == (
        2,
        (("line", "String"),),
        (("ticker",), ("AAPL",)),
    )
