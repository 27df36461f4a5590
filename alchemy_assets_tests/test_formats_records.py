import csv
import io
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alchemy_assets.formats.dialect import Dialect
from alchemy_assets.formats.records import (
    CHUNK,
    RecordError,
    find_records,
    line_number,
    read_up_to,
)

COMMA = Dialect()


def _csv(data: bytes, records: int, cap: int = 1 << 20, chunk: int | None = None) -> bytes:
    stream = _Trickle(data, chunk) if chunk else io.BytesIO(data)
    return find_records(stream, records, COMMA, cap=cap, at_least=2).data


class _Trickle:
    """A stream that hands out at most ``chunk`` bytes per read (record ends fall between)."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._data, self._chunk, self._at = data, chunk, 0

    def read(self, size: int = -1, /) -> bytes:
        size = self._chunk if size < 0 else min(size, self._chunk)
        out = self._data[self._at : self._at + size]
        self._at += len(out)
        return out


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_a_record_ends_at_lf_crlf_or_a_cr_alone(ending: bytes) -> None:
    data = ending.join([b"a,b", b"1,2", b"3,4", b"5,6", b""])
    assert _csv(data, 3) == ending.join([b"a,b", b"1,2", b"3,4", b""])


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_record_ends_split_across_reads_are_found_the_same(chunk: int) -> None:
    data = b'a,b\r\n1,"x\r\n""y"""\r\n2,3\r4,5\n6,7\r\n'
    for records in range(1, 6):
        assert _csv(data, records, chunk=chunk) == _csv(data, records), (chunk, records)


def test_line_endings_and_delimiters_inside_quotes_stay_in_their_field() -> None:
    data = b'a,b\n1,"two\nlines, and ""quotes"""\n2,"cr\ronly"\n3,x\n'
    assert _csv(data, 3) == b'a,b\n1,"two\nlines, and ""quotes"""\n2,"cr\ronly"\n'


def test_a_quote_inside_an_unquoted_field_is_a_literal_character() -> None:
    data = b'a,b\n5" pipe,x\n2,y\n3,z\n'
    assert _csv(data, 3) == b'a,b\n5" pipe,x\n2,y\n'


def test_blank_lines_are_not_records_but_stay_in_the_bytes_between_records() -> None:
    data = b"\na,b\n\n1,2\n\r\n3,4\n\n\n"
    assert _csv(data, 3) == b"\na,b\n\n1,2\n\r\n3,4\n"
    assert _csv(data, 2) == b"\na,b\n\n1,2\n"


def test_json_lines_need_no_quoting_and_whitespace_lines_are_not_records() -> None:
    data = b'{"a": "x,\\"y"}\n  \n{"a": 2}\r\n{"a": 3}'
    prefix = find_records(io.BytesIO(data), 5, None, cap=1 << 20)
    assert (prefix.data, prefix.records) == (data, 3)


def test_the_last_record_may_end_at_the_end_of_the_file_without_a_line_ending() -> None:
    assert _csv(b"a,b\n1,2", 5) == b"a,b\n1,2"
    assert _csv(b'a,b\n1,"2"', 5) == b'a,b\n1,"2"'


def test_an_unterminated_quote_is_refused_naming_its_line() -> None:
    with pytest.raises(RecordError, match=r"opened on line 3 \(byte 10\) runs to the end"):
        _csv(b'a,b\n1,2\n3,"four\n5,6\n', 5)


def test_a_quote_open_at_the_cap_is_refused_and_long_records_keep_what_ended() -> None:
    data = b'a,b\n1,2\n3,"' + b"x" * CHUNK * 3
    with pytest.raises(RecordError, match=r"line 3 \(byte 10\) does not close within the first"):
        _csv(data, 5, cap=CHUNK)
    long_line = b"a,b\n1,2\n3,4\n" + b"x" * CHUNK * 3 + b"\n"
    prefix = find_records(io.BytesIO(long_line), 5, COMMA, cap=CHUNK, at_least=2)
    assert (prefix.data, prefix.records, prefix.cut_at_cap) == (b"a,b\n1,2\n3,4\n", 3, True)
    with pytest.raises(RecordError, match="the record on line 2 does not end within the first"):
        find_records(io.BytesIO(b"a,b\n" + b"x" * CHUNK * 2), 5, COMMA, cap=CHUNK, at_least=2)


