"""A process whose thread ended on its own does not pretend to be alive."""

import threading

import pytest

from pipeline.core.signals import ThreadEnded, run_in_threads


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_that_dies_stops_the_others_and_raises():
    stop = threading.Event()
    others_stopped = threading.Event()

    def dies() -> None:
        raise RuntimeError("a bug")

    def waits() -> None:
        stop.wait()
        others_stopped.set()

    with pytest.raises(ThreadEnded, match="dies ended on its own"):
        run_in_threads([("dies", dies), ("waits", waits)], stop)
    assert stop.is_set() and others_stopped.is_set()


def test_threads_stopped_by_the_event_end_quietly():
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    run_in_threads([("waits", stop.wait)], stop)  # no exception
    assert stop.is_set()
