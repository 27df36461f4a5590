import pytest

from alchemy_assets.schema_drift import (
    Schema,
    SchemaDiff,
    SchemaError,
    check_drift,
    diff_schemas,
    prevailing_schema,
    schema_of,
)

AB: Schema = (("a", "Int64"), ("b", "String"))


def test_a_diff_lists_added_removed_and_retyped_columns() -> None:
    new: Schema = (("a", "String"), ("c", "Float64"))
    diff = diff_schemas(AB, new)
    assert diff == SchemaDiff(
        added=[{"name": "c", "type": "Float64"}],
        removed=[{"name": "b", "type": "String"}],
        retyped=[{"name": "a", "old": "Int64", "new": "String"}],
    )
    assert diff.summary() == "+1 added, -1 removed, ~1 retyped"
    assert diff.markdown().splitlines() == [
        "| change | column | was | now |",
        "|---|---|---|---|",
        "| added | `c` | | Float64 |",
        "| removed | `b` | String | |",
        "| retyped | `a` | Int64 | String |",
    ]


def test_a_column_that_only_moved_is_no_change() -> None:
    diff = diff_schemas(AB, (("b", "String"), ("a", "Int64")))
    assert not diff.changed
    assert (diff.summary(), diff.markdown()) == ("no change", "_no change_")


def test_the_prevailing_schema_is_strictly_the_most_common() -> None:
    other: Schema = (("a", "String"),)
    assert prevailing_schema([AB, other, AB]) == (AB, 2)
    assert prevailing_schema([AB, other]) == (None, 0)
    assert prevailing_schema([]) == (None, 0)
    assert prevailing_schema([(("b", "String"), ("a", "Int64")), AB]) == (
        (("b", "String"), ("a", "Int64")),
        2,
    )


def test_a_first_sample_like_the_others_passes() -> None:
    drift = check_drift(AB, None, [AB, AB])
    assert drift.passed
    assert drift.description() == "schema unchanged; no previous sample of this partition"


def test_a_sample_unlike_its_previous_one_and_the_prevailing_one_fails() -> None:
    new: Schema = (("a", "Int64"),)
    drift = check_drift(new, AB, [AB, AB, new])
    assert not drift.passed
    assert drift.description() == (
        "since the previous sample: -1 removed; "
        "against the prevailing schema (2 of 3 partitions): -1 removed"
    )


def test_without_a_prevailing_schema_only_the_previous_sample_counts() -> None:
    drift = check_drift(AB, AB, [AB, (("x", "Int64"),)])
    assert drift.passed and drift.prevailing is None
    assert drift.description() == "schema unchanged; no prevailing schema among 2 partition(s)"


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([("a", "")], "column 'a' of type '' is not a named, typed column"),
        ([(1, "Int64")], "column 1 of type 'Int64' is not a named, typed column"),
        ([("a", None)], "column 'a' of type None is not a named, typed column"),
    ],
)
def test_a_malformed_schema_is_refused_with_the_reason(
    columns: list[tuple[object, object]], message: str
) -> None:
    with pytest.raises(SchemaError) as err:
        schema_of(columns)
    assert str(err.value) == message


def test_repeated_and_empty_header_names_are_compared_by_position_among_their_namesakes() -> None:
    old = schema_of([("a", "Int64"), ("a", "Int64"), ("", "String")])
    new = schema_of([("a", "Int64"), ("a", "Float64"), ("", "String"), ("", "Int64")])
    diff = diff_schemas(old, new)
    assert diff.retyped == [{"name": "a #2", "old": "Int64", "new": "Float64"}]
    assert diff.added == [{"name": "(no name) #2", "type": "Int64"}]
    assert diff.removed == []
