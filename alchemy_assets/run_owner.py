"""The process an ``alchemy stage`` run runs in, as its run records it, and whether it is gone.

A run's tags hold its process's host name, pid and start: the boot id of this boot
(``/proc/sys/kernel/random/boot_id``) and the process's ``starttime`` (field 22 of
``/proc/<pid>/stat``, clock ticks since boot). So a pid that a later process took over, or
the same pid after a restart, is not taken for the process that ran the run. Only a
process of this host can be judged from here; a run of another host, or one that recorded
no process, is not judged.
"""

from __future__ import annotations

import enum
import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOST_TAG = "alchemy_assets/host"
PID_TAG = "alchemy_assets/pid"
START_TAG = "alchemy_assets/process_start"
PROC = Path("/proc")
# A zombie (exited, not reaped yet) or a dead task runs nothing: gone.
EXITED_STATES = frozenset({"Z", "X", "x"})


@functools.cache
def _boot_id() -> str | None:
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, starttime) of process ``pid`` from ``/proc/<pid>/stat``; None if there is none."""
    try:
        text = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # "pid (comm) state ...": comm may hold spaces and parentheses: split after the last ")".
    fields = text.rpartition(b")")[2].split()
    if len(fields) < 20:
        return None
    return fields[0].decode("ascii", "replace"), fields[19].decode("ascii", "replace")


def _start(pid: int) -> str | None:
    """``<boot id>:<starttime>`` of process ``pid``; None when /proc cannot say."""
    boot, stat = _boot_id(), _stat(pid)
    if boot is None or stat is None:
        return None
    return f"{boot}:{stat[1]}"


@dataclass(frozen=True)
class RunOwner:
    """The process that runs a Dagster run: host name, pid, and its start (None where
    ``/proc`` is not there: then only the pid is checked)."""

    host: str
    pid: int
    start: str | None

    @classmethod
    def current(cls) -> RunOwner:
        """This process."""
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _start(pid))

    def tags(self) -> dict[str, str]:
        """The run tags that record this process."""
        tags = {HOST_TAG: self.host, PID_TAG: str(self.pid)}
        if self.start is not None:
            tags[START_TAG] = self.start
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> RunOwner | None:
        """The process a run's tags record; None when they record none (an older stage)."""
        host, pid = tags.get(HOST_TAG), tags.get(PID_TAG)
        if not host or not pid or not pid.isdigit():
            return None
        return cls(host, int(pid), tags.get(START_TAG))

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}"


class Verdict(enum.Enum):
    """Whether the process that runs a run is still there."""

    ALIVE = "alive"
    GONE = "gone"
    NOT_JUDGED = "not judged"  # another host's process, or none recorded


@dataclass(frozen=True)
class Judgement:
    """A verdict on a run's process, and why, in words for a person."""

    verdict: Verdict
    reason: str


def judge(owner: RunOwner | None, host: str | None = None) -> Judgement:
    """Whether ``owner`` still runs, judged on ``host`` (default: this host's name)."""
    if owner is None:
        return Judgement(
            Verdict.NOT_JUDGED,
            "its process was not recorded (an alchemy stage older than this one): not judged",
        )
    here = socket.gethostname() if host is None else host
    if owner.host != here:
        return Judgement(
            Verdict.NOT_JUDGED,
            f"run by {owner}, another host: only an alchemy stage there can tell whether it "
            "is gone",
        )
    if owner.start is None:
        return _judge_by_pid(owner)
    stat = _stat(owner.pid)
    if stat is None or stat[0] in EXITED_STATES:
        return Judgement(Verdict.GONE, f"its {owner} is gone")
    boot = owner.start.rpartition(":")[0]
    if boot != _boot_id():
        return Judgement(Verdict.GONE, f"its {owner} is gone: the host has restarted since")
    if _start(owner.pid) != owner.start:
        return Judgement(
            Verdict.GONE, f"its {owner} is gone: pid {owner.pid} is now another process"
        )
    return Judgement(Verdict.ALIVE, f"its {owner} is running")


def _judge_by_pid(owner: RunOwner) -> Judgement:
    """Without a recorded start, a process with the pid counts as the owner."""
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return Judgement(Verdict.GONE, f"its {owner} is gone")
    except PermissionError:  # there, but another user's
        pass
    return Judgement(Verdict.ALIVE, f"its {owner} is running (pid alone checked)")
