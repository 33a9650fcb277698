"""An attacker's tools against the real streamer and the real broker.

``Publisher`` puts whatever bytes it is given on the broker's exchanges, as a
hostile (or broken) publisher with write access could; ``Site`` runs the real
``rabbitcam stream`` (and other commands) on a config written for the test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import msgpack
import numpy as np
import pika
import pytest
import requests

from pipeline.core.messages import Result, Status, pack
from pipeline.core.topology import Topology
from testkit.media import astronaut
from testkit.processes import Rabbitcam, free_port, wait_for, wait_for_http
from tests.conftest import TEST_CAMERAS, delete_namespace
from tests.e2e.conftest import browser  # noqa: F401  (the real Chromium, for page attacks)
from tests.integration.conftest import roles  # noqa: F401  (roles run as threads)

pytestmark = pytest.mark.integration


def photo_jpeg(width: int = 640, height: int = 480, quality: int = 80) -> bytes:
    """A real photograph (NASA's astronaut portrait) as a JPEG of the given size."""
    image = cv2.resize(astronaut(), (width, height))
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def claim_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its SOF header rewritten to claim another size (the bomb)."""
    at = jpeg.index(b"\xff\xc0")  # baseline SOF, as OpenCV writes it
    patched = bytearray(jpeg)
    patched[at + 5 : at + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(patched)


def now_seq() -> int:
    """A seq like a capture worker's: its clock in milliseconds."""
    return int(time.time() * 1000)


class Publisher:
    """Publishes raw bytes where the roles read: results, statuses, events, frames."""

    def __init__(self, url: str, namespace: str) -> None:
        self.topology = Topology(namespace)
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        for exchange, kind in (
            (self.topology.results_exchange, "topic"),
            (self.topology.status_exchange, "topic"),
            (self.topology.events_exchange, "topic"),
            (self.topology.frames_exchange, "direct"),
        ):
            self.channel.exchange_declare(exchange, kind, durable=True)

    def result_body(self, camera: str = "cam1", **fields: Any) -> bytes:
        result = Result(
            camera=camera,
            seq=fields.pop("seq", None) or now_seq(),
            captured_at=fields.pop("captured_at", None) or time.time(),
            width=640,
            height=480,
            data=fields.pop("data", None) or PHOTO,
            detections=fields.pop("detections", []),
            timings=fields.pop("timings", {}),
            worker="attacker",
        )
        for key, value in fields.items():
            setattr(result, key, value)
        return pack(result)

    def result(self, camera: str = "cam1", body: bytes | None = None, **fields: Any) -> None:
        self.channel.basic_publish(
            self.topology.results_exchange, camera, body or self.result_body(camera, **fields)
        )

    def status(self, camera: str = "cam1", **fields: Any) -> None:
        status = Status(camera=camera, state=fields.pop("state", "live"), sent_at=time.time())
        for key, value in fields.items():
            setattr(status, key, value)
        self.channel.basic_publish(self.topology.status_exchange, camera, pack(status))

    def raw(self, exchange: str, routing_key: str, body: bytes) -> None:
        self.channel.basic_publish(exchange, routing_key, body)

    def dead_letters(self) -> list[tuple[str, str]]:
        """(source, reason) of every message in the dead-letter queue, taken off it."""
        found = []
        while True:
            try:
                method, properties, _ = self.channel.basic_get(
                    self.topology.dead_queue, auto_ack=True
                )
            except pika.exceptions.ChannelClosedByBroker:  # not declared yet by any role
                self.channel = self.connection.channel()
                return found
            if method is None:
                return found
            headers = properties.headers or {}
            found.append((headers.get("x-rabbitcam-source"), headers.get("x-rabbitcam-reason")))

    def close(self) -> None:
        self.connection.close()


PHOTO = photo_jpeg()


def strict_json(text: str) -> Any:
    """JSON as a browser parses it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"invalid JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


class Site:
    """A config written for one test, in its own namespace; commands run on it."""

    def __init__(self, work: Path, namespace: str, config_text: str) -> None:
        self.work = work
        self.namespace = namespace
        self.config = work / "site.toml"
        self.config.write_text(config_text)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.processes: list[Rabbitcam] = []

    def start(self, args: list[str], env: dict[str, str] | None = None) -> Rabbitcam:
        name = f"{args[0]}-{len(self.processes)}.log"
        process = Rabbitcam(args, self.namespace, self.work / name, env=env)
        self.processes.append(process)
        return process

    def streamer(self, env: dict[str, str] | None = None) -> Rabbitcam:
        process = self.start(["stream", str(self.config), "--bind", f"127.0.0.1:{self.port}"], env)
        wait_for_http(self.base)
        # Subscribed once the hub says it is connected: its private queues exist.
        wait_for(lambda: self.get("/healthz").json()["broker_connected"], timeout=15)
        return process

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return requests.get(self.base + path, **kwargs)

    def camera(self, camera: str = "cam1") -> dict[str, Any]:
        response = self.get(f"/api/cameras/{camera}")
        assert response.status_code == 200, response.text[:300]
        return strict_json(response.text)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


CAMERA = '[[cameras]]\nid = "{id}"\nsource = "synthetic"\n'


@pytest.fixture
def make_site(broker_url: str, tmp_path: Path) -> Iterator[Callable[[str], tuple[Site, Publisher]]]:
    """``make_site(config_text)``: a Site and a Publisher in a fresh namespace."""
    made: list[tuple[Site, Publisher]] = []

    def make(config_text: str) -> tuple[Site, Publisher]:
        namespace = f"t-{uuid.uuid4().hex[:10]}"
        site = Site(tmp_path, namespace, config_text)
        publisher = Publisher(broker_url, namespace)
        made.append((site, publisher))
        return site, publisher

    yield make
    for site, publisher in made:
        site.stop()
        publisher.close()
        delete_namespace(broker_url, site.namespace, TEST_CAMERAS)


def deep_list(depth: int) -> bytes:
    """msgpack for a list nested ``depth`` deep (msgpack's packer refuses to build it)."""
    return b"\x91" * depth + b"\xc0"


def with_raw_value(body: bytes, marker: str, raw: bytes) -> bytes:
    """Swap the packed string ``marker`` in a message for hand-made msgpack bytes."""
    packed = msgpack.packb(marker)
    assert body.count(packed) == 1
    return body.replace(packed, raw)


def noise_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A JPEG that does not compress (about 200 KB): fills a socket's buffers fast."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
