import gzip
import io
import json
from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.format_options import FormatOptions
from alchemy_assets.formats.base import Options
from alchemy_assets.formats.json_document import JsonDocumentReader
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.sampling import RefusedError, Sample, read_sample
from alchemy_assets_tests.conftest import RawWriter

PRETTY = b"""[
  {
    "id": 1,
    "name": "a, \\"quoted\\" [x]",
    "tags": ["p", "q"]
  },
  {
    "id": 2,
    "name": "b}",
    "tags": []
  },
  {
    "id": 3,
    "name": null,
    "score": 2.5
  }
]
"""


def _sampled(
    tmp_path: Path,
    name: str,
    data: bytes,
    rows: int,
    *,
    records: str | None = None,
    cap: int | None = None,
) -> tuple[Sample, bytes]:
    path = tmp_path / name
    path.write_bytes(data)
    options = FormatOptions(records=records) if records else None
    kwargs = {"max_prefix_bytes": cap} if cap else {}
    return read_sample(path, rows, format_options=options, **kwargs)


def test_a_pretty_printed_array_gives_its_first_elements_as_written_then_its_closing_bracket(
    tmp_path: Path,
) -> None:
    sample, content = _sampled(tmp_path, "api.json", PRETTY, 2)
    assert sample.kind == "json" and sample.rows == 2
    cut = PRETTY.index(b'  },\n  {\n    "id": 3')
    assert content == PRETTY[: cut + 3] + b"\n]\n"
    assert json.loads(content) == json.loads(PRETTY)[:2]
    assert sample.schema == [("id", "Int64"), ("name", "String"), ("tags", "List")]
    assert sample.contents.head == (("1", 'a, "quoted" [x]', '["p", "q"]'), ("2", "b}", "[]"))
    assert sample.metadata == {"json": {"layout": "array", "records": None}}
    assert sample.notes == {}


def test_an_array_on_one_line_keeps_its_first_elements_and_closes_on_the_same_line(
    tmp_path: Path,
) -> None:
    data = b'[{"a":1},{"a":2,"b":"x"} ,  {"a":3}]'
    sample, content = _sampled(tmp_path, "one.json", data, 2)
    assert content == b'[{"a":1},{"a":2,"b":"x"}]'
    assert sample.schema == [("a", "Int64"), ("b", "String")]


def test_an_array_with_no_more_than_n_elements_is_sampled_whole(tmp_path: Path) -> None:
    sample, content = _sampled(tmp_path, "all.json", PRETTY, 3)
    assert content == PRETTY and sample.rows == 3
    assert sample.schema[-1] == ("score", "Float64")
    assert _sampled(tmp_path, "all.json", PRETTY, 100)[1] == PRETTY
    empty, content = _sampled(tmp_path, "none.json", b"[ ]\n", 5)
    assert (empty.rows, empty.schema, content) == (0, [], b"[ ]\n")


def test_the_records_of_an_object_are_its_first_array_of_objects_after_what_precedes_it(
    tmp_path: Path,
) -> None:
    data = (
        b'{\n  "meta": {"count": 3, "list": [1, 2]},\n  "next": null,\n  "results": [\n'
        b'    {"id": 1},\n    {"id": 2},\n    {"id": 3}\n  ],\n  "after": [{"x": 1}]\n}\n'
    )
    sample, content = _sampled(tmp_path, "page.json", data, 2)
    assert content == data[: data.index(b',\n    {"id": 3}')] + b"\n  ]\n}\n"
    assert json.loads(content) == {
        "meta": {"count": 3, "list": [1, 2]},
        "next": None,
        "results": [{"id": 1}, {"id": 2}],
    }
    assert sample.rows == 2 and sample.schema == [("id", "Int64")]
    assert sample.metadata["json"] == {
        "layout": "object",
        "records": "results",
        "source": "detected",
    }
    assert sample.notes["left_out"] == (
        "the elements after the first 2 and any keys after 'results': the sample closes the "
        "object after its records"
    )


def test_an_object_whose_array_holds_all_records_keeps_its_own_closing(tmp_path: Path) -> None:
    data = b'{"data": [{"a": 1}, {"a": 2}]}\n'
    sample, content = _sampled(tmp_path, "d.json", data, 5)
    assert content == data and sample.rows == 2 and "left_out" not in sample.notes


