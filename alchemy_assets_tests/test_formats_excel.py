import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import dagster as dg
import openpyxl
import pytest
import xlsxwriter
from openpyxl.worksheet.worksheet import Worksheet

from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.formats.base import CERTAIN, NO, Options
from alchemy_assets.formats.excel import MAX_ENTRY_BYTES, OLE2_MAGIC, WorkbookReader, zip_names
from alchemy_assets.formats.registry import Detected, NotData, detect
from alchemy_assets.layout import DatasetLayout
from alchemy_assets.sampling import NotDataError, RefusedError, Sample, read_sample
from alchemy_assets_tests.conftest import RawWriter
from alchemy_assets_tests.corpus import package_dir

START = dt.datetime(2024, 1, 31, 9, 30)


def _book(sheets: dict[str, list[list[object]]], *, hidden: tuple[str, ...] = ()) -> bytes:
    """A workbook written by openpyxl (shared strings, as Excel writes them)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.worksheets[0])
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _shared_book(rows: list[list[object]]) -> bytes:
    """A one-sheet workbook written by XlsxWriter: its text in a shared-string table in
    first-use order, its parts in Excel's order."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet("s")
    for number, row in enumerate(rows):
        ws.write_row(number, 0, row)
    wb.close()
    return out.getvalue()


def _prices(records: int) -> list[list[object]]:
    return [
        ["id", "ticker", "price", "when", "day", "open", "listed"],
        *(
            [
                i,
                f"T{i:04d}",
                i + 0.25,
                START + dt.timedelta(hours=i),
                dt.date(2024, 2, i % 28 + 1),
                dt.time(9, i % 60),
                i % 2 == 0,
            ]
            for i in range(records)
        ),
    ]


def _rewritten(data: bytes, drop: str = "", replace: dict[str, bytes] | None = None) -> bytes:
    """``data`` (a zip) without member ``drop``, with members' bytes replaced, by name."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != drop:
                dst.writestr(info, (replace or {}).get(info.filename, src.read(info)))
    return out.getvalue()


def _sample(
    tmp_path: Path, data: bytes, rows: int, name: str = "book.xlsx"
) -> tuple[Sample, openpyxl.Workbook]:
    path = tmp_path / name
    path.write_bytes(data)
    sample, content = read_sample(path, rows)
    return sample, openpyxl.load_workbook(io.BytesIO(content))


def _sheets(sample: Sample) -> list[dict[str, Any]]:
    """The sheets the ``xlsx`` metadata entry lists."""
    entry: Any = sample.metadata["xlsx"]
    sheets: list[dict[str, Any]] = entry["sheets"]
    return sheets


def _values(ws: object) -> list[tuple[object, ...]]:
    assert isinstance(ws, Worksheet)
    return list(ws.iter_rows(values_only=True))


def _original(data: bytes, sheet: str) -> list[tuple[object, ...]]:
    """A sheet's rows as openpyxl reads the whole workbook (a date comes back a datetime)."""
    return _values(openpyxl.load_workbook(io.BytesIO(data))[sheet])


def test_a_zip_whose_first_parts_are_under_xl_is_a_workbook_whatever_its_name() -> None:
    data = _book({"s": [["a"], [1]]})
    assert zip_names(data[:4096])[:2] == ["docProps/app.xml", "docProps/core.xml"]
    assert any(name.startswith("xl/") for name in zip_names(data[:4096]))
    assert WorkbookReader().recognise(data[:4096], "export.dat") == CERTAIN
    assert detect(data[:4096], "export.bin") == Detected("xlsx", None, ".bin", ".bin")
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    assert WorkbookReader().recognise(plain.getvalue(), "letter.docx") == NO
    # By its name, a zip or an OLE2 file (a password-protected workbook) is one too.
    assert detect(plain.getvalue(), "book.xlsm") == Detected("xlsx", None, ".xlsm", ".xlsm")
    assert detect(OLE2_MAGIC + bytes(504), "book.xlsx") == Detected("xlsx", None, ".xlsx", ".xlsx")


