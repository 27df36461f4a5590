"""Arrow IPC (``.arrow .arrows .ipc .feather``): the file format (magic ``ARROW1``; Feather
v2 is this format), the stream format (no magic: it starts with the Schema message) and
Feather v1 (magic ``FEA1``). Exactly min(N, rows) rows, from the first record batches only.

An IPC file is read through its footer, which says where each record batch lies: only the
batches that hold the first N rows are read. A stream is read front to back, so also from
inside a compression; an IPC file inside a compression is read as the stream every IPC file
holds after its magic. The sample is in the file's own format (file, stream, Feather v1),
with its schema and schema metadata, its footer's and batches' custom metadata, the same
batch boundaries up to the Nth row, its metadata version and the compression of its
buffers (LZ4 or zstd: pyarrow says it of no file it reads, so it is read from the first
batch message's own header). Feather v1 stores each column whole, not in batches: it is
sampled only if the whole file fits in what a sample may read, and is otherwise not sampled.
Columns are described with their Arrow types.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import warnings
from typing import Any

import flatbuffers.table
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc

from alchemy_assets.file_formats import data_extension
from alchemy_assets.formats.base import (
    CERTAIN,
    JSON,
    NO,
    NoReaderError,
    Options,
    Source,
    Taken,
    binary_after,
)
from alchemy_assets.formats.bounded import BoundedReader, OverBudgetError
from alchemy_assets.formats.parquet import describe_table
from alchemy_assets.formats.records import read_up_to

FILE_MAGIC = b"ARROW1"
FEATHER_V1_MAGIC = b"FEA1"
# Before each message of a stream since Arrow 0.15; older (legacy) streams have none.
CONTINUATION = b"\xff\xff\xff\xff"
# Message.header_type (Message.fbs): which message a flatbuffer is.
SCHEMA, DICTIONARY_BATCH, RECORD_BATCH = 1, 2, 3
# BodyCompression.codec (Message.fbs), as pyarrow names it.
CODECS = {0: "lz4", 1: "zstd"}
# The custom metadata key that held the codec before BodyCompression (Arrow 0.17 to 1.0).
EXPERIMENTAL_CODEC = b"ARROW:experimental_compression"
# MetadataVersion (Schema.fbs): V1 = 0 ... V5 = 4; pyarrow writes V4 and V5.
VERSIONS = {3: ipc.MetadataVersion.V4, 4: ipc.MetadataVersion.V5}
# A stream's first bytes kept to find the compression in its first batch's header.
KEPT_PREFIX = 4 * 1024 * 1024
# How much of a metadata value the sample's metadata shows.
SHOWN_VALUE = 500


@dataclasses.dataclass(frozen=True)
class Header:
    """What an IPC message's flatbuffer header says: which message, its metadata version,
    its body's length and, of a (dictionary) batch, the codec of its buffers."""

    kind: int
    version: int
    body_length: int
    codec: str | None


def message_header(metadata: bytes) -> Header:
    """The header of an IPC message whose flatbuffer is ``metadata`` (Message.fbs: Message
    fields version 0, header_type 1, header 2, bodyLength 3, custom_metadata 4; RecordBatch
    field compression 3; DictionaryBatch field data 1; BodyCompression field codec 0,
    LZ4_FRAME by default). Arrow 0.17 to 1.0 said the codec in the message's custom
    metadata instead (``ARROW:experimental_compression``)."""
    try:
        root = flatbuffers.table.Table(metadata, struct.unpack_from("<I", metadata)[0])
        version = _scalar(root, 0, "<h", 0)
        kind = _scalar(root, 1, "<B", 0)
        body_length = _scalar(root, 3, "<q", 0)
        codec = None
        header = _child(root, 2)
        if header is not None and kind == DICTIONARY_BATCH:
            header = _child(header, 1)
        if header is not None and kind in (DICTIONARY_BATCH, RECORD_BATCH):
            compression = _child(header, 3)
            if compression is not None:
                code = _scalar(compression, 0, "<b", 0)
                codec = CODECS.get(code, f"codec {code}")
            else:
                codec = _experimental_codec(root)
    except (struct.error, IndexError) as err:
        raise ValueError(f"an Arrow IPC message header that is not a flatbuffer: {err}") from None
    return Header(kind, version, body_length, codec)


