"""The frame hub: the newest annotated frame of every camera, shared by all viewers.

One broker subscriber per streamer process (never one per viewer) feeds a
``CameraFeed`` per camera. A feed keeps exactly one frame, the newest; viewers
wait on its condition and always get the newest frame when they are ready for
one, so a slow viewer skips frames instead of falling behind. The MJPEG part
(headers and JPEG) is built once per frame, not once per viewer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from pipeline import broker
from pipeline.config import CameraConfig, Config
from pipeline.messages import (
    MessageError,
    Result,
    Status,
    unpack_result,
    unpack_status,
)
from pipeline.topology import Topology
from web.stats import LatencyWindow, RateMeter

LOGGER = logging.getLogger(__name__)

BOUNDARY = "frame"
STATUS_FRESH_S = 3.0
OFFLINE_AFTER_S = 10.0
LAST_DETECTIONS = 20


def mjpeg_part(jpeg: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"--{BOUNDARY}", "Content-Type: image/jpeg", f"Content-Length: {len(jpeg)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + jpeg + b"\r\n"


@dataclass
class ShownFrame:
    """A frame accepted for showing, with its MJPEG part ready to write."""

    version: int
    seq: int
    captured_at: float
    received_at: float
    jpeg: bytes
    part: bytes
    detections: list[dict[str, Any]]
    timings: dict[str, float]
    worker: str


@dataclass
class CameraFeed:
    camera: CameraConfig
    condition: threading.Condition = field(default_factory=threading.Condition)
    latest: ShownFrame | None = None
    latest_at: float = 0.0  # monotonic time of the latest accepted frame
    version: int = 0
    status: Status | None = None
    status_at: float = 0.0
    dropped: Counter = field(default_factory=Counter)
    received: int = 0
    latency_received: LatencyWindow = field(default_factory=LatencyWindow)
    latency_written: LatencyWindow = field(default_factory=LatencyWindow)
    fps_in: RateMeter = field(default_factory=RateMeter)
    fps_out: RateMeter = field(default_factory=RateMeter)
    viewers: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=LAST_DETECTIONS))
    created_at: float = field(default_factory=time.monotonic)

    def offer(self, result: Result, received_at: float | None = None) -> bool:
        """Accept a result if it is newer than what is shown and still fresh."""
        received_at = received_at if received_at is not None else time.time()
        age_ms = (received_at - result.captured_at) * 1000
        with self.condition:
            self.received += 1
            self.fps_in.tick()
            latest = self.latest
            if latest is not None and result.seq <= latest.seq:
                # A slower detector worker finished an older frame after a newer one.
                self.dropped["out_of_order"] += 1
                return False
            if age_ms > self.camera.max_age_ms:
                self.dropped["stale"] += 1
                return False
            if latest is not None and result.seq > latest.seq + 1:
                # Never reached us: dropped from a full queue, expired, or stale at a detector.
                self.dropped["not_delivered"] += result.seq - latest.seq - 1
            self.version += 1
            part = mjpeg_part(
                result.data,
                {"X-Frame-Seq": str(result.seq), "X-Captured-At": f"{result.captured_at:.6f}"},
            )
            self.latest = ShownFrame(
                self.version,
                result.seq,
                result.captured_at,
                received_at,
                result.data,
                part,
                result.detections,
                result.timings,
                result.worker,
            )
            self.latest_at = time.monotonic()
            if result.detections:
                self.recent.append(
                    {
                        "seq": result.seq,
                        "captured_at": result.captured_at,
                        "detections": result.detections,
                    }
                )
            self.latency_received.add(age_ms)
            self.condition.notify_all()
            return True

    def wait_newer(self, version: int, timeout: float) -> ShownFrame | None:
        """The newest frame if it is newer than ``version``, waiting up to ``timeout``."""
        with self.condition:
            if self.version <= version:
                self.condition.wait(timeout)
            latest = self.latest
            return latest if latest is not None and latest.version > version else None

    def wake_all(self) -> None:
        with self.condition:
            self.condition.notify_all()

    def note_written(self, frame: ShownFrame, skipped: int) -> None:
        self.fps_out.tick()
        self.latency_written.add((time.time() - frame.captured_at) * 1000)
        if skipped > 0:
            with self.condition:
                self.dropped["slow_viewer"] += skipped

    def set_status(self, status: Status) -> None:
        with self.condition:
            self.status = status
            self.status_at = time.monotonic()
            self.condition.notify_all()

    def state(self, now: float | None = None) -> str:
        """``live``: fresh frames arrive; ``stale``: the camera is up but nothing
        fresh reaches us (no detector?); ``offline``: the camera is down or silent."""
        now = now if now is not None else time.monotonic()
        status_fresh = self.status is not None and now - self.status_at < STATUS_FRESH_S
        if status_fresh and self.status.state == "offline":
            return "offline"
        frame_age = now - self.latest_at if self.latest is not None else float("inf")
        if frame_age < max(2.0, 3.0 / self.camera.fps):
            return "live"
        heard_nothing_yet = self.latest is None and self.status is None
        if heard_nothing_yet and now - self.created_at < OFFLINE_AFTER_S:
            return "stale"  # just started: give the camera time to show up
        if status_fresh or frame_age < OFFLINE_AFTER_S:
            return "stale"
        return "offline"

    def summary(self) -> dict[str, Any]:
        now = time.monotonic()
        latest = self.latest
        status = self.status
        return {
            "id": self.camera.id,
            "name": self.camera.title,
            "status": self.state(now),
            "reason": status.reason if status is not None else "",
            "fps": self.fps_out.rate(now),
            "fps_in": self.fps_in.rate(now),
            "capture_fps": status.fps if status is not None else None,
            "latency_ms": self.latency_written.percentiles(now),
            "latency_received_ms": self.latency_received.percentiles(now),
            "dropped": dict(self.dropped),
            "received": self.received,
            "viewers": self.viewers,
            "last_seq": latest.seq if latest is not None else None,
            "last_captured_at": latest.captured_at if latest is not None else None,
            "last_timings": latest.timings if latest is not None else {},
            "last_worker": latest.worker if latest is not None else None,
            "last_detections": latest.detections if latest is not None else [],
            "recent_detections": list(self.recent),
        }


class FrameHub:
    """Feeds of every configured camera, and the subscriber that fills them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.feeds = {camera.id: CameraFeed(camera) for camera in config.cameras}
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.sessions = 0
        self.invalid = 0
        self.thread: threading.Thread | None = None

    @property
    def reconnects(self) -> int:
        return max(0, self.sessions - 1)

    def feed(self, camera_id: str) -> CameraFeed | None:
        return self.feeds.get(camera_id)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="hub:subscriber", daemon=True)
        self.thread.start()

    def close(self, timeout: float = 3.0) -> None:
        self.stop.set()
        for feed in self.feeds.values():
            feed.wake_all()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self) -> None:
        broker.run_reconnecting("stream:hub", self.config.broker, self.stop, self._session)

    def _session(self, connection: broker.Connection) -> None:
        topology = Topology(self.config.broker.namespace)
        broker.declare_topology(connection, topology, [])
        channel = connection.channel()
        for camera_id, feed in self.feeds.items():
            results = broker.declare_private_queue(
                channel, topology.results_exchange, camera_id, topology.viewer_queue_arguments()
            )
            channel.basic_consume(
                results,
                on_message_callback=self._result_handler(feed, channel, topology),
                auto_ack=True,
            )
        statuses = broker.declare_private_queue(
            channel, topology.status_exchange, "#", topology.status_queue_arguments()
        )
        channel.basic_consume(statuses, on_message_callback=self._on_status, auto_ack=True)
        self.sessions += 1
        self.connected.set()
        try:
            while not self.stop.is_set():
                connection.process_data_events(time_limit=0.5)
        finally:
            self.connected.clear()

    def _result_handler(self, feed: CameraFeed, channel: broker.Channel, topology: Topology):
        def on_result(_channel: Any, method: Any, properties: Any, body: bytes) -> None:
            received_at = time.time()
            try:
                result = unpack_result(body)
                if result.camera != feed.camera.id:
                    raise MessageError(f"result of {result.camera!r} routed as {feed.camera.id!r}")
            except MessageError as error:
                self.invalid += 1
                feed.dropped["invalid"] += 1
                LOGGER.warning("stream: rejected a result for %s: %s", feed.camera.id, error)
                broker.dead_letter(
                    channel, topology, body, str(error), f"results:{feed.camera.id}", properties
                )
                return
            feed.offer(result, received_at)

        return on_result

    def _on_status(self, _channel: Any, _method: Any, _properties: Any, body: bytes) -> None:
        try:
            status = unpack_status(body)
        except MessageError as error:
            LOGGER.warning("stream: ignored a bad status message: %s", error)
            return
        feed = self.feeds.get(status.camera)
        if feed is not None:
            feed.set_status(status)
