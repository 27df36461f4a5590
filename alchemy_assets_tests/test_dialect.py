"""The dialect of delimited text, detected from a prefix: on real files whose dialect was
stated by eye and confirmed by pandas (``dialect_corpus.py``), and on small texts made for one
feature each."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from alchemy_assets.formats.dialect import DELIMITERS, Dialect, detect_dialect
from alchemy_assets_tests.dialect_corpus import CASES, Case

PREFIXES = (4 << 10, 16 << 10, 64 << 10)


def _table(delimiter: str = ",", rows: int = 30, quotechar: str = '"') -> str:
    """A header and ``rows`` records of text, numbers and dates, some text quoted."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quotechar=quotechar, lineterminator="\n")
    writer.writerow(["ticker", "name", "price", "as_of"])
    for i in range(rows):
        writer.writerow(
            [f"T{i:03d}", f"Company {i}", f"{i * 1.5:.2f}", f"2024-01-{i % 28 + 1:02d}"]
        )
    return out.getvalue()


def _detect(text: str, encoding: str = "utf-8") -> Dialect:
    return detect_dialect(text.encode(encoding), eof=True)


# --- the corpus -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", PREFIXES, ids=["4KiB", "16KiB", "64KiB"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_real_file_comes_out_with_its_true_dialect_from_a_prefix_of_each_size(
    case: Case, size: int
) -> None:
    data = case.data()
    assert detect_dialect(data[:size], eof=len(data) <= size) == case.dialect


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pandas_reads_each_real_file_with_its_stated_dialect_into_the_stated_columns(
    case: Case,
) -> None:
    d = case.dialect
    if d.delimiter is None:
        pytest.skip("read as lines: no delimiter for pandas to be given")
    frame = pd.read_csv(
        io.BytesIO(case.data()),
        sep=d.delimiter,
        quotechar=d.quotechar,
        escapechar=d.escapechar,
        # pandas takes the byte order mark of UTF-16 from the file itself.
        encoding="utf-16" if d.encoding.startswith("utf-16") else d.encoding,
        skiprows=d.preamble_lines,
        header=0 if d.header else None,
        skip_blank_lines=False,
        dtype=str,
        engine="python" if d.delimiter in "^\x01" else "c",
    )
    assert frame.shape[1] == case.columns
    assert (str(frame.columns[0]) if d.header else None) == case.first


def test_the_corpus_has_a_file_of_every_candidate_delimiter_and_of_each_named_case() -> None:
    delimiters = {c.dialect.delimiter for c in CASES}
    assert set(DELIMITERS) | {None} <= delimiters
    assert any(c.dialect.preamble_lines for c in CASES)
    assert any(not c.dialect.header for c in CASES if c.dialect.delimiter)
    assert any(c.dialect.encoding == "utf-16-le" and c.dialect.delimiter == "\t" for c in CASES)
    assert any(c.dialect.quotechar == "'" for c in CASES)


# --- one feature each -----------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", DELIMITERS, ids=repr)
def test_each_candidate_delimiter_is_detected(delimiter: str) -> None:
    d = _detect(_table(delimiter))
    assert (d.delimiter, d.quotechar, d.header, d.preamble_lines) == (delimiter, '"', True, 0)


@pytest.mark.parametrize("quotechar", ['"', "'"])
def test_the_quote_character_is_the_one_that_quotes_fields_holding_the_delimiter(
    quotechar: str,
) -> None:
    q = quotechar
    text = "id,name,city\n" + "".join(f"{i},{q}Doe, J{q},{q}Paris, FR{q}\n" for i in range(20))
    d = _detect(text)
    assert (d.delimiter, d.quotechar, d.escapechar) == (",", quotechar, None)


def test_a_backslash_escaping_quotes_inside_quoted_fields_is_the_escape_character() -> None:
    text = "id,quote,n\n" + "".join(f'{i},"she said \\"hi, you\\"",{i}\n' for i in range(20))
    d = _detect(text)
    assert (d.delimiter, d.quotechar, d.escapechar, d.doublequote) == (",", '"', "\\", False)


def test_doubled_quotes_need_no_escape_character() -> None:
    text = "id,quote,n\n" + "".join(f'{i},"she said ""hi, you""",{i}\n' for i in range(20))
    d = _detect(text)
    assert (d.quotechar, d.escapechar, d.doublequote) == ('"', None, True)


def test_a_title_and_a_blank_line_above_the_header_are_counted_as_preamble_not_header() -> None:
    text = "Table 1: Population by state\n\n" + _table(";")
    d = _detect(text)
    assert (d.delimiter, d.preamble_lines, d.header) == (";", 2, True)


def test_a_title_filled_out_with_empty_fields_is_preamble_too() -> None:
    text = ",,,\nPrices as of 2024-01-31,,,\n" + _table(",")
    assert (_detect(text).preamble_lines, _detect(text).header) == (2, True)


def test_a_header_above_numbers_and_dates_is_a_header() -> None:
    assert _detect(_table("|")).header is True


def test_a_first_record_like_the_rest_is_no_header() -> None:
    body = _table("|").split("\n", 1)[1]
    d = _detect(body)
    assert (d.delimiter, d.header, d.preamble_lines) == ("|", False, 0)