def _experimental_codec(message: Any) -> str | None:
    offset = message.Offset(4 + 2 * 4)
    if not offset:
        return None
    start, count = message.Vector(offset), message.VectorLen(offset)
    for index in range(count):
        pair = flatbuffers.table.Table(message.Bytes, message.Indirect(start + 4 * index))
        key, value = pair.Offset(4), pair.Offset(6)
        if key and value and pair.String(pair.Pos + key) == EXPERIMENTAL_CODEC:
            name = bytes(pair.String(pair.Pos + value)).decode("ascii", "replace").lower()
            return {"lz4_frame": "lz4"}.get(name, name)
    return None


def _scalar(table: Any, field: int, fmt: str, default: int) -> int:
    offset = table.Offset(4 + 2 * field)
    if not offset:
        return default
    value: int = struct.unpack_from(fmt, table.Bytes, table.Pos + offset)[0]
    return value


def _child(table: Any, field: int) -> Any:
    offset = table.Offset(4 + 2 * field)
    if not offset:
        return None
    return flatbuffers.table.Table(table.Bytes, table.Indirect(table.Pos + offset))


@dataclasses.dataclass(frozen=True)
class Framing:
    """How a stream frames its messages: its metadata version, whether it is in the legacy
    format (no continuation marker, before Arrow 0.15) and the codec of its first batch."""

    version: int
    legacy: bool
    codec: str | None


def stream_framing(read_at: Any, start: int) -> Framing:
    """The framing of the IPC stream at ``start``, read with ``read_at(offset, size)``: its
    Schema message, then the messages up to the first (dictionary) batch, bodies skipped."""
    position, version, legacy = start, 4, False
    for index in range(1 << 16):
        prefix = read_at(position, 4)
        if len(prefix) < 4:
            break
        if index == 0:
            legacy = prefix != CONTINUATION
        if prefix == CONTINUATION:
            prefix = read_at(position + 4, 4)
            position += 4
        (length,) = struct.unpack("<i", prefix.ljust(4, b"\0"))
        if length <= 0:
            break  # the end-of-stream marker: no batch
        header = message_header(read_at(position + 4, length))
        if index == 0:
            if header.kind != SCHEMA:
                raise ValueError(
                    f"an Arrow IPC stream starts with its Schema message; this one's first "
                    f"message is of type {header.kind}"
                )
            version = header.version
        if header.kind in (DICTIONARY_BATCH, RECORD_BATCH):
            return Framing(version, legacy, header.codec)
        position += 4 + length + header.body_length
    return Framing(version, legacy, None)


def starts_as_stream(head: bytes) -> bool:
    """Whether ``head`` starts as an IPC stream does: a Schema message (after a continuation
    marker, or in the legacy format without one), as far as ``head`` holds it."""
    start = 4 if head.startswith(CONTINUATION) else 0
    if len(head) < start + 8:
        return False
    (length,) = struct.unpack_from("<i", head, start)
    if length < 8:
        return False
    metadata = head[start + 4 : start + 4 + length]
    if len(metadata) < length:
        # A schema longer than the head (very many columns): its framing must do.
        return bool(start)
    try:
        header = message_header(metadata)
    except ValueError:
        return False
    return header.kind == SCHEMA and 0 <= header.version <= 4


class _Prefixed(io.RawIOBase):
    """``first`` (bytes already read from ``rest``), then the rest of ``rest``; the bytes
    handed out, up to ``keep``, are kept in ``kept``."""

    def __init__(self, first: bytes, rest: io.RawIOBase, keep: int) -> None:
        self.first, self.rest, self.keep = first, rest, keep
        self.kept = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.first:
            count = min(len(buffer), len(self.first))
            buffer[:count] = self.first[:count]
            self.first = self.first[count:]
        else:
            count = self.rest.readinto(buffer) or 0
        if len(self.kept) < self.keep:
            self.kept += bytes(memoryview(buffer)[:count])[: self.keep - len(self.kept)]
        return count


@dataclasses.dataclass
class _Read:
    """The first batches of an IPC file or stream, and what the sample is written with."""

    schema: pa.Schema
    batches: list[tuple[pa.RecordBatch, pa.KeyValueMetadata | None]]
    framing: Framing
    footer: pa.KeyValueMetadata | None = None
    total_batches: int | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


