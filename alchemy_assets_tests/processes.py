"""Processes the tests start get SIGTERM at its default, whatever the test process has.

Dagster's in-process runs (``capture_interrupts`` in ``dagster/_utils/interrupts.py``) copy
SIGINT's disposition onto SIGTERM and leave it there. In a test run started with SIGINT
ignored (``nohup make test &`` in a script, some CI runners) SIGTERM is then ignored by the
test process, and by every process it starts: ``Pool.terminate()`` (SIGTERM) could not end a
worker and the run hung, and a CI runner's SIGTERM could not end pytest.
"""

import signal


def default_sigterm() -> None:
    """SIGTERM back to its default if it is ignored (a ``multiprocessing`` initializer)."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