def test_the_records_key_configured_names_an_array_nested_in_objects(tmp_path: Path) -> None:
    data = b'{"items": [{"x": 0}], "response": {"total": 2, "items": [{"id": 1}, {"id": 2}]}}'
    sample, content = _sampled(tmp_path, "r.json", data, 1, records="response.items")
    assert content == b'{"items": [{"x": 0}], "response": {"total": 2, "items": [{"id": 1}]}}'
    assert sample.schema == [("id", "Int64")]
    assert sample.metadata["json"] == {
        "layout": "object",
        "records": "response.items",
        "source": "configured",
    }
    # Not configured: the first key holding an array of objects.
    detected, _ = _sampled(tmp_path, "r.json", data, 1)
    assert detected.schema == [("x", "Int64")]
    assert detected.metadata["json"] == {
        "layout": "object",
        "records": "items",
        "source": "detected",
    }


@pytest.mark.parametrize(
    ("data", "records", "message"),
    [
        (b'{"data": [{"a": 1}]}', "rows", "records = 'rows' is configured for it, but it is an"),
        (b'{"data": {"a": 1}}', "data", "the value of 'data' at byte 9 (line 1) is an object, not"),
        (b'{"r": [1]}', "r.items", "the value of 'r' at byte 6 (line 1) is an array, not an"),
        (b'[{"a": 1}]', "data", "records = 'data' is configured for it, but it is an array"),
        (b'{"a": 1}\n{"a": 2}\n', "data", "but it is JSON Lines (one JSON value per line)"),
    ],
)
def test_a_configured_records_key_the_file_does_not_have_is_refused_naming_key_and_file(
    tmp_path: Path, data: bytes, records: str, message: str
) -> None:
    with pytest.raises(RefusedError) as refused:
        _sampled(tmp_path, "r.json", data, 5, records=records)
    assert str(refused.value).startswith(f"{tmp_path / 'r.json'}: ")
    assert message in str(refused.value)


def test_a_json_file_that_is_json_lines_is_sampled_as_json_lines(tmp_path: Path) -> None:
    data = b'{"a": 1, "b": [1]}\n{"a": 2}\n\n{"a": 3}\n'
    sample, content = _sampled(tmp_path, "events.json", data, 2)
    assert content == b'{"a": 1, "b": [1]}\n{"a": 2}\n'
    assert (sample.kind, sample.rows, sample.schema) == ("json", 2, [("a", "Int64"), ("b", "List")])
    assert sample.metadata == {"json": {"layout": "json lines", "records": None}}


def test_an_object_with_no_array_of_objects_is_one_record(tmp_path: Path) -> None:
    data = b'{"name": "x", "values": [1, 2], "nested": {"rows": [{"a": 1}]}}\n'
    sample, content = _sampled(tmp_path, "one.json", data, 5)
    assert content == data and sample.rows == 1
    assert sample.schema == [("name", "String"), ("values", "List"), ("nested", "Struct")]
    assert sample.metadata["json"] == {"layout": "value", "records": None}


def test_an_array_of_numbers_is_one_column_named_value(tmp_path: Path) -> None:
    sample, content = _sampled(tmp_path, "n.json", b"[1, 2.5, 3, 4]", 3)
    assert content == b"[1, 2.5, 3]"
    assert sample.schema == [("value", "Float64")]
    assert sample.contents.head == (("1",), ("2.5",), ("3",))
    assert sample.notes["records"] == (
        "the records are JSON values, not objects (number): one column, value"
    )
    mixed, _ = _sampled(tmp_path, "m.json", b'[{"a": 1}, "x", {"a": 2}]', 5)
    assert mixed.notes["records"] == (
        "element 2 is a JSON string, not an object; 1 of 3 records are not objects"
    )


def test_only_the_first_elements_are_read_not_the_whole_document(tmp_path: Path) -> None:
    element = b'  {"id": 12345, "text": "' + b"y" * 200 + b'"},\n'
    data = b'{"meta": 1, "data": [\n' + element * 100_000 + b'  {"id": 0}\n]}\n'
    sample, content = _sampled(tmp_path, "big.json", data, 100)
    assert len(data) > 20_000_000 and sample.rows == 100
    assert sample.bytes_read <= 2 * 64 * 1024
    assert json.loads(content)["data"] == [json.loads(element[:-2])] * 100
    compressed, inner = _sampled(tmp_path, "big.json.gz", gzip.compress(data, 1), 100)
    assert (compressed.compression, gzip.decompress(inner)) == ("gzip", content)
    assert compressed.bytes_read < 200_000


