"""Per-dataset staging options, read from an optional ``alchemy.toml`` in the dataset root.

```toml
sample_rows = 100               # rows per sample
sensor_interval_seconds = 30    # minimum time between sensor ticks
max_lines_per_tick = 10000      # manifest lines one sensor tick (or stage cycle) reads
partitions_per_run = 500        # most partitions sampled by one Dagster run
bronze_events = true            # record each sampled file's bronze partition (path, mtime,
                                # size): one more stored Dagster event per file
asset_checks = true             # evaluate the sample's consistency and schema_drift checks:
                                # two more stored Dagster events per file
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

OPTIONS_NAME = "alchemy.toml"


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

    @classmethod
    def load(cls, root: Path) -> StagingOptions:
        """The options in ``root/alchemy.toml``, or the defaults where it is absent."""
        path = root / OPTIONS_NAME
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise OptionsError(f"{path}: not valid TOML: {err}") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise OptionsError(
                f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        for key, value in data.items():
            if isinstance(getattr(cls, key), bool):
                if not isinstance(value, bool):
                    raise OptionsError(f"{path}: {key} must be true or false, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionsError(f"{path}: {key} must be a positive integer, got {value!r}")
        return cls(**data)
