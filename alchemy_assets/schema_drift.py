"""Schema drift between samples: which columns a sample added, removed or retyped.

A schema is the ordered ``(column name, type name)`` pairs of one sample (type names as
:mod:`alchemy_assets.formats.text` gives them, e.g. ``Int64``, ``String``). A sample's metadata
records a :class:`SchemaRecord` of it: its first columns (``dagster/column_schema``, at most
1,000, names and types cut to :data:`MAX_NAME_CHARS`), how many columns it has in all and a
digest of all of them, so drift is detected over every column of a file of any width, and
listed for the columns recorded.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Schema = tuple[tuple[str, str], ...]
# A recorded column name or type longer than this is cut, and told apart by a hash.
MAX_NAME_CHARS = 200
# Changed columns listed per list (JSON) and per table (Markdown) in a check's metadata.
MAX_LISTED = 100


class SchemaError(ValueError):
    """A recorded column schema that cannot be compared (not a list of named, typed columns)."""


def schema_of(columns: Iterable[tuple[object, object]]) -> Schema:
    """``columns`` as a :data:`Schema`; raise :class:`SchemaError` for a malformed one.

    Names are kept as the file wrote them: empty and repeated names are valid.
    """
    schema = tuple(columns)
    for name, dtype in schema:
        if not isinstance(name, str) or not isinstance(dtype, str) or not dtype:
            raise SchemaError(f"column {name!r} of type {dtype!r} is not a named, typed column")
    return schema  # type: ignore[return-value]  # every pair was checked to be (str, str) above


def _labelled(schema: Schema) -> Schema:
    """``schema`` with each column named uniquely for comparison: the second ``a`` is ``a #2``,
    an empty name is ``(no name)``."""
    names = {name for name, _ in schema}
    if len(names) == len(schema) and "" not in names:
        return schema  # the common case, 200,000 columns in a blink: every name is its label
    seen: Counter[str] = Counter()
    labelled = []
    for name, dtype in schema:
        label = name or "(no name)"
        seen[label] += 1
        labelled.append((label if seen[label] == 1 else f"{label} #{seen[label]}", dtype))
    return tuple(labelled)


def recorded_name(text: str) -> str:
    """A column name or type as a record keeps it: ``text`` itself up to
    :data:`MAX_NAME_CHARS` characters; a longer one cut, ``…~`` and 12 hex digits of its
    SHA-256 (distinct names stay distinct; a recorded name is kept as it is)."""
    if len(text) <= MAX_NAME_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{text[: MAX_NAME_CHARS - 14]}…~{digest}"


def schema_digest(schema: Schema) -> str:
    """The SHA-256 of ``schema``'s columns, order aside (a column that only moved is no
    change; repeated names count by their position among their namesakes)."""
    text = json.dumps(sorted(_labelled(schema)), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class SchemaRecord:
    """A sample's schema as recorded: its first columns (``shown``, names and types as
    :func:`recorded_name` keeps them), how many ``columns`` it has in all, and the
    :func:`schema_digest` of all of them."""

    shown: Schema
    columns: int
    digest: str

    @classmethod
    def of(cls, schema: Schema, shown: int | None = None) -> SchemaRecord:
        """The record of the whole ``schema``, listing its first ``shown`` columns (all)."""
        first = schema if shown is None else schema[:shown]
        return cls(_recorded_names(first), len(schema), schema_digest(schema))

    @classmethod
    def recorded(cls, shown: Schema, columns: int | None, digest: str | None) -> SchemaRecord:
        """A record read back from metadata; without ``columns`` and ``digest`` (a sample
        recorded before they were), ``shown`` is the whole schema."""
        if columns is None or digest is None:
            return cls.of(shown)
        if columns < len(shown):
            raise SchemaError(f"{len(shown)} columns recorded of {columns} in all")
        return cls(_recorded_names(shown), columns, digest)

    @property
    def complete(self) -> bool:
        """Whether every column is recorded in ``shown``."""
        return len(self.shown) == self.columns


def _recorded_names(schema: Schema) -> Schema:
    if max(map(len, itertools.chain.from_iterable(schema)), default=0) <= MAX_NAME_CHARS:
        return schema
    return tuple((recorded_name(name), recorded_name(dtype)) for name, dtype in schema)


@dataclass(frozen=True)
class SchemaDiff:
    """What changed from an ``old`` schema to a ``new`` one, each list in the new (or old) order.

    ``added`` and ``removed`` hold ``{"name", "type"}``; ``retyped`` holds ``{"name", "old",
    "new"}``. A column that only moved is not a change. ``unlisted`` is ``(old columns, new
    columns)`` when the schemas differ where one of them is not recorded column by column:
    the lists then hold only what is certain from the columns recorded.
    """

    added: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    retyped: list[dict[str, str]] = field(default_factory=list)
    unlisted: tuple[int, int] | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped) or self.unlisted is not None

    def summary(self) -> str:
        """``+2 added, -1 removed, ~1 retyped`` (only the non-empty parts), or ``no change``;
        then, if a schema is not recorded whole, that the full schemas differ."""
        parts = [
            f"{sign}{len(items):,} {label}"
            for sign, items, label in (
                ("+", self.added, "added"),
                ("-", self.removed, "removed"),
                ("~", self.retyped, "retyped"),
            )
            if items
        ]
        if self.unlisted is not None:
            parts.append(self._unlisted_text())
        return ", ".join(parts) or "no change"

    def _unlisted_text(self) -> str:
        old, new = self.unlisted or (0, 0)
        return f"full schemas differ ({old:,} → {new:,} columns, not all recorded)"

    def markdown(self, max_rows: int = MAX_LISTED) -> str:
        """A Markdown table with one row per changed column, the first ``max_rows`` of them."""
        rows = [f"| added | `{c['name']}` | | {c['type']} |" for c in self.added]
        rows += [f"| removed | `{c['name']}` | {c['type']} | |" for c in self.removed]
        rows += [f"| retyped | `{c['name']}` | {c['old']} | {c['new']} |" for c in self.retyped]
        if not rows and self.unlisted is None:
            return "_no change_"
        tables = []
        if rows:
            shown = rows[:max_rows]
            tables.append(
                "\n".join(["| change | column | was | now |", "|---|---|---|---|", *shown])
            )
        if len(rows) > max_rows:
            tables.append(f"_first {max_rows:,} of {len(rows):,} changed columns shown_")
        if self.unlisted is not None:
            tables.append(f"_{self._unlisted_text()}_")
        return "\n\n".join(tables)


def diff_schemas(old: Schema, new: Schema) -> SchemaDiff:
    """The columns ``new`` added, removed and retyped compared with ``old``."""
    old, new = _labelled(old), _labelled(new)
    old_types, new_types = dict(old), dict(new)
    return SchemaDiff(
        added=[{"name": n, "type": t} for n, t in new if n not in old_types],
        removed=[{"name": n, "type": t} for n, t in old if n not in new_types],
        retyped=[
            {"name": n, "old": old_types[n], "new": t}
            for n, t in new
            if n in old_types and old_types[n] != t
        ],
    )


def diff_records(old: SchemaRecord, new: SchemaRecord) -> SchemaDiff:
    """The columns ``new`` added, removed and retyped compared with ``old``, decided over
    all columns by their digests, listed where certain from the columns recorded: a column
    is listed as added only if ``old`` is recorded whole, as removed only if ``new`` is."""
    if old.digest == new.digest:
        return SchemaDiff()
    diff = diff_schemas(old.shown, new.shown)
    if old.complete and new.complete:
        return diff
    return SchemaDiff(
        added=diff.added if old.complete else [],
        removed=diff.removed if new.complete else [],
        retyped=diff.retyped,
        unlisted=(old.columns, new.columns),
    )


def prevailing_schema(schemas: Sequence[SchemaRecord]) -> tuple[SchemaRecord | None, int]:
    """The schema strictly more common than any other in ``schemas``, and how many have it.

    ``(None, 0)`` when ``schemas`` is empty or the most common schemas tie: no schema prevails.
    Column order does not count (``a, b`` and ``b, a`` are one schema: one digest).
    """
    counts = Counter(schema.digest for schema in schemas)
    ranked = counts.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None, 0
    winner, count = ranked[0]
    first = next(schema for schema in schemas if schema.digest == winner)
    return first, count


@dataclass(frozen=True)
class Drift:
    """A sample's schema against the previous sample of its partition and the prevailing schema.

    ``previous`` is None when there is no previous sample to compare with; ``prevailing`` is
    None when no schema prevails. ``problems`` says why a comparison could not be made;
    ``nothing``, why there is nothing to compare (a file that is not data has no schema).
    """

    previous: SchemaDiff | None = None
    prevailing: SchemaDiff | None = None
    prevailing_count: int = 0
    compared_partitions: int = 0
    problems: list[str] = field(default_factory=list)
    nothing: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems and not any(
            d is not None and d.changed for d in (self.previous, self.prevailing)
        )

    def description(self) -> str:
        """One line: what changed, against what, or why nothing could be compared."""
        if self.nothing:
            return self.nothing
        parts = list(self.problems)
        if self.previous is None:
            parts.append("no previous sample of this partition")
        elif self.previous.changed:
            parts.append(f"since the previous sample: {self.previous.summary()}")
        if self.prevailing is None:
            parts.append(f"no prevailing schema among {self.compared_partitions} partition(s)")
        elif self.prevailing.changed:
            parts.append(
                f"against the prevailing schema ({self.prevailing_count} of "
                f"{self.compared_partitions} partitions): {self.prevailing.summary()}"
            )
        if self.passed:
            parts.insert(0, "schema unchanged")
        return "; ".join(parts)


def check_drift(
    current: SchemaRecord, previous: SchemaRecord | None, latest: Sequence[SchemaRecord]
) -> Drift:
    """Compare ``current`` with ``previous`` (None: first sample) and with the schema that
    prevails in ``latest``, the latest schema of each partition compared (``current`` among them).
    """
    winner, count = prevailing_schema(latest)
    return Drift(
        previous=None if previous is None else diff_records(previous, current),
        prevailing=None if winner is None else diff_records(winner, current),
        prevailing_count=count,
        compared_partitions=len(latest),
    )
