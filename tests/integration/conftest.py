"""Roles run in threads of the test process, against the real RabbitMQ."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pika
import pytest

from pipeline.core.messages import Result, unpack
from pipeline.core.topology import Topology

pytestmark = pytest.mark.integration


class RoleThreads:
    """Start roles in threads with one shared stop event; stop and join them all."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.errors: list[str] = []  # a role that raised: never right, a stop included

    def start(self, target: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                self.errors.append(f"{name}: {type(error).__name__}: {error}")
                raise

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
            assert not thread.is_alive(), f"{thread.name} did not stop within 10 s"
        assert not self.errors, f"roles raised: {self.errors}"


@pytest.fixture
def roles() -> Iterator[RoleThreads]:
    threads = RoleThreads()
    yield threads
    threads.close()


class ResultTap:
    """A private queue on the results exchange, read with basic_get from the test thread."""

    def __init__(self, url: str, namespace: str, camera: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        topology = Topology(namespace)
        self.channel.exchange_declare(topology.results_exchange, "topic", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, topology.results_exchange, routing_key=camera)

    def take(self) -> Result | None:
        method, _properties, body = self.channel.basic_get(self.queue, auto_ack=True)
        return unpack(body, Result) if method else None

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def result_tap(broker_url: str, namespace: str) -> Iterator[Callable[[str], ResultTap]]:
    taps: list[ResultTap] = []

    def open_tap(camera: str) -> ResultTap:
        tap = ResultTap(broker_url, namespace, camera)
        taps.append(tap)
        return tap

    yield open_tap
    for tap in taps:
        tap.close()


def queue_counts(connection: pika.BlockingConnection, queue: str) -> tuple[int, int] | None:
    """(messages, consumers) of a queue, or None while it does not exist yet."""
    from pipeline.core.broker import queue_counts as counts_of

    return counts_of(connection, [queue])[queue]


def wait_for_consumers(connection: pika.BlockingConnection, queue: str, count: int = 1) -> None:
    from testkit.processes import wait_for

    wait_for(lambda: (queue_counts(connection, queue) or (0, 0))[1] >= count, timeout=15)
