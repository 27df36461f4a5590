from alchemy_assets.formats.jsonl import describe_json_lines


def test_json_lines_columns_are_the_keys_in_order_of_first_appearance() -> None:
    data = b'{"a": 1, "b": null}\n{"c": [1], "a": 2.5}\n{"b": {"k": true}, "a": 3}\n'
    contents = describe_json_lines(data)
    assert contents.columns == (("a", "Float64"), ("b", "Struct"), ("c", "List"))
    assert contents.head == (("1", "", ""), ("2.5", "", "[1]"), ("3", '{"k": true}', ""))


def test_json_lines_that_are_not_objects_are_noted_not_refused() -> None:
    contents = describe_json_lines(b'{"a": 1}\n[1, 2]\n{"a": \n')
    assert contents.rows == 3
    assert contents.notes["json"].startswith("line 2 is a JSON list, not an object; 2 of 3")
