"""One stop event per process, set by SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

LOGGER = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 5.0
WATCH_INTERVAL_S = 0.5


class ThreadEnded(RuntimeError):
    """A thread of the process ended while nothing asked it to: the process stops
    and exits non-zero, so that whoever started it (the supervisor) starts it again."""


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def run_in_threads(runs: list[tuple[str, Callable[[], None]]], stop: threading.Event) -> None:
    """Run each ``(name, run)`` in a thread of its own until ``stop`` is set, then
    give each a few seconds to finish (every ``run`` honours the same event).

    A thread that ends before ``stop`` is set (an exception nobody caught) stops
    the others and raises ``ThreadEnded``: a process that only looks alive would
    never be restarted."""
    threads = [threading.Thread(target=run, name=name, daemon=True) for name, run in runs]
    for thread in threads:
        thread.start()
    ended: list[str] = []
    while not stop.wait(WATCH_INTERVAL_S):
        ended = [thread.name for thread in threads if not thread.is_alive()]
        if ended:
            LOGGER.error("%s ended on its own; stopping this process", ", ".join(ended))
            stop.set()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_S)
    if ended:
        raise ThreadEnded(f"{', '.join(ended)} ended on its own")
