"""Shared fixtures: configs built in code, and the real RabbitMQ for integration tests."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.config import Config, parse_config
from testkit.processes import amqp_url, delete_namespace


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


@pytest.fixture(scope="session", autouse=True)
def events_data(tmp_path_factory) -> Iterator[Path]:
    """Recorded events of every test (the demo records its falls) go to a scratch
    directory, never to the user's own data directory; roles started as
    subprocesses inherit it."""
    data = tmp_path_factory.mktemp("rabbitcam-data")
    before = os.environ.get("RABBITCAM_DATA")
    os.environ["RABBITCAM_DATA"] = str(data)
    yield data
    if before is None:
        os.environ.pop("RABBITCAM_DATA", None)
    else:
        os.environ["RABBITCAM_DATA"] = before


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


TEST_CAMERAS = [
    "cam1",
    "cam2",
    "cam3",
    "front-door",
    "backyard",
    "garage",
    "porch",
    "lobby",
    "hallway",
]
TEST_ALARMS = ("phone", "gone", "home")


@pytest.fixture
def namespace(broker_url: str) -> Iterator[str]:
    """A unique namespace per test; its exchanges and queues are deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    delete_namespace(broker_url, name, TEST_CAMERAS, TEST_ALARMS)


@pytest.fixture(scope="module")
def mosquitto() -> tuple[str, int]:
    """The machine's MQTT broker; fails in CI when it is not there, skips loudly elsewhere."""
    from tests.mqtt_client import MQTT_HOST, MQTT_PORT

    try:
        socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=2).close()
    except OSError as error:
        message = f"NO MQTT BROKER at {MQTT_HOST}:{MQTT_PORT} ({error}): MQTT alarms untested"
        if os.environ.get("CI"):
            pytest.fail(message)
        print(f"\n{'!' * 70}\n{message}\n{'!' * 70}")
        pytest.skip(message)
    return MQTT_HOST, MQTT_PORT


@pytest.fixture(scope="session")
def rabbitmqctl() -> str:
    """RabbitMQ's own control tool, for the tests that stop the broker or raise its
    alarms; fails in CI when it is not there, skips loudly elsewhere."""
    path = shutil.which("rabbitmqctl")
    if path is None:
        message = "NO rabbitmqctl on this host: broker restarts and alarms untested"
        if os.environ.get("CI"):
            pytest.fail(message)
        print(f"\n{'!' * 70}\n{message}\n{'!' * 70}")
        pytest.skip(message)
    return path
