from decimal import Decimal

import pyarrow as pa

from alchemy_assets.describe import decode, describe_delimited, describe_json_lines, describe_table


def test_types_are_inferred_from_the_kept_values_only() -> None:
    contents = describe_delimited(b"n,x,flag,word,empty\n1,1.5,true,a,\n-2,3,False,7,\n", ",")
    assert contents.columns == (
        ("n", "Int64"),
        ("x", "Float64"),
        ("flag", "Boolean"),
        ("word", "String"),
        ("empty", "String"),
    )
    assert contents.rows == 2


def test_a_column_whose_values_share_no_type_is_string_and_nothing_is_refused() -> None:
    contents = describe_delimited(b"a,b\n1,2\nx,99999999999999999999\n", ",")
    assert contents.columns == (("a", "String"), ("b", "String"))


def test_header_names_are_kept_exactly_and_repeats_or_gaps_are_noted() -> None:
    contents = describe_delimited(b"0.00,0.00,,b\n1,2,3,4\n", ",")
    assert [name for name, _ in contents.columns] == ["0.00", "0.00", "", "b"]
    assert contents.notes == {"header": "'0.00' 2 times; empty name at column(s) 3"}


def test_ragged_records_are_noted_with_their_line() -> None:
    contents = describe_delimited(b'a,b\n1,2\n"x\ny",2,3\n4\n', ",")
    assert contents.notes["ragged"] == (
        "record 2 (line 3) has 3 fields, the header 2; 2 of 3 records differ"
    )
    assert contents.head == (("1", "2"), ("x\ny", "2"), ("4", ""))


def test_text_that_is_not_utf8_is_decoded_as_cp1252_and_the_first_bad_byte_is_named() -> None:
    text, note = decode("id,name\n1,Müller ™\n".encode("cp1252"))
    assert text == "id,name\n1,Müller ™\n"
    assert note == "not UTF-8 (0xfc at byte 11 (line 2)); decoded as cp1252 for the preview"
    assert decode(b"\xef\xbb\xbfa\n") == ("a\n", None)
    assert decode(b"\x81\xe9")[0] == "\x81é"  # not cp1252 either: Latin-1


def test_json_lines_columns_are_the_keys_in_order_of_first_appearance() -> None:
    data = b'{"a": 1, "b": null}\n{"c": [1], "a": 2.5}\n{"b": {"k": true}, "a": 3}\n'
    contents = describe_json_lines(data)
    assert contents.columns == (("a", "Float64"), ("b", "Struct"), ("c", "List"))
    assert contents.head == (("1", "", ""), ("2.5", "", "[1]"), ("3", '{"k": true}', ""))


def test_json_lines_that_are_not_objects_are_noted_not_refused() -> None:
    contents = describe_json_lines(b'{"a": 1}\n[1, 2]\n{"a": \n')
    assert contents.rows == 3
    assert contents.notes["json"].startswith("line 2 is a JSON list, not an object; 2 of 3")


def test_a_table_keeps_its_arrow_types_and_shows_exotic_values_as_text() -> None:
    table = pa.table(
        {
            "d": pa.array([Decimal("1.50")], pa.decimal256(40, 2)),
            "t": pa.array([0], pa.timestamp("us", tz="+05:30")),
            "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
        }
    )
    contents = describe_table(table)
    assert contents.columns == (
        ("d", "decimal256(40, 2)"),
        ("t", "timestamp[us, tz=+05:30]"),
        ("m", "map<string, int64>"),
    )
    assert contents.head == (("1.50", "1970-01-01 05:30:00+05:30", '[["k", 1]]'),)


def test_a_bom_is_not_part_of_the_first_name_whatever_the_encoding() -> None:
    contents = describe_delimited(b"\xef\xbb\xbfname\nJos\xe9\n", ",")
    assert contents.columns == (("name", "String"),)
    assert contents.head == (("José",),)
