from alchemy_assets.formats.delimited import describe_delimited


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


def test_a_bom_is_not_part_of_the_first_name_whatever_the_encoding() -> None:
    contents = describe_delimited(b"\xef\xbb\xbfname\nJos\xe9\n", ",")
    assert contents.columns == (("name", "String"),)
    assert contents.head == (("José",),)
