"""What one viewer is sent: the newest frame whenever it is ready, placeholders meanwhile.

A generator's ``yield`` returns only once the server has taken the part (the
server's buffer per viewer is kept to about one frame), so a slow viewer
simply asks less often and skips to the newest frame: it never receives a
backlog. Two shapes share the same cursor logic:

- ``camera_stream``: plain MJPEG of one camera (``/video/<camera>``), for any
  client, ``<img>`` tags included;
- ``mosaic_stream``: the frames of several cameras in one multipart response
  (``/mux``), each part naming its camera. Browsers allow six HTTP/1.1
  connections per host, so a dashboard of twelve ``<img>`` streams would
  stall; the dashboard reads this one stream instead and shows each part in
  its camera's tile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from web.feed import CameraFeed, ShownFrame, mjpeg_part
from web.hub import FrameHub
from web.placeholder import placeholder_jpeg

PLACEHOLDER_INTERVAL_S = 1.0
WAKE_S = 0.5  # every loop wakes at least this often to notice a stop or a state change


class ViewerCursor:
    """Where one viewer is in one camera's feed."""

    def __init__(self, feed: CameraFeed) -> None:
        self.feed = feed
        self.max_age_s = feed.camera.max_age_ms / 1000
        self.version = 0
        self.last_seq = -1
        self.last_captured_at = 0.0
        self.last_placeholder = 0.0
        self.pending: tuple[ShownFrame, int] | None = None

    def take(self) -> bytes | None:
        """The next part to send now, or None when there is nothing new."""
        frame = self.feed.latest
        if frame is not None and frame.version > self.version:
            skipped = frame.version - self.version - 1 if self.version else 0
            self.version = frame.version
            if time.time() - frame.captured_at <= self.max_age_s:
                self.last_seq, self.last_captured_at = frame.seq, frame.captured_at
                self.pending = (frame, skipped)
                return frame.part
        return self._placeholder()

    def sent(self) -> None:
        """The part from ``take`` has been handed to the server."""
        if self.pending is not None:
            frame, skipped = self.pending
            self.pending = None
            self.feed.note_written(frame, skipped)

    def _placeholder(self) -> bytes | None:
        state = self.feed.state()
        now = time.monotonic()
        if self.last_seq >= 0 and state == "live":
            return None
        if now - self.last_placeholder < PLACEHOLDER_INTERVAL_S:
            return None
        self.last_placeholder = now
        shown = "waiting" if self.last_seq < 0 and state != "offline" else state
        camera = self.feed.camera
        jpeg = placeholder_jpeg(camera.title, shown, camera.width, camera.height)
        return mjpeg_part(
            jpeg,
            {
                "X-Camera": camera.id,
                "X-Frame-Seq": str(self.last_seq),
                "X-Captured-At": f"{self.last_captured_at:.6f}",
                "X-Placeholder": shown,
            },
        )


@contextmanager
def _watching(feeds: list[CameraFeed]) -> Iterator[None]:
    """Count the viewer in every feed it watches, for as long as it watches."""
    for feed in feeds:
        with feed.condition:
            feed.viewers += 1
    try:
        yield
    finally:
        for feed in feeds:
            with feed.condition:
                feed.viewers -= 1


def camera_stream(feed: CameraFeed, hub: FrameHub) -> Iterator[bytes]:
    cursor = ViewerCursor(feed)
    with _watching([feed]):
        while not hub.stop.is_set():
            part = cursor.take()
            if part is None:
                feed.wait_newer(cursor.version, timeout=WAKE_S)
                continue
            yield part
            cursor.sent()


def mosaic_stream(feeds: list[CameraFeed], hub: FrameHub) -> Iterator[bytes]:
    cursors = [ViewerCursor(feed) for feed in feeds]
    with _watching(feeds):
        while not hub.stop.is_set():
            version = hub.version
            sent_any = False
            for cursor in cursors:
                part = cursor.take()
                if part is not None:
                    yield part
                    cursor.sent()
                    sent_any = True
            if not sent_any:
                hub.wait_change(version, timeout=WAKE_S)
