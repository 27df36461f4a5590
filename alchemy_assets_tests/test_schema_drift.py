import pytest

from alchemy_assets.schema_drift import (
    MAX_NAME_CHARS,
    Schema,
    SchemaDiff,
    SchemaError,
    SchemaRecord,
    check_drift,
    diff_records,
    diff_schemas,
    prevailing_schema,
    recorded_name,
    schema_of,
)

AB: Schema = (("a", "Int64"), ("b", "String"))
R = SchemaRecord.of


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
    assert prevailing_schema([R(AB), R(other), R(AB)]) == (R(AB), 2)
    assert prevailing_schema([R(AB), R(other)]) == (None, 0)
    assert prevailing_schema([]) == (None, 0)
    assert prevailing_schema([R((("b", "String"), ("a", "Int64"))), R(AB)]) == (
        R((("b", "String"), ("a", "Int64"))),
        2,
    )


def test_a_first_sample_like_the_others_passes() -> None:
    drift = check_drift(R(AB), None, [R(AB), R(AB)])
    assert drift.passed
    assert drift.description() == "schema unchanged; no previous sample of this partition"


def test_a_sample_unlike_its_previous_one_and_the_prevailing_one_fails() -> None:
    new: Schema = (("a", "Int64"),)
    drift = check_drift(R(new), R(AB), [R(AB), R(AB), R(new)])
    assert not drift.passed
    assert drift.description() == (
        "since the previous sample: -1 removed; "
        "against the prevailing schema (2 of 3 partitions): -1 removed"
    )


def test_without_a_prevailing_schema_only_the_previous_sample_counts() -> None:
    drift = check_drift(R(AB), R(AB), [R(AB), R((("x", "Int64"),))])
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


WIDE: Schema = tuple((f"c{i}", "Int64") for i in range(5_000))


def test_a_change_past_the_recorded_columns_is_found_by_the_digest() -> None:
    retyped = (*WIDE[:4_000], ("c4000", "String"), *WIDE[4_001:])
    old, new = R(WIDE, 1_000), R(retyped, 1_000)
    assert (len(old.shown), old.columns, old.complete) == (1_000, 5_000, False)
    diff = diff_records(old, new)
    assert diff.changed and (diff.added, diff.removed, diff.retyped) == ([], [], [])
    assert diff.summary() == "full schemas differ (5,000 → 5,000 columns, not all recorded)"
    assert not diff_records(R(WIDE, 1_000), R(WIDE, 10)).changed


def test_a_column_that_only_moved_past_the_recorded_ones_is_no_change() -> None:
    moved = (*WIDE[1:], WIDE[0])
    assert not diff_records(R(WIDE, 1_000), R(moved, 1_000)).changed


def test_only_what_the_recorded_columns_make_certain_is_listed() -> None:
    # The whole new schema (a sample just taken) against a recorded old one: a recorded old
    # column the new one lacks is removed; a new column is not known to be added.
    new = (("c0", "String"), *WIDE[2:], ("extra", "Int64"))
    diff = diff_records(R(WIDE, 1_000), R(new))
    assert diff.retyped == [{"name": "c0", "old": "Int64", "new": "String"}]
    assert diff.removed == [{"name": "c1", "type": "Int64"}]
    assert diff.added == []
    assert diff.unlisted == (5_000, 5_000)
    # A whole old schema against a recorded new one: the other way round.
    back = diff_records(R(new), R(WIDE, 1_000))
    assert back.added == [{"name": "c1", "type": "Int64"}] and back.removed == []


def test_a_schema_differing_from_the_prevailing_one_past_the_recorded_columns_fails() -> None:
    other = (*WIDE, ("extra", "Int64"))
    drift = check_drift(R(other), None, [R(WIDE, 1_000), R(WIDE, 1_000), R(other)])
    assert not drift.passed
    assert drift.description() == (
        "no previous sample of this partition; against the prevailing schema (2 of 3 "
        "partitions): full schemas differ (5,000 → 5,001 columns, not all recorded)"
    )


def test_a_long_column_name_is_recorded_cut_and_still_told_apart() -> None:
    a, b = "x" * 500 + "a", "x" * 500 + "b"
    assert len(recorded_name(a)) == MAX_NAME_CHARS and recorded_name(a) != recorded_name(b)
    assert recorded_name(recorded_name(a)) == recorded_name(a)
    assert recorded_name("short") == "short"
    diff = diff_records(R(((a, "Int64"),)), R(((b, "Int64"),)))
    assert diff.added == [{"name": recorded_name(b), "type": "Int64"}]


def test_a_sample_recorded_before_its_column_count_and_digest_is_its_whole_schema() -> None:
    assert SchemaRecord.recorded(AB, None, None) == R(AB)
    with pytest.raises(SchemaError, match="2 columns recorded of 1 in all"):
        SchemaRecord.recorded(AB, 1, R(AB).digest)


def test_the_changes_table_lists_the_first_changed_columns_and_says_how_many() -> None:
    diff = diff_schemas((), WIDE[:250])
    lines = diff.markdown(max_rows=100).splitlines()
    assert len([line for line in lines if line.startswith("| added |")]) == 100
    assert lines[-1] == "_first 100 of 250 changed columns shown_"
    assert diff.summary() == "+250 added"