def test_the_elements_before_the_read_cap_are_kept_and_one_past_it_is_refused(
    tmp_path: Path,
) -> None:
    data = b'[{"a": 1}, {"a": 2}, {"a": "' + b"z" * 5000 + b'"}]'
    sample, content = _sampled(tmp_path, "c.json", data, 5, cap=2048)
    assert content == b'[{"a": 1}, {"a": 2}]' and sample.rows == 2
    assert sample.notes["cut"].startswith("only 2 of the first 5 records end within the first")
    with pytest.raises(RefusedError, match=r"element 1 of the array opened at byte 0 \(line 1\)"):
        _sampled(tmp_path, "c.json", b'[{"a": "' + b"z" * 5000 + b'"}]', 5, cap=2048)
    with pytest.raises(RefusedError, match="has no array of objects, and does not end, within"):
        _sampled(tmp_path, "c.json", b'{"a": "' + b"z" * 5000 + b'", "d": [{}]}', 5, cap=2048)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'[\n  {"a": 1},\n  {"a": 2,, "b": 3}\n]',
            "element 2 (bytes 16-32, line 3) is not valid JSON: Expecting property name "
            "enclosed in double quotes at byte 24 (line 3)",
        ),
        (b'[{"a": 1} {"a": 2}]', "byte 10 (line 1): expected ',' or ']' after element 1"),
        (b'[{"a": "open}]\n', "the string opened at byte 7 (line 1) runs to the end of the file"),
        (b'[{"a": [1, 2}]', "element 1 (bytes 1-13, line 1) is not valid JSON: Expecting ','"),
        (b"[" * 5000 + b"]" * 5000, "element 1 (bytes 1-9998, line 1) is nested deeper than"),
        (b'[{"a": 1}', "the file ends at byte 9: expected ',' or ']' after element 1 of the"),
        (b'{"d": [{"a": 1}, {', "the object opened at byte 17 (line 1) does not close before"),
        (b'{"m": tru, "d": [{"a": 1}]}', "not valid JSON: Expecting value at byte 6 (line 1)"),
        (b'{"m" 1}', "byte 5 (line 1): expected ':' after the key 'm', found '1'"),
        (b'[\n{"a": 1}\n]\n[{"a": 2}]\n', "byte 13 (line 4): more after the JSON document that"),
        ('[{"a": 1}]'.encode("utf-16"), "UTF-16 or UTF-32 text (byte order mark FF FE)"),
    ],
)
def test_a_document_that_is_not_valid_json_is_refused_saying_where(
    tmp_path: Path, data: bytes, message: str
) -> None:
    with pytest.raises(RefusedError) as refused:
        _sampled(tmp_path, "bad.json", data, 5)
    assert message in str(refused.value)


def test_text_not_in_utf8_is_noted_and_kept_as_written(tmp_path: Path) -> None:
    data = '[{"city": "Zürich"}, {"city": "Genève"}]'.encode("cp1252")
    sample, content = _sampled(tmp_path, "l.json", data, 1)
    assert content == '[{"city": "Zürich"}]'.encode("cp1252")
    assert sample.contents.head == (("Zürich",),)
    assert sample.notes["encoding"].startswith("not UTF-8 (0xfc at byte 12 (line 1))")


def test_the_reader_reads_from_a_stream_front_to_back() -> None:
    taken = JsonDocumentReader().sample(
        io.BytesIO(PRETTY), 1, max_bytes=1 << 20, options=Options(extension=".json")
    )
    assert json.loads(taken.data) == [json.loads(PRETTY)[0]]


def test_staging_a_json_document_records_its_sample_schema_and_row_count(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
) -> None:
    data = b'{"response": {"total": 9, "items": [\n' + b'  {"id": 1, "ok": true},\n' * 8
    data += b'  {"id": 2, "ok": false}\n]}}\n'
    write_raw("env0/api/page.json", data, 1.0)
    (layout.root / "alchemy.toml").write_text(
        'sample_rows = 5\n[formats]\n"env0/api/*.json" = { records = "response.items" }\n'
    )
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 0
    sample = layout.samples / "env0" / "api" / "page_sample.json"
    assert json.loads(sample.read_bytes()) == {
        "response": {"total": 9, "items": [{"id": 1, "ok": True}] * 5}
    }
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key, asset_partitions=["env0/api/page.json"]),
        limit=1,
    ).records[0]
    event = record.asset_materialization
    assert event is not None
    schema = event.metadata["dagster/column_schema"].value
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type) for c in schema.columns] == [("id", "Int64"), ("ok", "Boolean")]
    assert event.metadata["dagster/row_count"].value == 5
    assert event.metadata["kind"].value == "json"
    assert event.metadata["json"].value == {
        "layout": "object",
        "records": "response.items",
        "source": "configured",
    }


def test_a_compressed_json_document_is_sampled_inside_its_compression(tmp_path: Path) -> None:
    sample, content = _sampled(tmp_path, "api.json.gz", gzip.compress(PRETTY), 1)
    assert (sample.kind, sample.compression, sample.rows) == ("json", "gzip", 1)
    assert json.loads(gzip.decompress(content)) == json.loads(PRETTY)[:1]