class ArrowReader:
    """Arrow IPC file and stream, Feather v1 and v2: the first N rows, with the file's
    schema, metadata and buffer compression."""

    kind = "arrow"
    extensions = (".arrow", ".arrows", ".ipc", ".feather")
    magic = (FILE_MAGIC, FEATHER_V1_MAGIC)
    streams = True

    def recognise(self, head: bytes, name: str) -> float:
        named = data_extension(name)[0] in self.extensions
        for magic in self.magic:
            # Both magics are text: a file not named Arrow must have binary data after it.
            if head.startswith(magic) and (named or binary_after(head, len(magic))):
                return CERTAIN
        # A stream has no magic: its name and its first message must both say so.
        return CERTAIN if named and starts_as_stream(head) else NO

    def sample(self, source: Source, rows: int, *, max_bytes: int, options: Options) -> Taken:
        bounded = BoundedReader(source, max_bytes)
        head = read_up_to(bounded, 8)
        try:
            if head.startswith(FEATHER_V1_MAGIC):
                return _feather_v1(bounded, head, rows, max_bytes)
            if head.startswith(FILE_MAGIC) and bounded.seekable():
                kind, read = "file", _read_file(bounded, rows)
            elif head.startswith(FILE_MAGIC):
                kind, read = "file", _read_stream(bounded, b"", rows)
                read.notes.append("footer metadata: not read (the file was read as a stream)")
            else:
                kind, read = "stream", _read_stream(bounded, head, rows)
        except OverBudgetError as err:
            raise ValueError(f"the first {rows} rows are too large to read: {err}") from None
        data = _write(kind, read)
        table = pa.Table.from_batches([b for b, _ in read.batches], schema=read.schema)
        entry: dict[str, JSON] = {
            "format": kind,
            "compression": read.framing.codec,
            "batches_read": len(read.batches),
            "batches": read.total_batches,
            "metadata_version": f"V{read.framing.version + 1}",
            "schema_metadata": _shown(read.schema.metadata),
        }
        if kind == "stream":
            entry["legacy_format"] = read.framing.legacy
        if read.footer:
            entry["footer_metadata"] = _shown(read.footer)
        if read.notes:
            entry["not_kept"] = list(read.notes)
        contents = describe_table(table)
        return Taken(data, dataclasses.replace(contents, metadata={"arrow": entry}))


def _read_file(bounded: BoundedReader, rows: int) -> _Read:
    """The first batches of an IPC file, through its footer."""
    try:
        reader = ipc.open_file(bounded)
    except OverBudgetError as err:
        raise ValueError(f"the Arrow IPC file's footer is too large to read: {err}") from None
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(
            f"not a readable Arrow IPC file (truncated, or its footer is corrupt): {err}"
        ) from None

    def read_at(offset: int, size: int) -> bytes:
        bounded.seek(offset)
        return read_up_to(bounded, size)

    framing = stream_framing(read_at, 8)
    read = _Read(reader.schema, [], framing, reader.metadata, reader.num_record_batches)
    taken = 0
    for index in range(reader.num_record_batches):
        if taken >= rows:
            break
        try:
            batch, custom = reader.get_batch_with_custom_metadata(index)
            batch.validate(full=True)
        except OverBudgetError as err:
            raise ValueError(f"record batch {index} is too large to read: {err}") from None
        except (pa.ArrowException, OSError) as err:
            raise ValueError(f"record batch {index} of the Arrow IPC file: {err}") from None
        read.batches.append((batch.slice(0, rows - taken), custom))
        taken += read.batches[-1][0].num_rows
    return read