def test_each_sheet_is_sampled_as_its_header_and_first_n_rows_in_an_xlsx_of_the_same_sheets(
    tmp_path: Path,
) -> None:
    data = _book(
        {"prices": _prices(50), "notes": [["k", "v"], ["a", 1], ["b", 2]], "empty": []},
        hidden=("notes",),
    )
    sample, book = _sample(tmp_path, data, 7)
    assert book.sheetnames == ["prices", "notes", "empty"]
    assert [ws.sheet_state for ws in book.worksheets] == ["visible", "hidden", "visible"]
    assert _values(book["prices"]) == _original(data, "prices")[:8]
    assert _values(book["notes"]) == [("k", "v"), ("a", 1), ("b", 2)]
    assert _values(book["empty"]) == []
    assert sample.rows == 7 + 2
    # Fewer records than asked for: all of them.
    sample, book = _sample(tmp_path, data, 100)
    assert _values(book["prices"]) == _original(data, "prices")
    assert sample.rows == 50 + 2


def test_the_metadata_names_every_sheets_columns_with_their_types_and_lists_the_sheets(
    tmp_path: Path,
) -> None:
    data = _book({"prices": _prices(3), "notes": [["k", "v"], ["a", 1]]}, hidden=("notes",))
    path = tmp_path / "book.xlsx"
    path.write_bytes(data)
    sample, _ = read_sample(path, 100)
    assert sample.kind == "xlsx"
    assert sample.schema == [
        ("prices!id", "Int64"),
        ("prices!ticker", "String"),
        ("prices!price", "Float64"),
        ("prices!when", "Datetime"),
        ("prices!day", "Datetime"),  # openpyxl writes a date as a datetime at midnight
        ("prices!open", "Time"),
        ("prices!listed", "Boolean"),
        ("notes!k", "String"),
        ("notes!v", "Int64"),
    ]
    # Each record under its own sheet's columns.
    assert sample.contents.head[0][:4] == ("0", "T0000", "0.25", "2024-01-31 09:30:00")
    assert sample.contents.head[3] == ("",) * 7 + ("a", "1")
    entry = sample.metadata["xlsx"]
    assert isinstance(entry, dict)
    assert entry["sheets"] == [
        {
            "name": "prices",
            "state": "visible",
            "kind": "worksheet",
            "header_row": 1,
            "rows": 3,
            "columns": 7,
            "last_column": "G",
            "formulas": 0,
            "schema": [[name.split("!")[1], dtype] for name, dtype in sample.schema[:7]],
        },
        {
            "name": "notes",
            "state": "hidden",
            "kind": "worksheet",
            "header_row": 1,
            "rows": 1,
            "columns": 2,
            "last_column": "B",
            "formulas": 0,
            "schema": [["k", "String"], ["v", "Int64"]],
        },
    ]
    assert entry["date_system"] == 1900 and "formulas" in str(entry["not_kept"])


def test_blank_rows_are_left_out_and_columns_stay_where_they_were(tmp_path: Path) -> None:
    rows: list[list[object]] = [[], [None, "a", None, "b"], [], [None, 1, None, 2], [None, ""]]
    rows.append([None, 3, None, "=not a formula"])
    wb = openpyxl.Workbook()
    ws = wb.worksheets[0]
    for row in rows:
        ws.append(row)
    ws["D6"].data_type = "s"  # text that starts with "=", as Excel stores it
    out = io.BytesIO()
    wb.save(out)
    sample, book = _sample(tmp_path, out.getvalue(), 100)
    assert _values(book.active) == [
        (None, "a", None, "b"),
        (None, 1, None, 2),
        (None, 3, None, "=not a formula"),
    ]
    assert sample.schema == [
        ("Sheet!", "Null"),
        ("Sheet!a", "Int64"),
        ("Sheet!", "Null"),
        ("Sheet!b", "String"),
    ]
    assert _sheets(sample)[0]["header_row"] == 2


