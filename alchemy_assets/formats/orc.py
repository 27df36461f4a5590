"""ORC (``.orc``, magic ``ORC``): exactly min(N, rows) rows, read from the file's tail and
the first rows of only the stripes that hold them.

The tail (postscript, footer, metadata) says where each stripe starts, how long it is and how
many rows it holds; pyarrow's ORC scanner then reads the first rows of those stripes, a
compression block at a time. The sample is an ORC file of those rows, written by pyarrow with
the file's Arrow schema, compression, compression block size, row index stride and file
version; what cannot be kept (the writer, the stripe size, the user metadata, an ORC type
that Arrow reads as a wider one, such as ``varchar(10)`` as ``string``) is said in the
sample's ``orc`` metadata. Its columns are described with their Arrow types.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.orc as po
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from alchemy_assets.file_formats import data_extension
from alchemy_assets.formats.base import (
    CERTAIN,
    JSON,
    NO,
    Options,
    Source,
    Taken,
    binary_after,
)
from alchemy_assets.formats.bounded import BoundedReader, OverBudgetError
from alchemy_assets.formats.parquet import describe_table

MAGIC = b"ORC"
# The compressions pyarrow's ORC writer writes (ORCFile.compression names them in upper case).
WRITABLE = ("UNCOMPRESSED", "ZLIB", "SNAPPY", "LZ4", "ZSTD")
# pyarrow's ORC writer takes compression block sizes that are multiples of this only.
MEMORY_BLOCK = 64 * 1024
# ORC's type kinds (orc_proto.proto, Type.Kind), as Hive writes them.
KINDS = (
    "boolean",
    "tinyint",
    "smallint",
    "int",
    "bigint",
    "float",
    "double",
    "string",
    "binary",
    "timestamp",
    "array",
    "map",
    "struct",
    "uniontype",
    "decimal",
    "date",
    "varchar",
    "char",
    "timestamp with local time zone",
)
# How much of a user metadata value the sample's metadata shows.
SHOWN_VALUE = 500


def _tail_message() -> type[Message]:
    """The part of ORC's ``FileTail`` message (orc_proto.proto) that says where the stripes
    are and what the column types are: pyarrow hands the tail over serialized, and says
    neither. Fields left out are skipped, as protobuf skips unknown fields."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="alchemy_orc_tail.proto", package="alchemy_orc", syntax="proto2"
    )
    field = descriptor_pb2.FieldDescriptorProto
    u64, u32, text, nested = (
        field.TYPE_UINT64,
        field.TYPE_UINT32,
        field.TYPE_STRING,
        field.TYPE_MESSAGE,
    )
    one, many = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    messages: dict[str, list[tuple[int, str, Any, Any, str]]] = {
        "StripeInformation": [
            (1, "offset", u64, one, ""),
            (2, "indexLength", u64, one, ""),
            (3, "dataLength", u64, one, ""),
            (4, "footerLength", u64, one, ""),
            (5, "numberOfRows", u64, one, ""),
        ],
        "Type": [
            (1, "kind", u32, one, ""),
            (2, "subtypes", u32, many, ""),
            (3, "fieldNames", text, many, ""),
            (4, "maximumLength", u32, one, ""),
            (5, "precision", u32, one, ""),
            (6, "scale", u32, one, ""),
        ],
        "Footer": [
            (3, "stripes", nested, many, ".alchemy_orc.StripeInformation"),
            (4, "types", nested, many, ".alchemy_orc.Type"),
        ],
        "FileTail": [(2, "footer", nested, one, ".alchemy_orc.Footer")],
    }
    for name, fields in messages.items():
        message = proto.message_type.add(name=name)
        for number, field_name, kind, label, type_name in fields:
            added = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    found: type[Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("alchemy_orc.FileTail")
    )
    return found


_FILE_TAIL = _tail_message()


@dataclasses.dataclass(frozen=True)
class Stripe:
    """Where one stripe lies in the file, and how many rows it holds."""

    offset: int
    length: int
    rows: int


