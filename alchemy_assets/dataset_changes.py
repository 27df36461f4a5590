"""Datasets that appeared under the data root, or left it, since the code location was built;
and whether a reload of the code location is due for them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

# Version of the discovery sensor's cursor (see ``ReloadRequest``).
CURSOR_VERSION = 1
# A reload asked for the same datasets is asked again only after this long: a code location
# that did not pick the change up (a webserver whose reload does not reach the daemon's code
# server) is not reloaded every tick.
REPEAT_AFTER_SECONDS = 600.0


@dataclass(frozen=True)
class DatasetChanges:
    """Datasets (``VENDOR/DATASET/VERSION``) found under the root now but not when the code
    location was built, and those gone since."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)

    def describe(self) -> str:
        """``dataset a/b/1 appeared; dataset c/d/2 was removed``."""
        parts = []
        if self.added:
            parts.append(f"{_datasets(self.added)} appeared")
        if self.removed:
            verb = "was" if len(self.removed) == 1 else "were"
            parts.append(f"{_datasets(self.removed)} {verb} removed")
        return "; ".join(parts) or "no dataset appeared or was removed"


def _datasets(names: tuple[str, ...]) -> str:
    return f"dataset {names[0]}" if len(names) == 1 else f"datasets {', '.join(names)}"


def compare(built: Iterable[str], now: Iterable[str]) -> DatasetChanges:
    """What changed from the datasets ``built`` into the code location to those found ``now``."""
    before, after = set(built), set(now)
    return DatasetChanges(tuple(sorted(after - before)), tuple(sorted(before - after)))


@dataclass(frozen=True)
class ReloadRequest:
    """The discovery sensor's cursor: the datasets it last asked a reload for, and when
    (seconds since the epoch)."""

    datasets: tuple[str, ...]
    at: float

    def serialize(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "datasets": list(self.datasets), "at": self.at})

    @classmethod
    def parse(cls, cursor: str | None) -> ReloadRequest | None:
        """The request in ``cursor``; None for no cursor or one of another version."""
        if not cursor:
            return None
        try:
            data = json.loads(cursor)
            if data.get("v") != CURSOR_VERSION:
                return None
            return cls(tuple(str(name) for name in data["datasets"]), float(data["at"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def reload_due(now: Iterable[str], last: ReloadRequest | None, at: float) -> bool:
    """Is a reload for the datasets ``now`` due at time ``at``, ``last`` being the previous
    request? Not when that one asked for these very datasets less than
    ``REPEAT_AFTER_SECONDS`` ago."""
    if last is None or tuple(sorted(set(now))) != last.datasets:
        return True
    return at - last.at >= REPEAT_AFTER_SECONDS