def test_a_formula_is_kept_as_its_cached_value_and_counted(tmp_path: Path) -> None:
    data = _book({"s": [["a", "b"], [1, "=A2*2"]]})
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    cached = sheet.replace(b"<f>A2*2</f><v /></c>", b"<f>A2*2</f><v>2</v></c>")
    assert cached != sheet
    _, book = _sample(tmp_path, _rewritten(data, replace={"xl/worksheets/sheet1.xml": cached}), 100)
    assert _values(book["s"]) == [("a", "b"), (1, 2)]  # the value, not the formula
    sample, _ = _sample(
        tmp_path, _rewritten(data, replace={"xl/worksheets/sheet1.xml": cached}), 100
    )
    assert _sheets(sample)[0]["formulas"] == 1


def test_a_large_string_heavy_workbook_is_sampled_in_a_few_kib(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["id", "note"],
        *([i, f"unique text {i:06d}, a string of its own"] for i in range(40_000)),
    ]
    data = _shared_book(rows)
    assert b"sharedStrings.xml" in data
    sample, book = _sample(tmp_path, data, 10)
    assert _values(book["s"]) == [tuple(r) for r in rows[:11]]
    assert sample.bytes_read < len(data) / 10


def test_shared_strings_past_the_read_cap_are_a_refusal_naming_the_index() -> None:
    # The first row uses the last of 5,000 strings: the table is not in first-use order.
    strings = "".join(f"<si><t>text {i} padded out</t></si>" for i in range(5_000))
    sst = f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{strings}</sst>'
    data = _shared_book([["a"], ["b"]])
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    sheet = sheet.replace(b'<c r="A2" t="s"><v>1</v>', b'<c r="A2" t="s"><v>4999</v>')
    assert b"4999" in sheet
    data = _rewritten(
        data, replace={"xl/sharedStrings.xml": sst.encode(), "xl/worksheets/sheet1.xml": sheet}
    )
    taken = WorkbookReader().sample(io.BytesIO(data), 5, max_bytes=1 << 20, options=Options())
    assert taken.contents.head == (("text 4999 padded out",),)
    with pytest.raises(ValueError, match=r"use shared string 4,999, but only .* strings lie in"):
        WorkbookReader().sample(io.BytesIO(data), 5, max_bytes=50_000, options=Options())


def test_sheets_past_the_read_cap_are_cut_and_kept_empty_with_a_note() -> None:
    data = _book({"big": _prices(2_000), "after": [["k"], ["v"]]})
    taken = WorkbookReader().sample(io.BytesIO(data), 1_000, max_bytes=20_000, options=Options())
    book = openpyxl.load_workbook(io.BytesIO(taken.data))
    assert book.sheetnames == ["big", "after"]
    assert 0 < len(_values(book["big"])) < 1_000 and _values(book["after"]) == []
    assert "sheet(s) 'big', 'after' hold fewer rows" in taken.contents.notes["cut"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04" + bytes(200), "not a readable zip archive, as a workbook is"),
        (
            _rewritten(_book({"s": [["a"]]}), drop="xl/worksheets/sheet1.xml"),
            "sheet 's': its part 'xl/worksheets/sheet1.xml' is missing",
        ),
        (
            _rewritten(_book({"s": [["a"]]}), drop="[Content_Types].xml"),
            "the workbook has no part '[Content_Types].xml'",
        ),
        (
            _rewritten(
                _book({"s": [["a"]]}),
                replace={"xl/worksheets/sheet1.xml": b"<worksheet><sheetData>"},
            ),
            "sheet 's' (xl/worksheets/sheet1.xml): no element found",
        ),
    ],
    ids=["corrupt-zip", "missing-sheet", "no-content-types", "truncated-xml"],
)
def test_a_broken_workbook_is_refused_saying_what_is_wrong(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(data)
    with pytest.raises(RefusedError) as refused:
        read_sample(path, 5)
    assert message in str(refused.value) and not isinstance(refused.value, NotDataError)


def test_a_password_protected_workbook_is_recorded_as_not_sampled(tmp_path: Path) -> None:
    path = tmp_path / "secret.xlsx"
    path.write_bytes(OLE2_MAGIC + bytes(4088) + "EncryptionInfo".encode("utf-16-le"))
    with pytest.raises(NotDataError, match=r"a password-protected \(encrypted\) workbook") as err:
        read_sample(path, 5)
    assert err.value.kind == "xlsx"


def test_a_binary_xlsb_workbook_is_recorded_as_not_sampled(tmp_path: Path) -> None:
    data = _book({"s": [["a"]]})
    types = zipfile.ZipFile(io.BytesIO(data)).read("[Content_Types].xml")
    xlsb = types.replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.binary.macroEnabled.main",
    )
    path = tmp_path / "book.xlsb"
    path.write_bytes(_rewritten(data, replace={"[Content_Types].xml": xlsb}))
    with pytest.raises(NotDataError, match=r"a binary workbook \(.xlsb\): recognised, not sampled"):
        read_sample(path, 5)


