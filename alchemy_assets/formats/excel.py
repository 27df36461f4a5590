"""Excel workbooks (``.xlsx .xlsm``, a zip of XML parts): each sheet's header row and its
first N rows, read in bounded bytes, written as an ``.xlsx`` with the same sheets.

How a workbook is read: the sheet parts are streamed (``zipfile`` and openpyxl's own
worksheet parser, which iterparses the XML), taking each sheet's first non-blank row as its
header and the N non-blank rows after it as its records; only then is
``xl/sharedStrings.xml`` streamed, up to the highest string index those rows use (Excel and
openpyxl write strings in first-use order, so this is the table's head). Neither
``openpyxl.load_workbook(read_only=True)`` nor python-calamine does that: both load the whole
shared-string table first (calamine the whole sheet too), which grows with the file
(measured on a 182 MB string-heavy workbook: both read all 182 MB, openpyxl in 224 s;
``docs/guarantees.md``). What is read is bounded, whatever the file's size: each small part
(content types, workbook, its relationships, styles) at most ``max_bytes``, all sheets
together at most ``max_bytes`` of XML (a sheet reached past that is cut, and the sheets after
it kept empty; said in the ``cut`` note), and the shared strings at most ``max_bytes`` of XML
(a string the sample needs past that: a refusal).

The sample, written with openpyxl's write-only workbook: the same sheets in the same order
(hidden ones hidden), each holding its header row and its records, blank rows left out,
columns where they were; cell values typed as the file has them (numbers, dates and times
by their number format, booleans, text, error values, empty). Not kept: styles and number
formats, formulas (their cached values are kept, as Excel last computed them), merged cells,
comments, charts and images, defined names, macros (an ``.xlsm`` sample is written as a
plain ``.xlsx`` workbook, under the file's own name). A chartsheet is an empty sheet in it.

What the metadata says: ``dagster/column_schema`` lists every sheet's columns, in sheet
order, named ``sheet!header`` (Excel's notation for a sheet's cells), so the drift check
covers every sheet and a renamed, added or removed sheet; ``dagster/row_count`` is the
records of all sheets together; the preview shows the first records, each under its own
sheet's columns; the ``xlsx`` entry lists the sheets in order (name, state, row of the
header, records, columns and their types) and says what the sample does not keep.

Not sampled (:class:`NoReaderError`, recorded, never failed): a password-protected workbook
(Excel saves it as an OLE2 file holding the encrypted package) and a binary ``.xlsb``
workbook; ``.xls`` and ``.ods`` files have their own not-sampled lines in the registry.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast
from xml.etree.ElementTree import Element, ParseError, fromstring

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.text import Text
from openpyxl.packaging.manifest import Manifest
from openpyxl.packaging.relationship import get_rels_path
from openpyxl.reader.workbook import WorkbookParser
from openpyxl.styles.stylesheet import Stylesheet
from openpyxl.utils.cell import get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from openpyxl.utils.exceptions import IllegalCharacterError
from openpyxl.worksheet._reader import WorkSheetParser
from openpyxl.xml.constants import (
    ARC_CONTENT_TYPES,
    ARC_STYLE,
    ARC_WORKBOOK,
    SHARED_STRINGS,
    SHEET_MAIN_NS,
    XLSM,
    XLSX,
    XLTM,
    XLTX,
)
from openpyxl.xml.functions import iterparse

from alchemy_assets.file_formats import data_extension
from alchemy_assets.formats.base import (
    CERTAIN,
    HEAD_ROWS,
    JSON,
    NO,
    Contents,
    NoReaderError,
    Options,
    Source,
    Taken,
    display,
)
from alchemy_assets.formats.records import read_up_to
from alchemy_assets.formats.text import json_type

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# The workbook part of a binary workbook (.xlsb): a zip like .xlsx, but its parts are not XML.
XLSB = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"
_SI = f"{{{SHEET_MAIN_NS}}}si"
# What the ``xlsx`` metadata entry may take in a stored event (its schemas are cut to fit;
# every column is in ``dagster/column_schema`` too).
MAX_ENTRY_BYTES = 24 * 1024
MAX_LISTED_SHEETS = 100
NOT_KEPT = (
    "styles and number formats, formulas (their cached values are kept), merged cells, "
    "comments, charts, images, defined names, macros"
)
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
# openpyxl's reading parts, typed loosely (or not at all) in its stubs: used as Any here.
_MANIFEST: Any = Manifest
_STYLESHEET: Any = Stylesheet
_TEXT: Any = Text
_rels_path: Any = get_rels_path


class WorkbookReader:
    """Excel workbooks: each sheet's header row and first N rows, as an ``.xlsx``."""

    kind = "xlsx"
    extensions = (".xlsx", ".xlsm")
    magic = ZIP_MAGIC
    streams = False

    def recognise(self, head: bytes, name: str) -> float:
        # A zip whose first parts lie under xl/ is a workbook whatever its name (a .docx has
        # word/, an .ods mimetype); a zip or OLE2 file named .xlsx is one by its name (an
        # OLE2 .xlsx is a password-protected workbook, not sampled).
        if head.startswith(ZIP_MAGIC[0]) and any(n.startswith("xl/") for n in zip_names(head)):
            return CERTAIN
        named = data_extension(name)[0] in self.extensions
        return CERTAIN if named and head.startswith((*ZIP_MAGIC, OLE2_MAGIC)) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        first = read_up_to(source, len(OLE2_MAGIC))
        source.seek(0)
        if first.startswith(OLE2_MAGIC):
            raise NoReaderError(
                "an OLE2 compound file named as an Excel workbook: a password-protected "
                "(encrypted) workbook, as Excel saves one; not sampled (no reader here "
                "decrypts it)"
            )
        try:
            archive = zipfile.ZipFile(source)
        except zipfile.BadZipFile as err:
            raise ValueError(f"not a readable zip archive, as a workbook is: {err}") from None
        with archive, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            book = read_workbook(archive, rows, max_bytes)
        if caught:
            book.notes.setdefault("workbook", f"openpyxl warned: {caught[0].message}")
        return Taken(write_workbook(book), describe_workbook(book))


