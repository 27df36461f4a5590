"""``alchemy_assets.supervise`` and ``make demo`` under it: one Ctrl-C on a terminal, or one
SIGTERM to the process group of a start with SIGINT ignored, leaves no process, in seconds."""

import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from alchemy_assets_tests.ui import Graphql

REPO = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
SUPERVISE = [sys.executable, "-m", "alchemy_assets.supervise"]
# A shell script's background job, nohup under such a script, many service managers.
SIGINT_IGNORED = ["env", "--ignore-signal=INT"]
# A terminal's shell starts commands with SIGINT at its default, whatever this test run was
# started with (CI may start it with SIGINT ignored, which every child would inherit).
SIGINT_DEFAULT = ["env", "--default-signal=INT"]
STOP_WITHIN = 15.0


def session_processes(sid: int) -> list[str]:
    """The live (not zombie) processes of session ``sid``: pid and command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(f"{entry.name} {cmdline.strip()}")
    return found


def seconds_until_gone(sid: int, limit: float) -> float:
    """Seconds until no process of session ``sid`` is left; fails (killing them) after
    ``limit``, naming those left."""
    start = time.monotonic()
    while left := session_processes(sid):
        if time.monotonic() - start > limit:
            os.killpg(sid, signal.SIGKILL)
            for line in left:  # processes moved to a group of their own
                os.kill(int(line.split()[0]), signal.SIGKILL)
            pytest.fail(f"{len(left)} process(es) left after {limit:g} s:\n" + "\n".join(left))
        time.sleep(0.1)
    return time.monotonic() - start


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _make_demo(demo: Path, port: int) -> list[str]:
    """``make demo`` on a demo folder of the test's own, with this test's virtual environment
    (``-o``: taken as installed already)."""
    return [
        "make",
        "--no-print-directory",
        "-C",
        str(REPO),
        "-o",
        str(VENV / ".installed"),
        "demo",
        f"VENV={VENV}",
        f"DEMO={demo}",
        f"PORT={port}",
    ]


@contextmanager
def _killed_at_the_end(process: subprocess.Popen[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for line in session_processes(process.pid):
            os.kill(int(line.split()[0]), signal.SIGKILL)
        if process.poll() is None:  # reaped here, so no Popen is left to warn when collected
            process.kill()
            process.wait(timeout=30)


def _wait_until_served(port: int, log: Path, process: subprocess.Popen[bytes]) -> None:
    def tail() -> str:
        return log.read_text(errors="replace")[-4000:] if log.exists() else ""

    Graphql(f"http://127.0.0.1:{port}").wait_until_loaded(240, tail, process.poll)


def _count_of(processes: list[str], word: str) -> int:
    return sum(word in line for line in processes)


def test_one_ctrl_c_on_a_terminal_stops_the_whole_demo_in_seconds(tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "terminal.log"
    master, slave = pty.openpty()
    # setsid -c: a session of its own whose controlling terminal is the pseudo-terminal, so
    # \x03 typed there is a SIGINT to its foreground process group, as on a real terminal.
    process = subprocess.Popen(
        [*SIGINT_DEFAULT, "setsid", "-c", *_make_demo(tmp_path / "demo", port)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)

    def drain() -> None:  # a full terminal buffer would block the demo's writes
        with log.open("ab") as out:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the terminal's last writer closed it
                    return
                if not data:
                    return
                out.write(data)
                out.flush()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with _killed_at_the_end(process):
        _wait_until_served(port, log, process)
        running = session_processes(process.pid)
        assert _count_of(running, "dagster_webserver") == 1, running
        assert _count_of(running, "dagster._daemon") == 1, running
        os.write(master, b"\x03")
        took = seconds_until_gone(process.pid, STOP_WITHIN)
    assert process.wait(timeout=5) != 0
    reader.join(timeout=5)
    os.close(master)
    assert "supervise: SIGINT: stopping" in log.read_text(errors="replace")
    print(f"Ctrl-C stopped the demo ({len(running)} processes) in {took:.1f} s")


def test_one_sigterm_to_a_background_demo_started_with_sigint_ignored_stops_all_of_it(
    tmp_path: Path,
) -> None:
    port, log = _free_port(), tmp_path / "background.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*SIGINT_IGNORED, *_make_demo(tmp_path / "demo", port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with _killed_at_the_end(process):
        _wait_until_served(port, log, process)
        running = session_processes(process.pid)
        assert _count_of(running, "dagster_webserver") == 1, running
        os.killpg(process.pid, signal.SIGTERM)
        took = seconds_until_gone(process.pid, STOP_WITHIN)
    assert process.wait(timeout=5) != 0
    said = log.read_text(errors="replace")
    assert "supervise: SIGTERM: stopping" in said
    assert "Dagster services shut down" in said
    # `dg dev`, not the superseded `dagster dev` and its warning.
    assert "SupersessionWarning" not in said and "dg dev" in said
    print(f"SIGTERM stopped the demo ({len(running)} processes) in {took:.1f} s")


_SHOW_DISPOSITIONS = (
    "import signal\n"
    "for s in (signal.SIGINT, signal.SIGTERM):\n"
    "    h = signal.getsignal(s)\n"
    "    print(s.name, 'ignored' if h is signal.SIG_IGN else 'not ignored')\n"
)


def test_the_command_starts_with_sigint_and_sigterm_not_ignored_whatever_it_inherits() -> None:
    inherited = subprocess.run(
        [*SIGINT_IGNORED, "--ignore-signal=TERM", sys.executable, "-c", _SHOW_DISPOSITIONS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert inherited.stdout == "SIGINT ignored\nSIGTERM ignored\n"
    show = [sys.executable, "-c", _SHOW_DISPOSITIONS]
    supervised = subprocess.run(
        [*SIGINT_IGNORED, "--ignore-signal=TERM", *SUPERVISE, "--", *show],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert supervised.stdout == "SIGINT not ignored\nSIGTERM not ignored\n"


def test_the_commands_exit_status_is_passed_on() -> None:
    done = subprocess.run(
        [*SUPERVISE, "--", sys.executable, "-c", "raise SystemExit(3)"], timeout=60, check=False
    )
    assert done.returncode == 3


_STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


def test_what_ignores_the_interrupt_is_killed_after_the_grace_period() -> None:
    with (
        subprocess.Popen(
            [*SUPERVISE, "--grace", "1", "--", sys.executable, "-c", _STUBBORN],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as process,
        _killed_at_the_end(process),
    ):
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        assert len(session_processes(process.pid)) == 3
        process.send_signal(signal.SIGTERM)
        took = seconds_until_gone(process.pid, 10)
        assert process.wait(timeout=5) == -signal.SIGTERM
        assert process.stderr is not None
        said = process.stderr.read()
    assert 1 <= took < 5
    assert said == (
        f"supervise: SIGTERM: stopping {sys.executable} (what is left after 1 s is killed)\n"
    )


def test_a_sigint_ignored_at_the_start_stays_ignored_but_sigterm_stops() -> None:
    process = subprocess.Popen(
        [*SIGINT_IGNORED, *SUPERVISE, "--", sys.executable, "-c", "import time; time.sleep(600)"],
        start_new_session=True,
    )
    with _killed_at_the_end(process):
        while len(session_processes(process.pid)) < 2:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == -signal.SIGTERM
        seconds_until_gone(process.pid, 10)


def test_processes_the_command_leaves_behind_are_ended_with_it() -> None:
    leaves_one = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    )
    process = subprocess.Popen(
        [*SUPERVISE, "--", sys.executable, "-c", leaves_one], start_new_session=True
    )
    with _killed_at_the_end(process):
        assert process.wait(timeout=30) == 0
        assert session_processes(process.pid) == []
