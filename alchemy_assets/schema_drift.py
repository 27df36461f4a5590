"""Schema drift between samples: which columns a sample added, removed or retyped.

A schema is the ordered ``(column name, type name)`` pairs of one sample, as recorded in its
``dagster/column_schema`` metadata (type names as :mod:`alchemy_assets.formats.text` gives
them, e.g. ``Int64``, ``String``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Schema = tuple[tuple[str, str], ...]


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
    seen: Counter[str] = Counter()
    labelled = []
    for name, dtype in schema:
        label = name or "(no name)"
        seen[label] += 1
        labelled.append((label if seen[label] == 1 else f"{label} #{seen[label]}", dtype))
    return tuple(labelled)


@dataclass(frozen=True)
class SchemaDiff:
    """What changed from an ``old`` schema to a ``new`` one, each list in the new (or old) order.

    ``added`` and ``removed`` hold ``{"name", "type"}``; ``retyped`` holds ``{"name", "old",
    "new"}``. A column that only moved is not a change.
    """

    added: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    retyped: list[dict[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    def summary(self) -> str:
        """``+2 added, -1 removed, ~1 retyped`` (only the non-empty parts), or ``no change``."""
        parts = [
            f"{sign}{len(items)} {label}"
            for sign, items, label in (
                ("+", self.added, "added"),
                ("-", self.removed, "removed"),
                ("~", self.retyped, "retyped"),
            )
            if items
        ]
        return ", ".join(parts) or "no change"

    def markdown(self) -> str:
        """A Markdown table with one row per changed column."""
        rows = [f"| added | `{c['name']}` | | {c['type']} |" for c in self.added]
        rows += [f"| removed | `{c['name']}` | {c['type']} | |" for c in self.removed]
        rows += [f"| retyped | `{c['name']}` | {c['old']} | {c['new']} |" for c in self.retyped]
        if not rows:
            return "_no change_"
        return "\n".join(["| change | column | was | now |", "|---|---|---|---|", *rows])


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


def prevailing_schema(schemas: Sequence[Schema]) -> tuple[Schema | None, int]:
    """The schema strictly more common than any other in ``schemas``, and how many have it.

    ``(None, 0)`` when ``schemas`` is empty or the most common schemas tie: no schema prevails.
    Column order does not count (``a, b`` and ``b, a`` are one schema).
    """
    counts = Counter(_unordered(schema) for schema in schemas)
    ranked = counts.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None, 0
    winner, count = ranked[0]
    first = next(schema for schema in schemas if _unordered(schema) == winner)
    return first, count


def _unordered(schema: Schema) -> frozenset[tuple[str, str]]:
    return frozenset(schema)


@dataclass(frozen=True)
class Drift:
    """A sample's schema against the previous sample of its partition and the prevailing schema.

    ``previous`` is None when there is no previous sample to compare with; ``prevailing`` is
    None when no schema prevails. ``problems`` says why a comparison could not be made.
    """

    previous: SchemaDiff | None = None
    prevailing: SchemaDiff | None = None
    prevailing_count: int = 0
    compared_partitions: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and not any(
            d is not None and d.changed for d in (self.previous, self.prevailing)
        )

    def description(self) -> str:
        """One line: what changed, against what, or why nothing could be compared."""
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


def check_drift(current: Schema, previous: Schema | None, latest: Sequence[Schema]) -> Drift:
    """Compare ``current`` with ``previous`` (None: first sample) and with the schema that
    prevails in ``latest``, the latest schema of each partition compared (``current`` among them).
    """
    winner, count = prevailing_schema(latest)
    return Drift(
        previous=None if previous is None else diff_schemas(previous, current),
        prevailing=None if winner is None else diff_schemas(winner, current),
        prevailing_count=count,
        compared_partitions=len(latest),
    )