@dataclasses.dataclass(frozen=True)
class Tail:
    """What an ORC file's tail says: its stripes, and its top-level columns' ORC types."""

    stripes: tuple[Stripe, ...]
    types: tuple[tuple[str, str], ...]


def read_tail(serialized: bytes) -> Tail:
    """The stripes and column types of the serialized ``FileTail`` pyarrow hands over."""
    try:
        tail: Any = _FILE_TAIL.FromString(serialized)
    except DecodeError as err:
        raise ValueError(f"the ORC file's tail cannot be decoded: {err}") from None
    footer = tail.footer
    stripes = tuple(
        Stripe(s.offset, s.indexLength + s.dataLength + s.footerLength, s.numberOfRows)
        for s in footer.stripes
    )
    types = list(footer.types)
    columns: tuple[tuple[str, str], ...] = ()
    if types:
        root = types[0]
        columns = tuple(
            (name, _type_name(types, sub, 0))
            for name, sub in zip(root.fieldNames, root.subtypes, strict=False)
        )
    return Tail(stripes, columns)


def _type_name(types: list[Any], index: int, depth: int) -> str:
    """An ORC type as Hive writes it (``struct<a:int,b:varchar(10)>``)."""
    if index >= len(types) or depth > 100:
        return "?"
    kind = types[index]
    name = KINDS[kind.kind] if kind.kind < len(KINDS) else f"kind {kind.kind}"
    children = [_type_name(types, sub, depth + 1) for sub in kind.subtypes]
    if name == "decimal":
        return f"decimal({kind.precision},{kind.scale})"
    if name in ("varchar", "char"):
        return f"{name}({kind.maximumLength})"
    if name == "struct":
        fields = ",".join(f"{n}:{c}" for n, c in zip(kind.fieldNames, children, strict=False))
        return f"struct<{fields}>"
    if children:
        return f"{name}<{','.join(children)}>"
    return name


class OrcReader:
    """ORC: the first N rows, with the file's schema and compression."""

    kind = "orc"
    extensions = (".orc",)
    magic = (MAGIC,)
    streams = False

    def recognise(self, head: bytes, name: str) -> float:
        if not head.startswith(MAGIC):
            return NO
        # ORC is text: a file not named ORC must have binary data after it.
        named = data_extension(name)[0] in self.extensions
        return CERTAIN if named or binary_after(head, len(MAGIC)) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        bounded = BoundedReader(source, max_bytes)
        try:
            orc = po.ORCFile(bounded)
        except OverBudgetError as err:
            raise ValueError(f"the ORC file's tail is too large to read: {err}") from None
        except (pa.ArrowInvalid, OSError) as err:
            if bounded.refused is not None:
                raise ValueError(
                    f"the ORC file's tail is too large to read: {bounded.refused}"
                ) from None
            raise ValueError(
                f"not a readable ORC file (truncated, or its tail is corrupt): {err}"
            ) from None
        tail = read_tail(orc.reader.serialized_file_tail())
        table, stripes_read = _first_rows(bounded, orc, tail, rows)
        data = write_orc(table, orc)
        sample_tail = read_tail(po.ORCFile(pa.BufferReader(data)).reader.serialized_file_tail())
        entry = orc_metadata(orc, tail, sample_tail, stripes_read)
        return Taken(data, dataclasses.replace(describe_table(table), metadata={"orc": entry}))


def _first_rows(
    bounded: BoundedReader, orc: po.ORCFile, tail: Tail, rows: int
) -> tuple[pa.Table, int]:
    """The first ``rows`` rows of the file, and how many stripes they come from."""
    needed, covered = 0, 0
    for stripe in tail.stripes:
        if covered >= rows:
            break
        needed += 1
        covered += stripe.rows
    batches: list[pa.RecordBatch] = []
    taken = 0
    if needed:
        fragment = ds.OrcFileFormat().make_fragment(bounded)
        scanner = ds.Scanner.from_fragment(
            fragment, batch_size=rows, use_threads=False, batch_readahead=0, fragment_readahead=0
        )
        reader = scanner.to_reader()
        try:
            while taken < rows:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                batches.append(batch.slice(0, rows - taken))
                taken += batches[-1].num_rows
        except (pa.ArrowException, OSError) as err:
            raise _reading_failed(bounded, tail, taken, err) from None
        finally:
            # Closing the scanner reads the rest of the file (and left to the garbage
            # collector, its I/O threads outlive the file): stop the reads first.
            bounded.stop()
            with contextlib.suppress(pa.ArrowException, OSError):
                reader.close()
    return pa.Table.from_batches(batches, schema=orc.schema), needed