def zip_names(head: bytes) -> list[str]:
    """The names of the zip entries whose local headers lie in ``head`` (a file's first
    bytes), in file order, up to the first whose size is not in its header."""
    names: list[str] = []
    at = 0
    while at + _LOCAL_HEADER.size <= len(head):
        magic, _, flags, _, _, _, _, size, _, name_len, extra_len = _LOCAL_HEADER.unpack_from(
            head, at
        )
        if magic != ZIP_MAGIC[0]:
            break
        start = at + _LOCAL_HEADER.size
        names.append(head[start : start + name_len].decode("utf-8", "replace"))
        if flags & 0x08 or size == 0xFFFFFFFF:  # sizes in a data descriptor, or zip64
            break
        at = start + name_len + extra_len + size
    return names


@dataclass
class Sheet:
    """One sheet as sampled: its name and state (``visible``, ``hidden``, ``veryHidden``),
    its ``kind`` (``worksheet``, ``chartsheet``), the rows taken (the header first, then the
    records), each as its row number and its cells by column number (1 for A), and how many
    cells of the rows read hold a formula."""

    name: str
    state: str
    kind: str = "worksheet"
    rows: list[tuple[int, dict[int, Any]]] = field(default_factory=list)
    formulas: int = 0

    @property
    def header_row(self) -> int:
        """The row number of the header; 0: the sheet has no cells."""
        return self.rows[0][0] if self.rows else 0

    @property
    def header(self) -> dict[int, Any]:
        return self.rows[0][1] if self.rows else {}

    @property
    def records(self) -> list[dict[int, Any]]:
        return [cells for _, cells in self.rows[1:]]

    @property
    def width(self) -> int:
        """The number of columns, A to the last one any kept cell is in."""
        return max((max(cells) for _, cells in self.rows), default=0)