def test_an_xls_and_an_ods_are_recorded_as_not_sampled_saying_why(tmp_path: Path) -> None:
    xls = package_dir("statsmodels") / "datasets/macrodata/src/macrodata.xls/macrodata.xls"
    found = detect(xls.read_bytes()[:4096], "macrodata.xls")
    assert isinstance(found, Detected) and found.kind == "xls"
    with pytest.raises(NotDataError, match=r"no well-kept library writes \.xls samples") as err:
        read_sample(xls, 5)
    assert err.value.kind == "xls"
    # Another OLE2 file (a .doc) is still not data at all.
    assert isinstance(detect(xls.read_bytes()[:4096], "letter.doc"), NotData)
    ods = io.BytesIO()
    with zipfile.ZipFile(ods, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<office:document-content/>")
    path = tmp_path / "book.ods"
    path.write_bytes(ods.getvalue())
    with pytest.raises(
        NotDataError, match=r"an OpenDocument spreadsheet \(.ods\): recognised, not"
    ):
        read_sample(path, 5)


def test_a_sheet_of_16384_columns_keeps_its_metadata_entry_bounded(tmp_path: Path) -> None:
    wide: list[list[object]] = [[f"column {i}" for i in range(16_384)], list(range(16_384))]
    data = _book({"a": [["x"], [1]], "b": wide})
    path = tmp_path / "wide.xlsx"
    path.write_bytes(data)
    sample, content = read_sample(path, 5)
    assert len(sample.schema) == 1 + 16_384 and sample.schema[-1] == ("b!column 16383", "Int64")
    assert len(json.dumps(sample.metadata)) < MAX_ENTRY_BYTES + 2_048
    sheets = _sheets(sample)
    assert sheets[1]["columns"] == 16_384 and sheets[1]["last_column"] == "XFD"
    assert sheets[1]["schema"] == "not listed here (see dagster/column_schema)"
    assert openpyxl.load_workbook(io.BytesIO(content))["b"].max_column == 16_384


def test_staging_an_xlsx_delivery_records_its_sample_schema_and_row_count(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
) -> None:
    write_raw("env0/prices.xlsx", _book({"prices": _prices(30), "notes": [["k"], ["v"]]}), 1.0)
    (layout.root / "alchemy.toml").write_text("sample_rows = 5\n")
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 0
    book = openpyxl.load_workbook(layout.samples / "env0" / "prices_sample.xlsx")
    assert book.sheetnames == ["prices", "notes"] and len(_values(book["prices"])) == 6
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key, asset_partitions=["env0/prices.xlsx"]),
        limit=1,
    ).records[0]
    event = record.asset_materialization
    assert event is not None
    assert event.metadata["dagster/row_count"] == dg.MetadataValue.int(6)
    schema = event.metadata["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchemaMetadataValue)
    assert [c.name for c in schema.schema.columns][-2:] == ["prices!listed", "notes!k"]
    assert event.metadata["kind"] == dg.MetadataValue.text("xlsx")
    assert isinstance(event.metadata["xlsx"], dg.JsonMetadataValue)