def test_only_what_the_records_need_is_read() -> None:
    stream = io.BytesIO(b"a,b\n" + b"1,2\n" * 1_000_000)
    find_records(stream, 101, COMMA, cap=1 << 26)
    assert stream.tell() == CHUNK


def test_line_numbers_count_each_kind_of_line_ending_once() -> None:
    assert line_number(b"a\r\nb\rc\nd", 7) == 4
    assert line_number(b"abc", 0) == 1


def _reference(data: bytes, records: int, delimiter: str, quotechar: str = '"') -> bytes:
    """The prefix through ``records`` non-blank records, as the csv module delimits them."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(data.decode("latin-1"), newline=""):
            consumed.append(line)
            yield line

    kept, end = 0, 0
    for row in csv.reader(lines(), delimiter=delimiter, quotechar=quotechar):
        if row:
            kept += 1
            end = sum(len(line) for line in consumed)
            if kept == records:
                break
    return data[:end]


def _rows(text: str, delimiter: str, quotechar: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar))


def _quote_open_at_the_end(data: bytes, delimiter: str, quotechar: str) -> bool:
    """Whether the csv module ends ``data`` inside a quoted field: then a delimiter appended
    joins the last field instead of starting a field or a record."""
    text = data.decode("latin-1")
    before = _rows(text, delimiter, quotechar)
    after = _rows(text + delimiter + "Z", delimiter, quotechar)
    return len(before) == len(after) and bool(before) and len(before[-1]) == len(after[-1])


DELIMITERS = [",", ";", "|", "\t", "^", "\x01"]


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [b"a", b",", b";", b"|", b"\t", b"^", b"\x01", b'"', b"'", b"\r", b"\n", b" ", b"\xe9"]
        ),
        max_size=60,
    ),
    st.integers(1, 6),
    st.sampled_from(DELIMITERS),
    st.sampled_from(['"', "'"]),
    st.sampled_from([1, 3, 64]),
)
def test_records_end_where_the_csv_module_ends_them_for_every_delimiter_and_quote(
    parts: list[bytes], records: int, delimiter: str, quotechar: str, chunk: int
) -> None:
    data = b"".join(parts)
    dialect = Dialect(delimiter, quotechar)
    try:
        found = find_records(_Trickle(data, chunk), records, dialect, cap=1 << 20).data
    except RecordError:
        assert _quote_open_at_the_end(data, delimiter, quotechar)  # the only thing refused
        return
    assert found == _reference(data, records, delimiter, quotechar)


def test_a_quote_opens_a_field_only_after_a_delimiter_that_is_not_escaped() -> None:
    dialect = Dialect("|", escapechar="\\")
    data = b'a|b\nx\\|"y\n1|"2\n3"\n'
    prefix = find_records(io.BytesIO(data), 3, dialect, cap=1 << 20)
    assert prefix.data == data  # the quote after the escaped | is a literal character


def test_an_escaped_line_ending_stays_in_its_field_as_the_csv_module_reads_it() -> None:
    dialect = Dialect(";", escapechar="\\")
    data = b"a;b\n1;x\\\ny\n2;z\n"
    assert find_records(io.BytesIO(data), 2, dialect, cap=1 << 20).data == b"a;b\n1;x\\\ny\n"
    rows = list(csv.reader(io.StringIO(data.decode(), newline=""), delimiter=";", escapechar="\\"))
    assert rows[1] == ["1", "x\ny"]


def test_preamble_lines_are_skipped_as_lines_even_with_an_odd_quote() -> None:
    dialect = Dialect(preamble_lines=2)
    data = b'Report "draft\r\n\rid,v\n1,2\n3,4\n'
    prefix = find_records(_Trickle(data, 1), 2, dialect, cap=1 << 20)
    assert (prefix.data, prefix.records) == (b'Report "draft\r\n\rid,v\n1,2\n', 2)
    only_preamble = find_records(io.BytesIO(b"title\nnote\n"), 2, Dialect(preamble_lines=3), cap=99)
    assert (only_preamble.data, only_preamble.records) == (b"", 0)


def test_no_quote_character_means_quotes_are_plain_characters() -> None:
    data = b'a\tb\n"x\ty\n"\tz\n'
    prefix = find_records(io.BytesIO(data), 3, Dialect("\t", quotechar=None), cap=1 << 20)
    assert prefix.data == data and prefix.records == 3


def test_a_dialect_needs_distinct_single_characters() -> None:
    with pytest.raises(ValueError, match="delimiter, quotechar and escapechar must differ"):
        Dialect("|", quotechar="|")
    with pytest.raises(ValueError, match="delimiter must be one ASCII character"):
        Dialect("¦")


def test_read_up_to_gathers_short_reads() -> None:
    assert read_up_to(_Trickle(b"abcdefgh", 3), 7) == b"abcdefg"
    assert read_up_to(io.BytesIO(b"ab"), 7) == b"ab"


def test_utf16_json_lines_are_refused_because_their_bytes_cannot_be_cut_at_line_endings() -> None:
    data = '{"a": 1}\n{"a": 2}\n'.encode("utf-16")
    with pytest.raises(RecordError, match=r"UTF-16 text \(byte order mark FF FE\): JSON Lines"):
        find_records(io.BytesIO(data), 2, None, cap=1 << 20)


def test_a_dialect_without_delimiter_cuts_non_blank_lines_and_ignores_quotes() -> None:
    data = b'A "quoted\n\n  \nline"\nthird\n'
    prefix = find_records(io.BytesIO(data), 2, Dialect(None, None, header=False), cap=1 << 20)
    assert prefix.data == b'A "quoted\n\n  \nline"\n'
    assert prefix.records == 2


def test_without_doublequote_a_second_quote_after_the_closing_one_does_not_reopen() -> None:
    data = b'a,b\n"x""\ny",1\nz,2\n'
    plain = Dialect(",", doublequote=False, escapechar="\\")
    assert find_records(io.BytesIO(data), 2, plain, cap=1 << 20).data == b'a,b\n"x""\n'
    doubled = Dialect(",")
    assert find_records(io.BytesIO(data), 2, doubled, cap=1 << 20).data == b'a,b\n"x""\ny",1\n'


def test_a_semicolon_file_is_cut_by_its_dialect_where_a_comma_reading_opens_a_quote() -> None:
    data = b'id;note\n1;a,"b\n2;c\n3;d"\n'
    semicolon = find_records(io.BytesIO(data), 3, Dialect(";"), cap=1 << 20)
    assert semicolon.data == b'id;note\n1;a,"b\n2;c\n'
    comma = find_records(io.BytesIO(data), 3, Dialect(","), cap=1 << 20)
    assert comma.data == data  # the comma reading keeps "b\n2;c\n3;d" as one field


def test_a_first_line_whose_ending_lies_past_the_cap_is_not_said_to_have_none() -> None:
    data = b'{"a": "' + b"x" * CHUNK * 2 + b'"}\n{"a": 1}\n'
    with pytest.raises(RecordError) as refused:
        find_records(io.BytesIO(data), 5, None, cap=CHUNK)
    assert str(refused.value) == (
        f"the record on line 1 does not end within the first {CHUNK} bytes, the read cap: "
        "its line ending, if it has one, is past them"
    )
