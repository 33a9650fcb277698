"""One stop event per process, set by SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
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
    """The process's stop event, set by its first SIGTERM or SIGINT.

    Set by a thread of its own, never by a signal handler: a handler runs on the
    main thread between any two of its steps, so one that set the event could
    find the event's lock already held by that very thread (inside ``wait``, or
    inside a first handler's ``set`` when a second signal follows: Ctrl-C reaches
    every process of the group, then the supervisor sends SIGTERM) and wait for
    itself for ever; and a signal taken by another thread runs no handler until
    the main thread runs Python again, which one blocked in ``stop.wait()`` never
    does. Python writes each caught signal to the wakeup pipe from C, whichever
    thread took it; the thread reading the pipe sets the event.
    """
    stop = threading.Event()
    stopping = (signal.SIGTERM, signal.SIGINT)
    wakeups, wakeup_fd = os.pipe()
    os.set_blocking(wakeup_fd, False)
    signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
    for signum in stopping:
        signal.signal(signum, lambda _signum, _frame: None)  # caught: the pipe is told

    def stop_on_first_signal() -> None:
        # The pipe carries every signal with a handler (a library may add one): the
        # number of each is its byte.
        while os.read(wakeups, 1)[0] not in stopping:
            pass
        stop.set()

    threading.Thread(target=stop_on_first_signal, name="signals", daemon=True).start()
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
