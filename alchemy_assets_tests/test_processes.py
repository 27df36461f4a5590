"""A test run started with SIGINT ignored (``nohup make test &`` in a script, some CI runners)
finishes: Dagster's SIGTERM "ignore" does not reach the processes the tests start, and a
test that hangs anyway is ended by the run's timeout."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alchemy_assets_tests.processes import sigint_ignored, stop_signals_at_default

REPO = Path(__file__).resolve().parent.parent
SIGINT_IGNORED = ["env", "--ignore-signal=INT"]


Finished = tuple[subprocess.CompletedProcess[str], float]  # the run, and its seconds


def _pytest(args: list[str], cwd: Path, limit: float) -> Finished:
    """pytest with SIGINT ignored, in a session of its own; fails if it takes longer than
    ``limit``. Then SIGKILL to what is left of the session (a worker ignoring SIGTERM too)."""
    env = {k: v for k, v in os.environ.items() if k != "ALCHEMY_TEST_POSTGRES"}
    start = time.monotonic()
    with subprocess.Popen(
        [*SIGINT_IGNORED, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            out, _ = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            out = None
        finally:
            # Whatever is left: all of it, or a worker the timeout plugin's exit left behind.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if out is None:
            tail = process.communicate()[0][-3000:]
            pytest.fail(f"pytest still running after {limit:g} s:\n{tail}")
    done = subprocess.CompletedProcess(process.args, process.returncode, out, "")
    return done, time.monotonic() - start


def test_a_pool_after_a_dagster_run_ends_in_a_run_started_with_sigint_ignored() -> None:
    # The same-size test runs Dagster in-process first, which leaves SIGTERM ignored; the
    # racing test's pool must still end (it hung for good before).
    # timeout=0: this is the cause fixed, not the hang cut short.
    done, took = _pytest(
        [
            "-o",
            "timeout=0",
            "-q",
            "-k",
            "same_size or racing",
            "alchemy_assets_tests/test_guarantee_manifest_faults.py",
        ],
        REPO,
        240,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 passed" in done.stdout
    print(f"finished in {took:.1f} s")


HANGS = """\
import multiprocessing
import signal
import time


def _ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def test_hangs() -> None:
    with multiprocessing.get_context("spawn").Pool(1, initializer=_ignore_sigterm) as pool:
        pool.apply_async(time.sleep, (600,))
        time.sleep(1)
"""


def test_a_test_that_hangs_for_good_is_ended_by_the_configured_timeout(tmp_path: Path) -> None:
    (tmp_path / "test_hangs.py").write_text(HANGS)
    # The project's own settings (thread method), with the limit cut to 5 s for the test.
    config = ["-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), "-o", "timeout=5"]
    done, took = _pytest([*config, str(tmp_path / "test_hangs.py")], tmp_path, 120)
    assert "timeout: 5.0s\ntimeout method: thread\n" in done.stdout
    assert "+ Timeout +" in done.stdout and "Stack of MainThread" in done.stdout
    assert done.returncode != 0
    assert took < 60


def _ignored(pid: int) -> set[signal.Signals]:
    """The signals process ``pid`` ignores (its SigIgn mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(
        next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16
    )
    return {sig for sig in signal.Signals if mask & (1 << (sig - 1))}


def _started(argv: list[str]) -> set[signal.Signals]:
    """The signals a process started now with ``argv`` ignores."""
    with subprocess.Popen(argv) as process:
        try:
            return _ignored(process.pid)
        finally:
            process.kill()


def test_servers_started_from_a_run_with_sigint_ignored_get_sigint_and_sigterm_at_default() -> None:
    sleep = ["sleep", "60"]
    with sigint_ignored():
        assert signal.SIGINT in _started(sleep)  # what a server started as before inherited
        handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        with stop_signals_at_default():
            assert _started(sleep) & {signal.SIGINT, signal.SIGTERM} == set()
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


FINDS = """\
from alchemy_assets_tests.conftest import FIGURES, REPORTS


def test_one() -> None:
    FIGURES["paths tried"] += 1
    REPORTS["corpus by kind"] = ["csv: 3 files"]


def test_two() -> None:
    FIGURES["paths tried"] += 2
"""


def test_what_the_tests_find_is_summed_over_the_xdist_workers_and_printed_at_the_end(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_finds.py").write_text(FINDS)
    # --dist each: both workers run both tests, so each worker's share must arrive.
    args = ["-p", "alchemy_assets_tests.conftest", "-n", "2", "--dist", "each"]
    done, _ = _pytest([*args, str(tmp_path / "test_finds.py")], tmp_path, 240)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 passed" in done.stdout
    figures = done.stdout.split(" guarantee figures ", 1)[-1]
    assert "\npaths tried: 6\n" in figures, done.stdout[-3000:]
    assert "\ncsv: 3 files\n" in figures.split(" corpus by kind ", 1)[-1], done.stdout[-3000:]
