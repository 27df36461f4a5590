"""Processes the tests start get SIGTERM at its default, whatever the test process has.

Dagster's in-process runs (``capture_interrupts`` in ``dagster/_utils/interrupts.py``) copy
SIGINT's disposition onto SIGTERM and leave it there. In a test run started with SIGINT
ignored (``nohup make test &`` in a script, some CI runners) SIGTERM is then ignored by the
test process, and by every process it starts: ``Pool.terminate()`` (SIGTERM) could not end a
worker and the run hung, and a CI runner's SIGTERM could not end pytest.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def default_sigterm() -> None:
    """SIGTERM back to its default if it is ignored (a ``multiprocessing`` initializer)."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def stop_signals_at_default() -> Iterator[None]:
    """Processes started inside get SIGINT and SIGTERM at their defaults, as from a terminal.

    Started from a test run with SIGINT ignored (CI, a script's background job), ``dagster
    dev`` ignored the SIGTERM that stops it (Dagster gives SIGTERM SIGINT's disposition, see
    ``alchemy_assets/supervise.py``) and was killed only 30 s later. A signal handled here is
    reset to its default in a new program; an ignored one would stay ignored. Signal handlers
    belong to the main thread: elsewhere nothing is changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:  # None: set outside Python, and cannot be set back
                signal.signal(sig, handler)


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored inside, as in a test run that CI or a script's background job started."""
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved)
