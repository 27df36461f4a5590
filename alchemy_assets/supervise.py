"""Run a command in a process group of its own and stop all of it on one signal.

``python -m alchemy_assets.supervise [--grace SECONDS] -- COMMAND [ARG ...]`` (``make demo``
runs ``dg dev`` this way).

Why: Dagster's command lines (``dagster dev``, ``dg dev``, its webserver, daemon and code
servers) call ``setup_interrupt_handlers`` (``dagster/_utils/interrupts.py``), which gives
SIGTERM whatever SIGINT's disposition is. Started with SIGINT ignored (a script's background
job, ``nohup``, a service manager), each of them then ignores SIGTERM too, and the processes
it starts inherit that; SIGTERM to the group left most of them running until SIGKILL.

Here the command starts with SIGINT, SIGTERM and SIGHUP at their defaults, in a new process
group (same session). The first SIGINT, SIGTERM or SIGHUP received here is passed to that
group as SIGINT, the shutdown Dagster handles (what one Ctrl-C on a terminal does); whatever
of the group is still running ``grace`` seconds later is killed. A second SIGINT kills at once.
A SIGINT that was ignored when this started stays ignored (a script's background job is not
stopped by a Ctrl-C meant for the foreground), SIGTERM and SIGHUP still stop it. Ends with the
signal that stopped it (so a shell or ``make`` sees it), or with the command's exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

GRACE_SECONDS = 10.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_POLL_SECONDS = 0.1


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. A zombie does not count: an orphan's is
    reaped by PID 1, which in a container may never happen."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # all ended already
        os.killpg(pgid, sig)


class Supervisor:
    """The command's process group, and the stop requested by a signal."""

    def __init__(self, command: Sequence[str], grace: float) -> None:
        self.command = list(command)
        self.grace = grace
        self.stop_signal: int | None = None
        self.deadline: float | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self._sigint_ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self._sigint_ignored:
            return
        if self.stop_signal is None:
            self.stop_signal = signum
            self.deadline = time.monotonic() + self.grace
            name = signal.Signals(signum).name
            print(
                f"supervise: {name}: stopping {self.command[0]} "
                f"(what is left after {self.grace:g} s is killed)",
                file=sys.stderr,
                flush=True,
            )
            self._interrupt()
        elif signum == signal.SIGINT:
            print("supervise: second SIGINT: killing", file=sys.stderr, flush=True)
            self.deadline = time.monotonic()

    def _interrupt(self) -> None:
        if self.child is not None:
            _kill_group(self.child.pid, signal.SIGINT)

    def run(self) -> int:
        # A handled signal is reset to its default in a new program (an ignored one is not):
        # handling all three here is what starts the command with their defaults.
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        self.child = subprocess.Popen(self.command, process_group=0)
        if self.stop_signal is not None:  # a signal came while the command was starting
            self._interrupt()
        pgid = self.child.pid
        while self.child.poll() is None:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                _kill_group(pgid, signal.SIGKILL)
                self.child.wait()
                break
            time.sleep(_POLL_SECONDS)
        self._end_stragglers(pgid)
        return self.child.returncode

    def _end_stragglers(self, pgid: int) -> None:
        """Processes of the group that outlived the command: interrupted, then killed."""
        if not _group_alive(pgid):
            return
        if self.deadline is None:  # the command ended on its own
            _kill_group(pgid, signal.SIGINT)
            self.deadline = time.monotonic() + self.grace
        while _group_alive(pgid) and time.monotonic() < self.deadline:
            time.sleep(_POLL_SECONDS)
        _kill_group(pgid, signal.SIGKILL)

    def exit_like_the_signal(self) -> None:
        """End this process with the signal that stopped it, as an unhandled one would."""
        if self.stop_signal is None:
            return
        signal.signal(self.stop_signal, signal.SIG_DFL)
        os.kill(os.getpid(), self.stop_signal)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alchemy_assets.supervise",
        description=(
            "Run COMMAND in a process group of its own. The first SIGINT, SIGTERM or SIGHUP "
            "is passed to the group as SIGINT; what is still running GRACE seconds later is "
            "killed; a second SIGINT kills at once."
        ),
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=GRACE_SECONDS,
        help=f"seconds between the interrupt and SIGKILL (default {GRACE_SECONDS:g})",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG ...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    supervisor = Supervisor(command, args.grace)
    status = supervisor.run()
    supervisor.exit_like_the_signal()
    return status


if __name__ == "__main__":
    sys.exit(main())
