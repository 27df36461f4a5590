"""Per-dataset staging options, read from an optional ``alchemy.toml`` in the dataset root.

Each key of ``alchemy.toml`` overrides the same option of the base it is loaded over (the
project's defaults for the dataset, see :meth:`StagingOptions.load`); a key it leaves out keeps
the base's value.

```toml
sample_rows = 100               # rows per sample (1 to 1,000,000)
sensor_interval_seconds = 30    # minimum time between sensor ticks (1 to 86,400: a day)
max_lines_per_tick = 10000      # manifest lines one sensor tick (or stage cycle) reads
                                # (1 to 100,000: a tick stays well inside Dagster's 60 s
                                # sensor timeout)
partitions_per_run = 500        # most partitions sampled by one Dagster run (1 to 10,000)
bronze_events = true            # record each sampled file's bronze partition (path, mtime,
                                # size): one more stored Dagster event per file
asset_checks = true             # evaluate the sample's consistency and schema_drift checks:
                                # two more stored Dagster events per file
max_attempts = 3                # attempts at a file whose sample fails, in the same run
                                # (1 to 10; 1: no retry)
retry_delay_seconds = 10        # wait before the 2nd attempt, doubled before each next one
                                # (0 to 3,600)
compare = "quick"               # how `alchemy ingest` tells a changed raw file: "quick"
                                # (mtime and size, rsync's quick check) or "checksum" (also
                                # the SHA-256 of files whose mtime and size are unchanged,
                                # rsync -c: reads every raw file on every ingest)

[formats]                       # how files are written, per pattern under raw/ (see
                                # alchemy_assets/format_options.py); beats detection
"env0/*.txt" = { format = "csv", delimiter = "|", header = true, encoding = "cp1252" }
```

Anything else (invalid TOML, an unknown key, a value of the wrong type or out of its range,
an ``alchemy.toml`` that is a folder or a dangling link) is an :class:`OptionsError` naming
the file and the key.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from alchemy_assets.format_options import FormatRule, parse_rules

OPTIONS_NAME = "alchemy.toml"

# The largest value of each integer option (the smallest is 1). Beyond them a sample, a tick
# or a run no longer does what the option promises (a sample of 2^63 rows ended in a panic
# of the Parquet reader; a tick past Dagster's 60 s sensor timeout never completes).
MAXIMUM = {
    "sample_rows": 1_000_000,
    "sensor_interval_seconds": 86_400,
    "max_lines_per_tick": 100_000,
    "partitions_per_run": 10_000,
    "max_attempts": 10,
    "retry_delay_seconds": 3_600,
}
# The smallest value of an integer option, where it is not 1.
MINIMUM = {"retry_delay_seconds": 0}
# The values a text option takes.
CHOICES = {"compare": ("quick", "checksum")}


class OptionsError(ValueError):
    """An ``alchemy.toml`` that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class StagingOptions:
    """How one dataset is staged."""

    sample_rows: int = 100
    sensor_interval_seconds: int = 30
    max_lines_per_tick: int = 10_000
    partitions_per_run: int = 500
    bronze_events: bool = True
    asset_checks: bool = True
    max_attempts: int = 3
    retry_delay_seconds: int = 10
    compare: str = "quick"
    # The configured formats: the base's rules, then each layer's (later rules win).
    formats: tuple[FormatRule, ...] = ()

    def __post_init__(self) -> None:
        for option in fields(self):
            if option.name == "formats":
                continue
            problem = _problem(option.name, getattr(self, option.name))
            if problem:
                raise ValueError(problem)

    def load(self, root: Path) -> StagingOptions:
        """These options, overridden key by key by those in ``root/alchemy.toml`` (if any)."""
        path = root / OPTIONS_NAME
        return self.loaded(_read(path), str(path))

    def loaded(self, text: str | None, path: str) -> StagingOptions:
        """These options, overridden by the ``alchemy.toml`` text ``text`` (None: there is
        none) read from ``path`` (a file or an object's URL: what errors name)."""
        if text is None:
            return self
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise OptionsError(f"{path}: not valid TOML: {err}") from None
        known = {f.name for f in fields(self)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise OptionsError(
                f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if "formats" in data:
            try:
                data["formats"] = self.formats + parse_rules(data["formats"])
            except ValueError as err:
                raise OptionsError(f"{path}: {err}") from None
        for key, value in data.items():
            problem = None if key == "formats" else _problem(key, value)
            if problem:
                raise OptionsError(f"{path}: {problem}")
        return replace(self, **data)


def _problem(key: str, value: object) -> str | None:
    """What is wrong with ``value`` for option ``key``, or None."""
    if key in CHOICES:
        choices = CHOICES[key]
        if value in choices:
            return None
        return f"{key} must be one of {', '.join(map(repr, choices))}, got {value!r}"
    if isinstance(getattr(StagingOptions, key), bool):
        return None if isinstance(value, bool) else f"{key} must be true or false, got {value!r}"
    minimum, maximum = MINIMUM.get(key, 1), MAXIMUM[key]
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        return f"{key} must be an integer from {minimum} to {maximum:,}, got {value!r}"
    return None


def _read(path: Path) -> str | None:
    """The text of ``path``, None if there is no such file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            raise OptionsError(
                f"{path}: a symbolic link to {os.readlink(path)}, which does not exist"
            ) from None
        return None
    except OSError as err:
        raise OptionsError(f"{path}: cannot be read: {err.strerror}") from None
    if stat.S_ISDIR(mode):
        raise OptionsError(f"{path}: a directory, not a file")
    if not stat.S_ISREG(mode):
        raise OptionsError(f"{path}: not a regular file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise OptionsError(f"{path}: not valid TOML: not UTF-8 ({err})") from None
    except OSError as err:
        raise OptionsError(f"{path}: cannot be read: {err.strerror}") from None
