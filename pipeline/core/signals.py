"""One stop event per process, set by SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
