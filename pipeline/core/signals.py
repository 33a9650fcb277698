"""One stop event per process, set by SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

JOIN_TIMEOUT_S = 5.0


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def run_in_threads(runs: list[tuple[str, Callable[[], None]]], stop: threading.Event) -> None:
    """Run each ``(name, run)`` in a thread of its own until ``stop`` is set, then
    give each a few seconds to finish (every ``run`` honours the same event)."""
    threads = [threading.Thread(target=run, name=name, daemon=True) for name, run in runs]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_S)