def _reading_failed(bounded: BoundedReader, tail: Tail, taken: int, err: Exception) -> ValueError:
    refused = bounded.refused
    if refused is None:
        return ValueError(f"corrupt ORC stripe data, unreadable after {taken} rows: {err}")
    found = [(i, s) for i, s in enumerate(tail.stripes) if refused.offset < s.offset + s.length]
    if not found:
        return ValueError(f"the ORC file's tail is too large to read: {refused}")
    index, stripe = found[0]
    return ValueError(
        f"stripe {index} ({stripe.length} bytes at offset {stripe.offset}, {stripe.rows} rows): "
        f"reading its first rows takes more than the {refused.limit} bytes a sample may read "
        f"({refused})"
    )


def write_orc(table: pa.Table, orc: po.ORCFile) -> bytes:
    """``table`` as an ORC file written as ``orc`` was, as far as pyarrow's writer can."""
    compression = orc.compression if orc.compression in WRITABLE else "UNCOMPRESSED"
    out = pa.BufferOutputStream()
    # Every type pyarrow reads from ORC, its ORC writer writes.
    po.write_table(
        table,
        out,
        compression=compression.lower(),
        compression_block_size=_block_size(orc),
        row_index_stride=orc.row_index_stride or 10000,
        file_version=orc.file_version if orc.file_version in ("0.11", "0.12") else "0.12",
    )
    return bytes(out.getvalue().to_pybytes())


def _block_size(orc: po.ORCFile) -> int:
    size: int = orc.compression_size
    return size if size and size % MEMORY_BLOCK == 0 else MEMORY_BLOCK


def orc_metadata(orc: po.ORCFile, tail: Tail, sample: Tail, stripes_read: int) -> JSON:
    """The ``orc`` metadata entry of a sample of ``orc``: how the file was written, and what
    of that its sample (whose tail is ``sample``) does not keep."""
    user = {
        key.decode("utf-8", "replace"): _shown(value) for key, value in (orc.metadata or {}).items()
    }
    not_kept = [
        f"writer: the sample's is pyarrow's ORC C++ writer (the file's: "
        f"{orc.software_version or orc.writer}, {orc.writer_version})",
        "stripe size: the sample's stripes are pyarrow's (64 MiB)",
    ]
    if user:
        not_kept.append("user metadata: pyarrow's ORC writer writes none")
    if orc.compression not in WRITABLE:
        not_kept.append(f"compression {orc.compression}: pyarrow writes none; uncompressed")
    if _block_size(orc) != orc.compression_size:
        not_kept.append(
            f"compression block size {orc.compression_size}: pyarrow writes multiples of "
            f"{MEMORY_BLOCK} only; {MEMORY_BLOCK}"
        )
    if orc.file_version not in ("0.11", "0.12"):
        not_kept.append(f"file version {orc.file_version}: written as 0.12")
    kept = dict(sample.types)
    for name, orc_type in tail.types:
        if kept.get(name, orc_type) != orc_type:
            not_kept.append(f"column {name!r}: ORC type {orc_type} written as {kept[name]}")
    return {
        "compression": orc.compression,
        "compression_block_size": orc.compression_size,
        "stripes_read": stripes_read,
        "stripes": orc.nstripes,
        "file_rows": orc.nrows,
        "writer": orc.writer,
        "writer_version": orc.writer_version,
        "software_version": orc.software_version,
        "file_version": orc.file_version,
        "row_index_stride": orc.row_index_stride,
        "types": dict(tail.types),
        "user_metadata": user,
        "not_kept": not_kept,
    }


def _shown(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    return text if len(text) <= SHOWN_VALUE else text[:SHOWN_VALUE] + "…"
