import pytest

from alchemy_assets.format_options import FormatOptions, FormatRule, options_for, parse_rules


def test_a_pattern_matches_within_one_folder_and_double_star_across_folders() -> None:
    one, deep = FormatRule("env0/*.txt", FormatOptions()), FormatRule("**/*.dat", FormatOptions())
    assert one.matches("env0/gics.txt") and not one.matches("env0/sub/gics.txt")
    assert deep.matches("env1/x.dat") and deep.matches("env1/a/b/x.dat")
    assert not deep.matches("env1/x.dat.gz")


def test_every_matching_rule_applies_in_order_a_later_key_winning() -> None:
    rules = parse_rules(
        {
            "**/*.txt": {"format": "csv", "delimiter": "|", "header": True},
            "env0/*.txt": {"delimiter": ";", "encoding": "cp1252"},
        }
    )
    assert options_for(rules, "env0/a.txt") == FormatOptions(
        format="csv", delimiter=";", header=True, encoding="cp1252"
    )
    assert options_for(rules, "env1/a.txt") == FormatOptions(
        format="csv", delimiter="|", header=True
    )
    assert options_for(rules, "env0/a.csv") == FormatOptions()


def test_the_fingerprint_changes_with_any_option_and_is_none_without_options() -> None:
    assert FormatOptions().fingerprint is None
    pipe = FormatOptions(delimiter="|").fingerprint
    assert pipe is not None and len(pipe) == 12
    assert pipe != FormatOptions(delimiter=";").fingerprint
    assert pipe != FormatOptions(delimiter="|", header=False).fingerprint
    assert pipe == FormatOptions(delimiter="|").fingerprint


def test_a_json_documents_records_are_named_by_a_key_or_a_dotted_path_of_keys() -> None:
    rules = parse_rules({"**/*.json": {"records": "data"}, "env0/api/*.json": {"records": "a.b"}})
    assert options_for(rules, "env1/x.json") == FormatOptions(records="data")
    assert options_for(rules, "env0/api/x.json") == FormatOptions(records="a.b")
    assert FormatOptions(records="data").fingerprint != FormatOptions(records="a.b").fingerprint


def test_no_quoting_and_no_escape_are_empty_strings() -> None:
    (rule,) = parse_rules({"env0/*.dat": {"delimiter": "\x01", "quotechar": "", "escapechar": ""}})
    assert rule.options == FormatOptions(delimiter="\x01", quotechar="", escapechar="")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "formats must be a table of pattern = { options }, got []"),
        ({"env0/*.txt": "csv"}, "formats.\"env0/*.txt\" must be a table of options, got 'csv'"),
        ({"/abs/*.txt": {}}, 'formats."/abs/*.txt": a pattern is a relative path under raw/'),
        (
            {"env0/*.txt": {"sep": "|"}},
            'formats."env0/*.txt": unknown option(s) sep; known: delimiter, encoding, '
            "escapechar, format, header, preamble_lines, quotechar",
        ),
        (
            {"a": {"format": "xls"}},
            'formats."a": format must be one of csv, tsv, lines, jsonl, json, parquet, avro, '
            "orc, arrow, xlsx, zip, got 'xls'",
        ),
        ({"a": {"delimiter": "||"}}, "formats.\"a\": delimiter must be one character, got '||'"),
        ({"a": {"delimiter": ""}}, "formats.\"a\": delimiter must be one character, got ''"),
        ({"a": {"delimiter": "\n"}}, 'formats."a": delimiter cannot be a line ending'),
        ({"a": {"quotechar": 1}}, 'formats."a": quotechar must be one character, or "" for'),
        ({"a": {"header": "yes"}}, "formats.\"a\": header must be true or false, got 'yes'"),
        ({"a": {"preamble_lines": -1}}, 'formats."a": preamble_lines must be an integer from 0'),
        ({"a": {"encoding": "klingon"}}, 'formats."a": encoding must be the name of an encoding'),
        ({"a": {"records": ""}}, 'formats."a": records must be a key, or keys joined by dots'),
        ({"a": {"records": "data..items"}}, 'formats."a": records must be a key, or keys'),
        ({"a": {"records": ["data"]}}, 'formats."a": records must be a key, or keys joined'),
    ],
)
def test_a_bad_rule_names_its_pattern_and_key(table: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_rules(table)
    assert str(err.value).startswith(message)