@dataclass
class Book:
    """A workbook as sampled: its sheets in order, its date system, its workbook part's
    content type, and what is odd about it (``notes``, by topic)."""

    sheets: list[Sheet]
    date1904: bool
    macros: bool
    notes: dict[str, str] = field(default_factory=dict)


class _SpentError(Exception):
    """The read cap of a part was reached."""


class _Capped(io.RawIOBase):
    """A part's decompressed bytes, of which at most ``budget.left`` are handed out (past
    that: :class:`_SpentError`); ``budget.left`` goes down by what is read."""

    def __init__(self, inner: IO[bytes], budget: _Budget) -> None:
        self.inner, self.budget = inner, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.budget.left <= 0:
            raise _SpentError
        data = self.inner.read(min(len(buffer), self.budget.left))
        buffer[: len(data)] = data
        self.budget.left -= len(data)
        return len(data)


@dataclass
class _Budget:
    left: int


class _SharedRef:
    """A cell's shared string, by its index in the table (resolved once rows are taken)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _LazyStrings:
    """What the worksheet parser looks shared strings up in: each index, as a reference."""

    def __getitem__(self, index: int) -> _SharedRef:
        return _SharedRef(index)


class _SheetParser(WorkSheetParser):
    """openpyxl's worksheet parser, counting the cells that hold a formula."""

    formulas = 0

    def parse_cell(self, element: Element) -> dict[str, Any]:
        if element.find(f"{{{SHEET_MAIN_NS}}}f") is not None:
            self.formulas += 1
        cell: dict[str, Any] = super().parse_cell(element)
        return cell


