import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from alchemy_assets.run_owner import RunOwner, Verdict, judge

HOST = socket.gethostname()


@pytest.fixture
def exited_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)
    return child.pid


@pytest.fixture
def zombie() -> Iterator[subprocess.Popen[bytes]]:
    """A child killed and not reaped yet: its pid is still in /proc, in state Z."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat", "rb") as stat:
            if stat.read().rpartition(b")")[2].split()[0] == b"Z":
                break
        time.sleep(0.05)
    yield child
    child.wait(timeout=60)


def test_this_process_is_recorded_in_tags_and_judged_running() -> None:
    me = RunOwner.current()
    assert (me.host, me.pid) == (HOST, os.getpid())
    assert me.start is not None and me.start.count(":") == 1
    assert RunOwner.from_tags(me.tags()) == me
    assert judge(me) == judge(RunOwner.from_tags(me.tags()))
    assert judge(me).verdict is Verdict.ALIVE


def test_a_process_that_exited_is_gone(exited_pid: int) -> None:
    start = RunOwner.current().start
    judgement = judge(RunOwner(HOST, exited_pid, start))
    assert judgement.verdict is Verdict.GONE
    # (a new process may have taken the pid over since: gone either way)
    assert judgement.reason.startswith(f"its process {exited_pid} on {HOST} is gone")


def test_a_killed_process_not_reaped_yet_is_gone(zombie: subprocess.Popen[bytes]) -> None:
    assert judge(RunOwner(HOST, zombie.pid, RunOwner.current().start)).verdict is Verdict.GONE


def test_a_pid_another_process_took_over_is_gone() -> None:
    me = RunOwner.current()
    assert me.start is not None
    boot = me.start.rpartition(":")[0]
    judgement = judge(RunOwner(HOST, me.pid, f"{boot}:1"))
    assert judgement.verdict is Verdict.GONE
    assert judgement.reason == (
        f"its process {me.pid} on {HOST} is gone: pid {me.pid} is now another process"
    )


def test_a_process_of_an_earlier_boot_is_gone() -> None:
    me = RunOwner.current()
    assert me.start is not None
    started = me.start.rpartition(":")[2]
    judgement = judge(RunOwner(HOST, me.pid, f"00000000-0000-0000-0000-000000000000:{started}"))
    assert judgement.verdict is Verdict.GONE
    assert judgement.reason.endswith("is gone: the host has restarted since")


def test_another_hosts_process_is_not_judged() -> None:
    judgement = judge(RunOwner("elsewhere", os.getpid(), None), host="here")
    assert judgement.verdict is Verdict.NOT_JUDGED
    assert judgement.reason == (
        f"run by process {os.getpid()} on elsewhere, another host: only an alchemy stage there "
        "can tell whether it is gone"
    )


def test_a_run_that_recorded_no_process_is_not_judged() -> None:
    assert RunOwner.from_tags({"alchemy_assets/launched_by": "alchemy stage"}) is None
    assert RunOwner.from_tags({"alchemy_assets/host": HOST, "alchemy_assets/pid": "x"}) is None
    judgement = judge(None)
    assert judgement.verdict is Verdict.NOT_JUDGED
    assert "its process was not recorded" in judgement.reason


def test_without_a_recorded_start_the_pid_alone_is_checked(exited_pid: int) -> None:
    tags = {"alchemy_assets/host": HOST, "alchemy_assets/pid": str(os.getpid())}
    owner = RunOwner.from_tags(tags)
    assert owner == RunOwner(HOST, os.getpid(), None)
    assert judge(owner).verdict is Verdict.ALIVE
    assert judge(RunOwner(HOST, exited_pid, None)).verdict is Verdict.GONE