def _read_stream(bounded: BoundedReader, head: bytes, rows: int) -> _Read:
    """The first batches of an IPC stream (``head``: its first bytes, already read)."""
    if bounded.seekable():
        bounded.seek(len(head) if head.startswith(FILE_MAGIC) else 0)
        source: io.RawIOBase = bounded
    else:
        first = b"" if head.startswith(FILE_MAGIC) else head
        source = _Prefixed(first, bounded, KEPT_PREFIX)
    try:
        reader = ipc.open_stream(source)
    except OverBudgetError:
        raise
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"not a readable Arrow IPC stream: {err}") from None
    read = _Read(reader.schema, [], Framing(4, False, None))
    taken, index = 0, 0
    while taken < rows:
        try:
            batch, custom = reader.read_next_batch_with_custom_metadata()
            batch.validate(full=True)
        except StopIteration:
            break
        except OverBudgetError as err:
            raise ValueError(f"record batch {index} is too large to read: {err}") from None
        except (pa.ArrowException, OSError) as err:
            raise ValueError(
                f"record batch {index} of the Arrow IPC stream (after {taken} rows): {err}"
            ) from None
        read.batches.append((batch.slice(0, rows - taken), custom))
        taken += read.batches[-1][0].num_rows
        index += 1
    read.framing = _framing_of(source, bounded, head)
    return read


def _framing_of(source: io.RawIOBase, bounded: BoundedReader, head: bytes) -> Framing:
    start = len(head) if head.startswith(FILE_MAGIC) else 0
    if isinstance(source, _Prefixed):
        kept = bytes(source.kept)
        return stream_framing(lambda offset, size: kept[offset : offset + size], 0)

    def read_at(offset: int, size: int) -> bytes:
        bounded.seek(offset)
        return read_up_to(bounded, size)

    return stream_framing(read_at, start)


def _write(kind: str, read: _Read) -> bytes:
    """The sample: the batches read, in the format ``kind`` (``file`` or ``stream``)."""
    version = VERSIONS.get(read.framing.version)
    if version is None:
        read.notes.append(f"metadata version V{read.framing.version + 1}: written as V5")
        version = ipc.MetadataVersion.V5
    options = ipc.IpcWriteOptions(
        compression=read.framing.codec,
        metadata_version=version,
        use_legacy_format=read.framing.legacy,
    )
    out = pa.BufferOutputStream()
    writer = (
        ipc.new_file(out, read.schema, options=options, metadata=read.footer)
        if kind == "file"
        else ipc.new_stream(out, read.schema, options=options)
    )
    with writer:
        for batch, custom in read.batches:
            writer.write_batch(batch, custom_metadata=custom)
    return bytes(out.getvalue().to_pybytes())


def _feather_v1(bounded: BoundedReader, head: bytes, rows: int, max_bytes: int) -> Taken:
    """A Feather v1 file: whole, if it fits in ``max_bytes``; its first ``rows`` rows."""
    whole = (
        f"Feather v1 (FEA1) stores each column whole, not in batches: its first rows are read "
        f"with the whole file, which is larger than the {max_bytes} bytes a sample may read"
    )
    if bounded.seekable():
        size = bounded.seek(0, io.SEEK_END)
        if size > max_bytes:
            raise NoReaderError(f"{whole} ({size} bytes)")
        bounded.seek(len(head))
    data = head + read_up_to(bounded, max_bytes - len(head))
    if len(data) >= max_bytes and not bounded.seekable():
        raise NoReaderError(whole)
    with warnings.catch_warnings():
        # pyarrow deprecates Feather v1 (25.0), and still reads and writes it.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            table = feather.read_table(pa.BufferReader(data)).slice(0, rows)
        except pa.ArrowNotImplementedError as err:
            raise NoReaderError(f"Feather v1 (FEA1): pyarrow reads it no more: {err}") from None
        except pa.ArrowException as err:
            raise ValueError(f"not a readable Feather v1 file: {err}") from None
        out = io.BytesIO()
        feather.write_feather(table, out, version=1)
    entry: dict[str, JSON] = {
        "format": "feather v1",
        "compression": None,
        "batches_read": 1,
        "batches": 1,
        "schema_metadata": _shown(table.schema.metadata),
    }
    contents = describe_table(table)
    return Taken(out.getvalue(), dataclasses.replace(contents, metadata={"arrow": entry}))


def _shown(metadata: pa.KeyValueMetadata | dict[bytes, bytes] | None) -> dict[str, JSON]:
    """Key-value metadata as text, each value cut at :data:`SHOWN_VALUE` characters."""
    shown: dict[str, JSON] = {}
    for key, value in (metadata or {}).items():
        text = value.decode("utf-8", "replace")
        cut = text if len(text) <= SHOWN_VALUE else text[:SHOWN_VALUE] + "…"
        shown[key.decode("utf-8", "replace")] = cut
    return shown
