"""Formats configured per file pattern: what a dataset's configuration says of how its files
are written, where detection should not guess (``alchemy.toml`` ``[formats]``, ``defs.yaml``
``formats:``).

```toml
[formats]
"env0/*.txt" = { format = "csv", delimiter = "|", header = true, encoding = "cp1252" }
"env1/**/*.dat" = { delimiter = "\\u0001", quotechar = "" }
```

A pattern is matched against the file's path under ``raw/`` (its partition path, e.g.
``env0/sub/gics.txt``) as a glob (wcmatch): ``*`` and ``?`` match within one folder, ``**``
any number of folders, ``[...]`` a set of characters. Every rule whose pattern matches
applies, in the order written (``defs.yaml``'s ``defaults``, then its dataset entry, then
``alchemy.toml``), a later rule's key overriding an earlier one's, as in ``.gitattributes``.
A configured option beats what is detected from the file's bytes.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

from wcmatch import glob

# The kinds a file can be configured as (the kinds :mod:`alchemy_assets.formats` reads).
FORMATS = ("csv", "tsv", "lines", "jsonl", "json", "parquet", "avro", "orc", "arrow", "xlsx", "zip")
# Patterns as wcmatch globs: ``**`` any folders, names starting with a dot matched by ``*``.
_GLOB = glob.GLOBSTAR | glob.DOTGLOB


@dataclass(frozen=True)
class FormatOptions:
    """How the files of one pattern are written; ``None``: detected from the bytes.

    ``format``: one of :data:`FORMATS` (``csv``: delimited text, of any delimiter; ``tsv``:
    tab-delimited; ``lines``: one record per line, no fields). ``delimiter``, ``quotechar``,
    ``escapechar``: one character each (``""``: no quoting, no escape character).
    ``header``: whether the first record after the preamble names the columns.
    ``preamble_lines``: lines of titles and notes above the header. ``encoding``: a codec
    Python knows (``utf-8``, ``cp1252``, ``utf-16``, ...). ``records``: for a JSON
    document, the key whose array holds its records (``data``; ``response.items`` for an
    array nested in objects, each key named).
    """

    format: str | None = None
    delimiter: str | None = None
    quotechar: str | None = None
    escapechar: str | None = None
    header: bool | None = None
    preamble_lines: int | None = None
    encoding: str | None = None
    records: str | None = None

    def over(self, base: FormatOptions) -> FormatOptions:
        """``base`` with the options set here."""
        return replace(base, **self.to_dict())  # type: ignore[arg-type]  # same fields

    def to_dict(self) -> dict[str, str | bool | int]:
        """The options set, by name."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @property
    def fingerprint(self) -> str | None:
        """12 hex digits that change when any option set changes; None when none is set."""
        options = self.to_dict()
        if not options:
            return None
        text = json.dumps(options, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class FormatRule:
    """The options configured for the files whose path under ``raw/`` matches ``pattern``."""

    pattern: str
    options: FormatOptions

    def matches(self, env_path: str) -> bool:
        return bool(glob.globmatch(env_path, self.pattern, flags=_GLOB))


def options_for(rules: Iterable[FormatRule], env_path: str) -> FormatOptions:
    """What ``rules`` configure for the file at ``env_path`` (e.g. ``env0/gics.txt``)."""
    options = FormatOptions()
    for rule in rules:
        if rule.matches(env_path):
            options = rule.options.over(options)
    return options


def fingerprint_for(rules: Sequence[FormatRule], env_path: str) -> str | None:
    """The fingerprint of what ``rules`` configure for the file at ``env_path``; None when
    they configure nothing for it (no rules at all: nothing to match)."""
    return options_for(rules, env_path).fingerprint if rules else None


def rules_fingerprint(rules: Iterable[FormatRule]) -> str | None:
    """12 hex digits that change when any rule changes; None without rules."""
    listed = [[rule.pattern, rule.options.to_dict()] for rule in rules]
    if not listed:
        return None
    text = json.dumps(listed, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_rules(table: object) -> tuple[FormatRule, ...]:
    """The rules of a ``formats`` table (pattern → options); raise ``ValueError`` naming the
    pattern and the key that cannot be used."""
    if not isinstance(table, Mapping):
        raise ValueError(f"formats must be a table of pattern = {{ options }}, got {table!r}")
    rules = []
    for pattern, options in table.items():
        where = f"formats.{json.dumps(pattern, ensure_ascii=False)}"
        if not isinstance(pattern, str) or not pattern or pattern.startswith("/"):
            raise ValueError(f"{where}: a pattern is a relative path under raw/, e.g. env0/*.txt")
        if not isinstance(options, Mapping):
            raise ValueError(f"{where} must be a table of options, got {options!r}")
        rules.append(FormatRule(pattern, parse_options(options, where)))
    return tuple(rules)


def parse_options(options: Mapping[str, object], where: str) -> FormatOptions:
    """One pattern's options, checked key by key (``where`` names them in errors)."""
    known = [f.name for f in fields(FormatOptions)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"{where}: unknown option(s) {', '.join(map(str, unknown))}; known: "
            f"{', '.join(sorted(known))}"
        )
    for key, value in options.items():
        problem = _problem(key, value)
        if problem:
            raise ValueError(f"{where}: {key} {problem}")
    return FormatOptions(**options)  # type: ignore[arg-type]  # each key checked above


def _problem(key: str, value: object) -> str | None:
    if key == "format":
        return None if value in FORMATS else f"must be one of {', '.join(FORMATS)}, got {value!r}"
    if key == "header":
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if key == "preamble_lines":
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1000
        return None if ok else f"must be an integer from 0 to 1,000, got {value!r}"
    if key == "records":
        ok = isinstance(value, str) and all(value.split("."))
        return None if ok else f"must be a key, or keys joined by dots (data.items), got {value!r}"
    if key == "encoding":
        if not isinstance(value, str):
            return f"must be the name of an encoding, got {value!r}"
        try:
            codecs.lookup(value)
        except LookupError:
            return f"must be the name of an encoding Python knows, got {value!r}"
        return None
    # delimiter, quotechar, escapechar: one character; quote and escape may be "" (none).
    empty_ok = key != "delimiter"
    if not isinstance(value, str) or len(value) > 1 or (not value and not empty_ok):
        what = "one character" + (', or "" for none' if empty_ok else "")
        return f"must be {what}, got {value!r}"
    if value in ("\r", "\n"):
        return f"cannot be a line ending, got {value!r}"
    return None