def _part(archive: zipfile.ZipFile, name: str, max_bytes: int) -> bytes:
    """A small part of the workbook, whole, if it is at most ``max_bytes``."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"the workbook has no part {name!r}") from None
    if info.file_size > max_bytes:
        raise ValueError(
            f"part {name!r} is {info.file_size:,} bytes, more than the {max_bytes:,}-byte read cap"
        )
    return archive.read(info)


def read_workbook(archive: zipfile.ZipFile, rows: int, max_bytes: int) -> Book:
    """The sheets of the workbook in ``archive``, each with its header and first ``rows``
    records, in bounded bytes (see the module's docstring)."""
    manifest: Any = _MANIFEST.from_tree(fromstring(_part(archive, ARC_CONTENT_TYPES, max_bytes)))
    # Some writers name the workbook part's type only as the default of its extension.
    defaults = {d.ContentType for d in manifest.Default}
    if manifest.find(XLSB) is not None or XLSB in defaults:
        raise NoReaderError(
            "a binary workbook (.xlsb): recognised, not sampled (its parts are not XML, and "
            "no well-kept library here writes .xlsb)"
        )
    types = (XLSX, XLSM, XLTX, XLTM)
    part = next((p for ct in types if (p := manifest.find(ct))), None)
    if part is not None:
        workbook_path, content_type = part.PartName[1:], part.ContentType
    elif defaults & set(types):
        workbook_path, content_type = ARC_WORKBOOK, (defaults & set(types)).pop()
    else:
        raise ValueError(f"{ARC_CONTENT_TYPES} names no Excel workbook part")
    for name in (workbook_path, _rels_path(workbook_path)):
        _part(archive, name, max_bytes)  # openpyxl reads them whole: their size is checked
    parser = WorkbookParser(archive, workbook_path, keep_links=False)
    parser.parse()
    book = Book([], parser.wb.epoch == CALENDAR_MAC_1904, "macroEnabled" in content_type)
    if not parser.sheets:
        raise ValueError(f"{workbook_path} lists no sheets")
    date_formats, timedelta_formats = _number_formats(archive, max_bytes)
    budget = _Budget(max_bytes)
    cut: list[str] = []
    for entry in parser.sheets:
        rel = parser.rels.get(entry.id) if entry.id else None
        if rel is None:
            raise ValueError(f"sheet {entry.name!r} has no relationship in {workbook_path}")
        sheet = Sheet(entry.name, entry.state or "visible")
        book.sheets.append(sheet)
        if "chartsheet" in rel.Type:
            sheet.kind = "chartsheet"
            continue
        if rel.target not in archive.NameToInfo:
            raise ValueError(f"sheet {entry.name!r}: its part {rel.target!r} is missing")
        if budget.left <= 0:
            cut.append(entry.name)
            continue
        with archive.open(rel.target) as stream:
            source = _Capped(stream, budget)
            reader = _SheetParser(
                source,
                cast(Any, _LazyStrings()),
                data_only=True,
                epoch=parser.wb.epoch,
                date_formats=date_formats,
                timedelta_formats=timedelta_formats,
            )
            try:
                _take_rows(sheet, reader.parse(), rows)
            except _SpentError:
                cut.append(entry.name)
            except ParseError as err:
                raise ValueError(f"sheet {entry.name!r} ({rel.target}): {err}") from None
            sheet.formulas = reader.formulas
    if cut:
        book.notes["cut"] = (
            f"the first {max_bytes:,} bytes of sheet XML end before all records were read: "
            f"sheet(s) {', '.join(repr(n) for n in cut)} hold fewer rows (or none)"
        )
    _resolve_strings(archive, manifest, book, max_bytes)
    return book


def _number_formats(archive: zipfile.ZipFile, max_bytes: int) -> tuple[set[int], set[int]]:
    """The cell styles whose number format is a date or time, and a duration, as openpyxl
    reads them."""
    if ARC_STYLE not in archive.NameToInfo:
        return set(), set()
    styles = _STYLESHEET.from_tree(fromstring(_part(archive, ARC_STYLE, max_bytes)))
    return set(styles.date_formats), set(styles.timedelta_formats)


def _take_rows(sheet: Sheet, parsed: Iterator[tuple[int, list[dict[str, Any]]]], rows: int) -> None:
    """The header (the first row with a value) and the next ``rows`` rows with a value
    (empty text is no value; a shared string is taken to be one until it is read)."""
    for number, cells in parsed:
        values = {c["column"]: c["value"] for c in cells if c["value"] not in (None, "")}
        if not values:
            continue
        sheet.rows.append((number, values))
        if len(sheet.rows) > rows:
            return


def _resolve_strings(archive: zipfile.ZipFile, manifest: Any, book: Book, max_bytes: int) -> None:
    """Replace each kept cell's shared-string reference by its text, read from the table's
    head: up to the highest index used, in at most ``max_bytes`` of XML."""
    rows = [cells for sheet in book.sheets for _, cells in sheet.rows]
    wanted = {v.index for cells in rows for v in cells.values() if isinstance(v, _SharedRef)}
    if not wanted:
        return
    part = manifest.find(SHARED_STRINGS)
    path = part.PartName[1:] if part is not None else "xl/sharedStrings.xml"
    if path not in archive.NameToInfo:
        raise ValueError(f"cells refer to shared strings, but the workbook has no {path}")
    highest = max(wanted)
    texts: dict[int, str] = {}
    index = 0
    with archive.open(path) as stream:
        try:
            for _, node in iterparse(_Capped(stream, _Budget(max_bytes))):
                if node.tag != _SI:
                    continue
                if index in wanted:
                    texts[index] = _TEXT.from_tree(node).content.replace("x005F_", "")
                node.clear()
                index += 1
                if index > highest:
                    break
        except _SpentError:
            raise ValueError(
                f"the sample's cells use shared string {highest:,}, but only {index:,} "
                f"strings lie in the first {max_bytes:,} bytes of {path} (the table is not "
                "in first-use order)"
            ) from None
        except ParseError as err:
            raise ValueError(f"{path}: {err}") from None
    if index <= highest:
        raise ValueError(f"cells use shared string {highest:,}; {path} holds {index:,}")
    for cells in rows:
        for column, value in list(cells.items()):
            if isinstance(value, _SharedRef):
                cells[column] = texts[value.index]
                if not cells[column]:  # empty text is no value
                    del cells[column]
    for sheet in book.sheets:
        # A row of empty shared strings only is blank: the header is the first row left.
        sheet.rows = [(number, cells) for number, cells in sheet.rows if cells]


def write_workbook(book: Book) -> bytes:
    """The sample: an ``.xlsx`` with the book's sheets, each its header row and records."""
    out = Workbook(write_only=True)
    for sheet in book.sheets:
        ws = out.create_sheet(sheet.name)
        ws.sheet_state = sheet.state
        width = sheet.width
        for _, cells in sheet.rows:
            ws.append([_cell(ws, cells.get(column), book) for column in range(1, width + 1)])
    data = io.BytesIO()
    out.save(data)
    return data.getvalue()


def _cell(ws: Any, value: Any, book: Book) -> Any:
    if value is None:
        return None
    cell = WriteOnlyCell(ws)
    try:
        cell.value = value
    except IllegalCharacterError:
        book.notes.setdefault(
            "characters", "text with control characters an .xlsx cannot hold: left out of it"
        )
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if cell.data_type == "f":  # text that starts with "=" is text, not a formula, here
        cell.data_type = "s"
    return cell


def _type(values: list[Any]) -> str:
    """The type every value of a column has (``Null``: none has one); numbers of both kinds
    are ``Float64``, dates with times ``Datetime``, any other mix ``String``."""
    kinds = {_kind(v) for v in values if v is not None}
    if len(kinds) <= 1:
        return kinds.pop() if kinds else "Null"
    for mix, name in (({"Int64", "Float64"}, "Float64"), ({"Date", "Datetime"}, "Datetime")):
        if kinds == mix:
            return name
    return "String"


def _kind(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return "Datetime"
    if isinstance(value, dt.date):
        return "Date"
    if isinstance(value, dt.time):
        return "Time"
    if isinstance(value, dt.timedelta):
        return "Duration"
    return json_type([value])


def describe_workbook(book: Book) -> Contents:
    """What the sample holds: every sheet's columns as ``sheet!header``, all records, the
    first records under their own sheet's columns, and the ``xlsx`` entry."""
    columns: list[tuple[str, str]] = []
    head: list[tuple[str, ...]] = []
    listed: list[JSON] = []
    size = 0
    total_width = sum(sheet.width for sheet in book.sheets)
    for sheet in book.sheets:
        offset, width = len(columns), sheet.width
        schema = [
            (
                display(sheet.header.get(col)),
                _type([cells.get(col) for cells in sheet.records]),
            )
            for col in range(1, width + 1)
        ]
        columns += [(f"{sheet.name}!{name}", dtype) for name, dtype in schema]
        for cells in sheet.records[: HEAD_ROWS - len(head)]:
            row = [""] * total_width
            for col, value in cells.items():
                row[offset + col - 1] = display(value)
            head.append(tuple(row))
        if len(listed) < MAX_LISTED_SHEETS:
            entry: dict[str, JSON] = {
                "name": sheet.name,
                "state": sheet.state,
                "kind": sheet.kind,
                "header_row": sheet.header_row,
                "rows": len(sheet.records),
                "columns": width,
                "last_column": get_column_letter(width) if width else "",
                "formulas": sheet.formulas,
            }
            size += len(json.dumps(entry))
            listed_schema = [[name, dtype] for name, dtype in schema]
            schema_size = len(json.dumps(listed_schema))
            if size + schema_size <= MAX_ENTRY_BYTES:
                entry["schema"] = listed_schema  # type: ignore[assignment]
                size += schema_size
            else:
                entry["schema"] = "not listed here (see dagster/column_schema)"
            listed.append(entry)
    metadata: dict[str, JSON] = {
        "xlsx": {
            "sheets": listed,
            "sheet_count": len(book.sheets),
            "date_system": 1904 if book.date1904 else 1900,
            "formulas": "cached values, as Excel last computed them; the formulas are not kept",
            "not_kept": NOT_KEPT + (" (the VBA project of this .xlsm)" if book.macros else ""),
        }
    }
    rows = sum(len(sheet.records) for sheet in book.sheets)
    return Contents(rows, tuple(columns), tuple(head), dict(book.notes), metadata)
