"""Avro object container files (``.avro``, magic ``Obj\\x01``): the first N records, read from
the header and the first blocks only.

The sample is the file's own header byte for byte (its schema JSON as written, its codec, its
user metadata and its sync marker) and one block holding the first min(N, records) records
exactly as they are encoded in the file, compressed again with the file's codec by fastavro.
No record is decoded and encoded again, so decimals, timestamps, bytes, unions and named
types come out as they went in. A header-only file (no records) gives the header alone.

The header is read with fastavro; each block's framing (record count, byte size, data, the
header's 16-byte sync marker) is read here so that what a sample reads stays bounded: at most
``max_bytes`` of the file, a block is read only whole, and a block is decompressed to at most
``max_bytes`` (deflate, bzip2, xz and zstandard stop there; a snappy or lz4 block says its
size first). Records are told apart by decoding them with fastavro against the header's schema,
its logical types left out so that a value no Python type holds (a date past year 9999) is
still a record. The first block over the cap is refused, naming its size; a later one ends the
sample there (note ``cut``). A block cut short, a sync marker that is not the header's,
corrupt compressed data or a record the schema does not decode fail with the block's number
and offset.

Columns: a record schema's fields, each with its type as a person reads it: primitives by
name (``long``, ``string``), logical types by theirs (``timestamp-millis``, ``decimal(10, 2)``,
``uuid``), a union of null and one type as that type with ``?`` (``["null", "string"]`` is
``string?``), any other union as ``union<int, string>``, ``array<...>``, ``map<...>``, and
named types as ``record Name{field: type, ...}``, ``enum Name{A, B}``, ``fixed Name(16)``
where defined, by name where referred to. A schema that is not a record has one column,
``value``.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cramjam
import fastavro
import lz4.block
from fastavro.write import Writer

from alchemy_assets.formats.base import (
    CERTAIN,
    HEAD_ROWS,
    JSON,
    NO,
    Contents,
    Options,
    Source,
    Taken,
    display,
)
from alchemy_assets.formats.compression import zstd
from alchemy_assets.metadata_bounds import cut_text

MAGIC = b"Obj\x01"
SYNC_SIZE = 16
# The container header, as the Avro specification defines it.
HEADER_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "org.apache.avro.file.Header",
        "fields": [
            {"name": "magic", "type": {"type": "fixed", "name": "Magic", "size": 4}},
            {"name": "meta", "type": {"type": "map", "values": "bytes"}},
            {"name": "sync", "type": {"type": "fixed", "name": "Sync", "size": SYNC_SIZE}},
        ],
    }
)
# The codecs the specification defines, and lz4, which fastavro writes too.
CODECS = ("null", "deflate", "bzip2", "snappy", "xz", "zstandard", "lz4")
# Logical types shown by their own name; another is shown after its underlying type.
KNOWN_LOGICAL = (
    "decimal",
    "big-decimal",
    "uuid",
    "date",
    "time-millis",
    "time-micros",
    "timestamp-millis",
    "timestamp-micros",
    "timestamp-nanos",
    "local-timestamp-millis",
    "local-timestamp-micros",
    "local-timestamp-nanos",
    "duration",
)
# Characters of one user metadata value kept in the ``avro`` metadata entry.
META_VALUE_CHARS = 500


class AvroReader:
    """Avro object container files: the header as written and the first N records."""

    kind = "avro"
    extensions = (".avro",)
    magic = (MAGIC,)
    streams = True  # read front to back: also inside a compression

    def recognise(self, head: bytes, name: str) -> float:
        return CERTAIN if head.startswith(MAGIC) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        return avro_head(source, rows, max_bytes)


def _decode(source: Any, schema: Any) -> Any:
    """One value of ``schema`` read from ``source`` by fastavro (any file-like object: the
    capped source, a block's bytes)."""
    return fastavro.schemaless_reader(source, schema, None)


class _OverCapError(Exception):
    """A read that would take the bytes read past the cap."""

    def __init__(self, wanted: int) -> None:
        super().__init__(wanted)
        self.wanted = wanted


class _Capped(io.RawIOBase):
    """``source`` read front to back, its offset counted here (a decompressing stream has
    none), refusing any read that would take it past ``max_bytes``; while ``keeping``, the
    bytes read are kept (the header, copied into the sample)."""

    def __init__(self, source: Source, max_bytes: int) -> None:
        self.source, self.max_bytes = source, max_bytes
        self.offset = 0
        self.keeping = True
        self.kept = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise ValueError("an Avro file is read in known sizes")
        if self.offset + size > self.max_bytes:
            raise _OverCapError(size)
        parts: list[bytes] = []
        got = 0
        while got < size:
            chunk = self.source.read(size - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        data = b"".join(parts)
        self.offset += len(data)
        if self.keeping:
            self.kept += data
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class Header:
    """A container's header: its bytes as written, its schema (the JSON as written, and
    parsed by fastavro with and without logical types), codec, user metadata and sync
    marker."""

    data: bytes
    schema: Any
    parsed: Any
    plain: Any
    codec: str
    user: dict[str, str]
    sync: bytes


def read_header(source: _Capped) -> Header:
    """The header at the start of ``source``, checked: magic, a schema fastavro parses, a
    codec it reads, metadata it can write into a sample."""
    try:
        header = _decode(source, HEADER_SCHEMA)
    except Exception as err:
        _not_avro(source.kept)
        if isinstance(err, _OverCapError):
            raise ValueError(
                f"the header is over the {source.max_bytes:,} bytes a sample reads "
                f"(a read of {err.wanted:,} bytes at offset {source.offset:,})"
            ) from None
        if isinstance(err, EOFError | IndexError):
            raise ValueError(
                f"the header is cut short: the file ends at byte {source.offset:,}"
            ) from None
        raise ValueError(f"the header is corrupt ({type(err).__name__}: {err})") from None
    _not_avro(source.kept)
    meta: dict[str, bytes] = header["meta"]
    text: dict[str, str] = {}
    for key, value in meta.items():
        try:
            text[key] = value.decode()
        except UnicodeDecodeError:
            raise ValueError(
                f"the header's metadata {key!r} is not UTF-8 text, which fastavro cannot "
                "read or write"
            ) from None
    if "avro.schema" not in text:
        raise ValueError("the header has no avro.schema")
    try:
        schema = json.loads(text["avro.schema"])
    except ValueError as err:
        raise ValueError(f"the header's avro.schema is not valid JSON ({err})") from None
    try:
        parsed = fastavro.parse_schema(schema)
        plain = fastavro.parse_schema(without_logical_types(schema))
    except Exception as err:  # fastavro's SchemaParseException, UnknownType, ...
        raise ValueError(
            f"the header's avro.schema is not a schema fastavro reads: {type(err).__name__}: {err}"
        ) from None
    codec = text.get("avro.codec", "null")
    if codec not in CODECS:
        raise ValueError(f"the header's codec {codec!r} is none of {', '.join(CODECS)}")
    user = {key: value for key, value in text.items() if not key.startswith("avro.")}
    return Header(bytes(source.kept), schema, parsed, plain, codec, user, header["sync"])


def _not_avro(first: bytes | bytearray) -> None:
    if bytes(first[: len(MAGIC)]) != MAGIC:
        raise ValueError(f"not an Avro container: it starts {bytes(first[:8])!r}, not {MAGIC!r}")


def without_logical_types(schema: Any) -> Any:
    """``schema`` (JSON) with every ``logicalType`` left out: the types values are stored
    as. Defaults are left as written (they are data)."""
    if isinstance(schema, list):
        return [without_logical_types(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "logicalType":
            continue
        if key in ("type", "items", "values"):
            out[key] = without_logical_types(value)
        elif key == "fields" and isinstance(value, list):
            out[key] = [without_logical_types(f) for f in value]
        else:
            out[key] = value
    return out


@dataclass
class _Block:
    """A block as fastavro's ``Writer.write_block`` takes it: records encoded, uncompressed."""

    num_records: int
    bytes_: io.BytesIO


def avro_head(source: Source, rows: int, max_bytes: int) -> Taken:
    """The header and first ``rows`` records of the Avro container ``source``, reading at
    most ``max_bytes`` of it."""
    capped = _Capped(source, max_bytes)
    header = read_header(capped)
    capped.keeping = False
    records: list[bytes] = []
    blocks = 0
    cut = ""
    while len(records) < rows:
        number, offset = blocks + 1, capped.offset
        try:
            block = _next_block(capped, header, number, max_bytes)
        except _OverCapError as err:
            if blocks == 0:
                raise ValueError(
                    f"block 1 at offset {offset:,} is {err.wanted:,} bytes, over the "
                    f"{max_bytes:,} bytes a sample reads"
                ) from None
            cut = f"within the first {max_bytes:,} bytes of the file"
            break
        if block is None:
            break
        blocks += 1
        taken, short = _records(block, header, rows - len(records), number)
        records += taken
        if short:
            cut = f"within the first {max_bytes:,} decompressed bytes of block {number}"
            break
    if cut and not records:
        raise ValueError(f"no record ends {cut}")
    data = _write(header, records)
    contents = describe(header, records, blocks)
    if cut:
        contents.notes["cut"] = (
            f"only {len(records)} of the first {rows} records end {cut}; the sample holds those"
        )
    return Taken(data, contents)


@dataclass(frozen=True)
class _Read:
    """One block: its number, offset, record count and data, decompressed (``complete``:
    all of it, not only the first ``max_bytes``)."""

    number: int
    offset: int
    count: int
    data: bytes
    complete: bool


def _next_block(source: _Capped, header: Header, number: int, max_bytes: int) -> _Read | None:
    """Block ``number``, starting at the source's offset; None at the end of the file."""
    offset = source.offset
    where = f"block {number} at offset {offset:,}"
    try:
        count = _decode(source, "long")
    except (EOFError, IndexError):
        if source.offset == offset:
            return None  # the file ends after a whole block: its end
        raise ValueError(f"{where} is cut short: the file ends inside its record count") from None
    try:
        size = _decode(source, "long")
    except (EOFError, IndexError):
        raise ValueError(f"{where} is cut short: the file ends inside its byte size") from None
    if count < 0 or size < 0:
        raise ValueError(f"{where} is corrupt: it holds {count} records in {size} bytes")
    if source.offset + size + SYNC_SIZE > max_bytes:
        raise _OverCapError(size)
    data = source.read(size)
    if len(data) < size:
        raise ValueError(
            f"{where} is cut short: it holds {size:,} bytes, the file ends after {len(data):,}"
        )
    sync = source.read(SYNC_SIZE)
    if len(sync) < SYNC_SIZE:
        raise ValueError(f"{where} is cut short: the file ends before its sync marker")
    if sync != header.sync:
        raise ValueError(
            f"{where}: the {SYNC_SIZE} bytes after its {size:,} bytes are not the header's "
            "sync marker (a corrupt block, or a wrong block size)"
        )
    try:
        plain, complete = DECOMPRESS[header.codec](data, max_bytes)
    except Exception as err:  # zlib.error, LZMAError, cramjam's and lz4's errors, ...
        raise ValueError(f"{where}: its {header.codec} data is corrupt ({err})") from None
    return _Read(number, offset, count, plain, complete)


def _records(block: _Read, header: Header, wanted: int, number: int) -> tuple[list[bytes], bool]:
    """The first ``wanted`` records of ``block``, each as encoded, and whether they stop
    short of it because the block was decompressed only in part."""
    stream = io.BytesIO(block.data)
    taken: list[bytes] = []
    for index in range(min(block.count, wanted)):
        start = stream.tell()
        try:
            _decode(stream, header.plain)
        except Exception as err:
            if not block.complete:
                return taken, True  # the record runs past what was decompressed
            raise ValueError(
                f"block {number} at offset {block.offset:,}, record {index + 1} of "
                f"{block.count}: not what the header's schema says ({type(err).__name__}: {err})"
            ) from None
        end = stream.tell()
        if not block.complete and end >= len(block.data):
            return taken, True  # it may go on past what was decompressed
        taken.append(block.data[start:end])
    return taken, False


def _write(header: Header, records: list[bytes]) -> bytes:
    """The sample: the header as written, then one block of ``records`` in its codec."""
    out = io.BytesIO()
    out.write(header.data)
    if records:
        # On a file object holding a header, fastavro's Writer appends: the header's
        # schema, codec and sync marker.
        writer = Writer(out, header.schema)
        writer.write_block(_Block(len(records), io.BytesIO(b"".join(records))))
        writer.flush()
    return out.getvalue()


def describe(header: Header, records: list[bytes], blocks: int) -> Contents:
    """An Avro sample: its columns with their Avro types, its first records as text, and
    the ``avro`` metadata entry (codec, schema name, user metadata, blocks read)."""
    schema = header.schema
    notes: dict[str, str] = {}
    fields = _fields(schema)
    head: list[tuple[str, ...]] = []
    for index, record in enumerate(records[:HEAD_ROWS]):
        try:
            value = _decode(io.BytesIO(record), header.parsed)
        except Exception as err:  # a logical type whose value Python cannot hold
            value = _decode(io.BytesIO(record), header.plain)
            notes.setdefault(
                "unshown",
                f"record {index + 1}: a logical value is shown as stored "
                f"({type(err).__name__}: {err})",
            )
        if fields is None:
            head.append((display(value),))
        else:
            head.append(tuple(display(value.get(name)) for name, _ in fields))
    columns = (("value", avro_type(schema)),) if fields is None else tuple(fields)
    name, namespace = _names(schema)
    entry: dict[str, JSON] = {
        "codec": header.codec,
        "type": _kind(schema),
        "name": name,
        "namespace": namespace,
        "metadata": {k: cut_text(v, META_VALUE_CHARS) for k, v in header.user.items()},
        "blocks_read": blocks,
    }
    return Contents(len(records), columns, tuple(head), notes, {"avro": entry})


def _names(schema: Any) -> tuple[str | None, str | None]:
    """A named schema's name and namespace, from its full name where it has one (a name
    with dots: its namespace is then ignored, says the specification)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
        return None, None
    name: str = schema["name"]
    if "." in name:
        space, _, short = name.rpartition(".")
        return short, space
    namespace = schema.get("namespace")
    return name, namespace if isinstance(namespace, str) and namespace else None


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return str(schema.get("type"))
    return str(schema)


def _fields(schema: Any) -> list[tuple[str, str]] | None:
    """A record schema's fields as (name, type); None for any other schema."""
    if not isinstance(schema, dict) or schema.get("type") not in ("record", "error"):
        return None
    return [(str(f.get("name")), avro_type(f.get("type"))) for f in schema.get("fields", [])]


def avro_type(schema: Any) -> str:
    """An Avro type (schema JSON) as a person reads it (see the module's docstring)."""
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        if len(schema) == 2 and schema.count("null") == 1:
            other = schema[1] if schema[0] == "null" else schema[0]
            return f"{avro_type(other)}?"
        return f"union<{', '.join(avro_type(branch) for branch in schema)}>"
    if not isinstance(schema, dict):
        return json.dumps(schema)
    kind, logical = schema.get("type"), schema.get("logicalType")
    if logical == "decimal":
        return f"decimal({schema.get('precision')}, {schema.get('scale', 0)})"
    if logical in KNOWN_LOGICAL:
        return str(logical)
    if logical is not None:
        return f"{avro_type(without_logical_types(schema))} ({logical})"
    name = schema.get("name")
    if kind in ("record", "error"):
        fields = ", ".join(f"{name_}: {type_}" for name_, type_ in _fields(schema) or [])
        return f"record {name}{{{fields}}}"
    if kind == "enum":
        return f"enum {name}{{{', '.join(map(str, schema.get('symbols', [])))}}}"
    if kind == "fixed":
        return f"fixed {name}({schema.get('size')})"
    if kind == "array":
        return f"array<{avro_type(schema.get('items'))}>"
    if kind == "map":
        return f"map<{avro_type(schema.get('values'))}>"
    return avro_type(kind)


# Each codec's block, decompressed to at most ``limit`` bytes: the bytes and whether they
# are all of it.
Decompress = Callable[[bytes, int], tuple[bytes, bool]]


def _stored(data: bytes, limit: int) -> tuple[bytes, bool]:
    return data[:limit], len(data) <= limit


def _deflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    stream = zlib.decompressobj(-15)  # raw deflate, no zlib header
    out = stream.decompress(data, limit)
    if stream.unconsumed_tail:
        return out, False
    if not stream.eof:
        raise ValueError("the deflate stream ends before its last block")
    return out, True


def _streams(make: Callable[[], Any]) -> Decompress:
    """A decompressor of concatenated bzip2, xz or zstandard streams, bounded."""

    def decompress(data: bytes, limit: int) -> tuple[bytes, bool]:
        out = bytearray()
        rest = data
        while rest:
            stream = make()
            out += stream.decompress(rest, limit - len(out))
            if not stream.eof:
                if len(out) >= limit:
                    return bytes(out), False
                raise ValueError("the compressed stream ends before its end marker")
            rest = stream.unused_data
            if rest and len(out) >= limit:
                return bytes(out), False
        return bytes(out), True

    return decompress


def _snappy(data: bytes, limit: int) -> tuple[bytes, bool]:
    # Each block's snappy data is followed by the CRC-32 of the data it decompresses to.
    body, crc = data[:-4], data[-4:]
    if len(crc) < 4:
        raise ValueError("shorter than its CRC-32")
    size = cramjam.snappy.decompress_raw_len(body)
    if size > limit:
        return b"", False
    out = bytes(cramjam.snappy.decompress_raw(body))
    if zlib.crc32(out) != int.from_bytes(crc, "big"):
        raise ValueError("the CRC-32 of the decompressed data is not the one stored")
    return out, True


def _lz4(data: bytes, limit: int) -> tuple[bytes, bool]:
    # fastavro's lz4 blocks start with the size they decompress to (little-endian).
    size = int.from_bytes(data[:4], "little")
    if size > limit:
        return b"", False
    out: bytes = lz4.block.decompress(data)
    return out, True


DECOMPRESS: dict[str, Decompress] = {
    "null": _stored,
    "deflate": _deflate,
    "bzip2": _streams(bz2.BZ2Decompressor),
    "xz": _streams(lzma.LZMADecompressor),
    "zstandard": _streams(zstd.ZstdDecompressor),
    "snappy": _snappy,
    "lz4": _lz4,
}