@pytest.mark.parametrize(
    ("encoding", "bom", "name"),
    [
        ("utf-16-le", b"\xff\xfe", "utf-16-le"),
        ("utf-16-be", b"\xfe\xff", "utf-16-be"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "utf-32-le"),
        ("utf-32-be", b"\x00\x00\xfe\xff", "utf-32-be"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
    ],
)
def test_a_byte_order_mark_gives_the_encoding_and_the_text_is_read_in_it(
    encoding: str, bom: bytes, name: str
) -> None:
    data = bom + _table("\t").replace("\n", "\r\n").encode(encoding)
    d = detect_dialect(data, eof=True)
    assert (d.encoding, d.delimiter, d.header) == (name, "\t", True)
    assert d.decode(data).startswith("ticker\tname")


def test_a_utf16_prefix_cut_mid_code_unit_is_still_read_as_utf16() -> None:
    data = b"\xff\xfe" + _table("\t", rows=400).encode("utf-16-le")
    d = detect_dialect(data[:4097], eof=False)
    assert (d.encoding, d.delimiter, d.header) == ("utf-16-le", "\t", True)


def test_bytes_that_are_not_utf8_are_cp1252_else_latin1() -> None:
    text = "name;city\n" + "Renée;Besançon\n" * 5
    assert detect_dialect(text.encode("cp1252"), eof=True).encoding == "cp1252"
    # 0x81 has no cp1252 character: only Latin-1 decodes it.
    assert detect_dialect(text.encode("latin-1") + b"x\x81;y\n", eof=True).encoding == "latin-1"


def test_prose_has_no_delimiter_and_is_read_as_lines() -> None:
    text = (
        "This delivery holds the monthly prices, as agreed with the vendor.\n"
        "Columns are described in the attached PDF; rows are sorted by date.\n"
        "Questions go to the data desk.\n"
        "Thanks, and regards\n"
        "The team | Prices\n"
    )
    assert _detect(text) == Dialect(None, None, None, False, False, 0, "utf-8")


def test_a_prefix_cut_mid_record_and_mid_character_gives_the_dialect_of_the_whole_file() -> None:
    text = "id;ville;note\n" + "".join(f"{i};Besançon;é{'x' * (i % 7)}\n" for i in range(2000))
    data = text.encode()
    whole = detect_dialect(data, eof=True)
    cut = data[:4096]
    cut = cut[: cut.rindex("ç".encode()) + 1]  # ends inside a two-byte character
    assert (
        whole == detect_dialect(cut, eof=False) == Dialect(";", '"', None, True, True, 0, "utf-8")
    )


def test_a_prefix_cut_mid_record_is_not_taken_whole() -> None:
    # Cut inside the last record, which then has fewer fields than the two above.
    data = b"a|b|c\n1|2|3\n4|5|6\n7|8"
    assert detect_dialect(data, eof=False).delimiter == "|"
    assert detect_dialect(data, eof=False) == detect_dialect(data[:-3], eof=True)


def test_one_line_longer_than_the_prefix_is_read_for_its_delimiter() -> None:
    data = "|".join(f"column {i}" for i in range(2000)).encode()
    assert detect_dialect(data[:4096], eof=False).delimiter == "|"


def test_a_single_column_of_numbers_is_a_one_column_file_whose_header_names_it() -> None:
    d = _detect("amount\n" + "".join(f"{i * 3.25}\n" for i in range(30)))
    assert (d.delimiter, d.header, d.preamble_lines) == (",", True, 0)


def test_a_single_column_of_words_is_read_as_lines() -> None:
    assert _detect("".join(f"word number {i} of many\n" for i in range(30))).delimiter is None


def test_a_pipe_inside_a_quoted_field_further_down_does_not_change_the_dialect() -> None:
    rows = [f"{i},Company {i},{i}.5" for i in range(40)]
    rows[35] = '35,"A|B, a pipe and a line\nbreak inside quotes",35.5'
    d = _detect("id,name,price\n" + "\n".join(rows) + "\n")
    assert (d.delimiter, d.quotechar, d.header) == (",", '"', True)


def test_a_pipe_file_with_a_quoted_pipe_and_line_break_keeps_its_pipe() -> None:
    rows = [f"{i}|Company {i}|{i}.5" for i in range(40)]
    rows[30] = '30|"A|B, quoted\nacross two lines"|30.5'
    d = _detect("id|name|price\n" + "\n".join(rows) + "\n")
    assert (d.delimiter, d.quotechar, d.header) == ("|", '"', True)


def test_decimal_commas_in_a_semicolon_file_leave_it_semicolon() -> None:
    text = "Date;Rate;Price\n" + "".join(f"0{i % 9 + 1}-01-13;0,{i}5;81,{i}\n" for i in range(20))
    assert _detect(text).delimiter == ";"


def test_an_empty_file_is_read_as_lines() -> None:
    assert detect_dialect(b"", eof=True).delimiter is None


def test_the_metadata_entry_has_the_design_keys() -> None:
    d = Dialect("|", '"', None, True, True, 2, "cp1252", source="configured")
    assert d.to_dict() == {
        "delimiter": "|",
        "quotechar": '"',
        "escapechar": None,
        "header": True,
        "preamble_lines": 2,
        "encoding": "cp1252",
        "source": "configured",
    }
    assert detect_dialect(b"a,b\n1,2\n", eof=True).source == "detected"


def test_a_headerless_tab_file_whose_text_holds_commas_stays_tab() -> None:
    # Both delimiters split every record in two: the fields they make tell them apart.
    text = "".join(f"Doe{i}, John\t{i}.5\n" for i in range(30))
    assert _detect(text).delimiter == "\t"


def test_a_header_whose_first_name_is_empty_is_a_header_not_preamble() -> None:
    # What pandas' to_csv writes for a column with its index.
    d = _detect(",value\n" + "".join(f"{i},{i * 2.5}\n" for i in range(30)))
    assert (d.delimiter, d.preamble_lines, d.header) == (",", 0, True)


def test_a_title_without_delimiters_above_a_two_column_file_is_preamble() -> None:
    d = _detect("Rates\nday,rate\n" + "".join(f"2024-01-{i + 1:02d},{i}.5\n" for i in range(20)))
    assert (d.delimiter, d.preamble_lines, d.header) == (",", 1, True)
