"""Shared fixtures: configs built in code, and the real RabbitMQ for integration tests."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Config, parse_config

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"


def make_config(
    cameras: list[dict[str, Any]] | None = None,
    namespace: str = "rabbitcam-test",
    file: Path | None = None,
    **sections: Any,
) -> Config:
    raw: dict[str, Any] = {
        "broker": {"url": amqp_url(), "namespace": namespace, "heartbeat_s": 5},
        "cameras": cameras
        if cameras is not None
        else [{"id": "cam1", "source": "synthetic", "fps": 15, "detectors": ["codes"]}],
    }
    raw.update(sections)
    return parse_config(raw, file or Path("test.toml").resolve())


def amqp_url() -> str:
    return os.environ.get("RABBITCAM_AMQP_URL", DEFAULT_URL).split(",")[0]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until ``condition()`` is truthy; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {condition}")


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The real broker; integration tests skip (loudly) only when none is reachable
    outside CI. In CI a missing broker is a failure, never a skip."""
    import pika

    url = amqp_url()
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except Exception as error:  # any failure to connect means "no broker here"
        message = f"NO RABBITMQ at {url} ({type(error).__name__}): integration tests cannot run"
        if os.environ.get("CI"):
            pytest.fail(message)
        print(f"\n{'!' * 70}\n{message}\n{'!' * 70}")
        pytest.skip(message)
    return url


def delete_namespace(url: str, name: str, cameras: list[str]) -> None:
    """Remove every exchange and queue a test created under ``name``."""
    import pika

    from pipeline.topology import Topology

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    topology = Topology(name)
    queues = [topology.dead_queue]
    for camera in cameras:
        queues += [topology.frame_queue(camera), topology.events_queue(camera)]
    for queue in queues:
        channel.queue_delete(queue)
    for exchange in (
        topology.frames_exchange,
        topology.results_exchange,
        topology.events_exchange,
        topology.status_exchange,
        topology.dead_exchange,
    ):
        channel.exchange_delete(exchange)
    connection.close()


TEST_CAMERAS = ["cam1", "cam2", "cam3", "front-door", "backyard"]


@pytest.fixture
def namespace(broker_url: str) -> Iterator[str]:
    """A unique namespace per test; its exchanges and queues are deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    delete_namespace(broker_url, name, TEST_CAMERAS)
