"""The frame hub: one broker subscriber per streamer process, feeding every camera.

Never one subscriber per viewer: the hub binds one private, bounded queue per
camera to the results exchange and one to the capture status exchange, and
keeps each camera's newest frame in its ``CameraFeed``, where every viewer
reads it.

The hub follows the config live: a camera added to it gets a feed and a
queue, a removed one's feed is closed (its viewers' streams end), and a
changed one keeps its feed and viewers with its new settings.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pipeline.core import broker
from pipeline.core.config import Config
from pipeline.core.jpeg import check_jpeg_size
from pipeline.core.logs import Throttled
from pipeline.core.messages import MessageError, Result, Status, unpack
from pipeline.core.reload import CameraChanges, ConfigWatcher
from pipeline.core.topology import Topology
from web.feed import CameraFeed, FeedObserver

LOGGER = logging.getLogger(__name__)


class FrameHub(broker.Role):
    """Feeds of every configured camera, and the subscriber that fills them."""

    pump_s = 0.5

    def __init__(
        self,
        config: Config,
        observer: FeedObserver | None = None,
        watcher: ConfigWatcher | None = None,
    ) -> None:
        topology = Topology(config.broker.namespace)
        super().__init__("stream:hub", config.broker, threading.Event(), topology)
        self.config = config
        self.observer = observer
        self.watcher = watcher
        self.consumers: dict[str, str] = {}  # camera id: the tag of its results' consumer
        # Viewers of several cameras (the dashboard's one connection) wait here.
        self.changed = threading.Condition()
        self.version = 0
        # Replaced, never changed in place: request threads iterate it while
        # the subscriber thread applies camera changes.
        self.feeds: dict[str, CameraFeed] = {
            camera.id: CameraFeed(camera, on_change=self._on_feed_change, observer=observer)
            for camera in config.cameras
        }
        self.connected = threading.Event()
        self.sessions = 0
        self.invalid = 0
        self.rejections = Throttled(LOGGER)
        self.thread: threading.Thread | None = None

    @property
    def reconnects(self) -> int:
        return max(0, self.sessions - 1)

    def _on_feed_change(self) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def wait_change(self, version: int, timeout: float) -> int:
        """Wait until any feed changes after ``version``; return the current version."""
        with self.changed:
            if self.version == version:
                self.changed.wait(timeout)
            return self.version

    def feed(self, camera_id: str) -> CameraFeed | None:
        return self.feeds.get(camera_id)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="hub:subscriber", daemon=True)
        self.thread.start()

    def close(self, timeout: float = 3.0) -> None:
        self.stop.set()
        for feed in self.feeds.values():
            feed.wake_all()
        self._on_feed_change()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self) -> None:
        self.serve()

    def reads(self, session: broker.Session) -> list[broker.Reads]:
        return [self._status_reads()]

    def on_session(self, session: broker.Session) -> None:
        self.consumers = {}
        for feed in self.feeds.values():
            self._subscribe(session, feed)
        self.sessions += 1
        self.connected.set()

    def on_config(self, session: broker.Session, changes: CameraChanges) -> None:
        for camera_id in self.apply(changes):
            tag = self.consumers.pop(camera_id, None)
            if tag is not None:
                session.cancel(tag)  # its private queue goes with it
        for camera_id, feed in self.feeds.items():
            if camera_id not in self.consumers:
                self._subscribe(session, feed)

    def on_session_end(self) -> None:
        self.connected.clear()

    def _subscribe(self, session: broker.Session, feed: CameraFeed) -> None:
        """A camera's results, read while it is configured (cameras come and go live)."""
        self.consumers[feed.camera.id] = session.read(self._results_reads(feed))

    def apply(self, changes: CameraChanges) -> list[str]:
        """Follow camera changes; return the ids of the cameras whose feeds closed."""
        feeds = dict(self.feeds)
        for camera in changes.removed:
            feed = feeds.pop(camera.id, None)
            if feed is not None:
                feed.close()
        for camera in changes.changed:
            if camera.id in feeds:
                feeds[camera.id].reconfigure(camera)
        for camera in changes.added:
            feeds[camera.id] = CameraFeed(
                camera, on_change=self._on_feed_change, observer=self.observer
            )
        self.feeds = feeds
        self._on_feed_change()
        return [camera.id for camera in changes.removed]

    def _results_reads(self, feed: CameraFeed) -> broker.Reads:
        def on_result(body: bytes, _properties: Any) -> None:
            received_at = time.time()
            result = unpack(body, Result)
            if result.camera != feed.camera.id:
                raise MessageError(f"result of {result.camera!r} routed as {feed.camera.id!r}")
            # Viewers' browsers decode this JPEG: it must be the size it says it is.
            check_jpeg_size(result.data, result.width, result.height)
            feed.offer(result, received_at)

        def on_reject(reason: str) -> None:
            self.invalid += 1
            feed.dropped["invalid"] += 1
            self.rejections.warning(
                "stream: rejected a result for %s: %s",
                feed.camera.id,
                reason,
                camera=feed.camera.id,
            )

        return broker.Reads(
            on_result, f"results:{feed.camera.id}",
            ((self.topology.results_exchange, feed.camera.id),),
            arguments=self.topology.viewer_queue_arguments(), on_reject=on_reject,
        )  # fmt: skip

    def _status_reads(self) -> broker.Reads:
        def on_status(body: bytes, _properties: Any) -> None:
            status = unpack(body, Status)
            feed = self.feeds.get(status.camera)
            if feed is not None:
                feed.set_status(status)

        def on_reject(reason: str) -> None:
            self.invalid += 1
            self.rejections.warning("stream: rejected a status message: %s", reason)

        return broker.Reads(
            on_status, "status", ((self.topology.status_exchange, "#"),),
            arguments=self.topology.status_queue_arguments(), on_reject=on_reject,
        )  # fmt: skip
