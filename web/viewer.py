"""What one viewer is sent: the newest frame whenever it is ready, placeholders meanwhile.

The server buffers about one frame per viewer, so a ``yield`` to a viewer that
has not taken the previous frame blocks. Each part is therefore sent in two
steps: first its boundary line, which is the same for every part and blocks
while the viewer is behind; then, once that returns, the viewer is ready, and
the *newest* frame is chosen and sent. A slow viewer skips frames; it never
receives one that went stale while it waited.

Two shapes share the same cursor logic:

- ``camera_stream``: plain MJPEG of one camera (``/video/<camera>``), for any
  client, ``<img>`` tags included (a page-drawn camera's frames drawn on
  demand, once a frame however many such viewers watch);
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

from web.feed import BOUNDARY_LINE, CameraFeed, ShownFrame, frame_headers, mjpeg_part
from web.hub import FrameHub
from web.placeholder import placeholder_jpeg

PLACEHOLDER_INTERVAL_S = 1.0
WAKE_S = 0.5  # every loop wakes at least this often to notice a stop or a state change


class ViewerCursor:
    """Where one viewer is in one camera's feed. ``boxes``: a page-drawn camera's
    frames are sent with their boxes drawn in (for a viewer that is no page)."""

    def __init__(self, feed: CameraFeed, boxes: bool = False) -> None:
        self.feed = feed
        self.boxes = boxes and feed.camera.drawing == "page"
        self.version = 0
        self.last_seq = -1
        self.last_captured_at = 0.0
        self.last_placeholder = 0.0
        self.pending: tuple[ShownFrame, int] | None = None

    def _fresh_frame(self) -> ShownFrame | None:
        frame = self.feed.latest
        if frame is None or frame.version <= self.version:
            return None
        if time.time() - frame.result.captured_at > self.feed.camera.max_age_ms / 1000:
            self.version = frame.version  # too old to show: wait for a newer one
            return None
        return frame

    def _placeholder_due(self) -> bool:
        if self.last_seq >= 0 and self.feed.state() == "live":
            return False
        return time.monotonic() - self.last_placeholder >= PLACEHOLDER_INTERVAL_S

    def ready(self) -> bool:
        """Is there something to send: a newer fresh frame, or a placeholder?"""
        return self._fresh_frame() is not None or self._placeholder_due()

    def take(self) -> bytes:
        """The part (after its boundary line) to send now: the newest fresh
        frame, else a placeholder saying why there is none."""
        frame = self._fresh_frame()
        if frame is not None:
            skipped = frame.version - self.version - 1 if self.version else 0
            self.version = frame.version
            self.last_seq, self.last_captured_at = frame.result.seq, frame.result.captured_at
            self.pending = (frame, skipped)
            return frame.part_with_boxes(self.feed.camera) if self.boxes else frame.part
        return self._placeholder()

    def sent(self) -> None:
        """The part from ``take`` has been handed to the server."""
        if self.pending is not None:
            frame, skipped = self.pending
            self.pending = None
            self.feed.note_written(frame, skipped)

    def _placeholder(self) -> bytes:
        self.last_placeholder = time.monotonic()
        state = self.feed.state()
        shown = "waiting" if self.last_seq < 0 and state != "offline" else state
        camera = self.feed.camera
        jpeg = placeholder_jpeg(camera.title, shown, camera.width, camera.height)
        headers = frame_headers(camera.id, self.last_seq, self.last_captured_at)
        return mjpeg_part(jpeg, {**headers, "X-Placeholder": shown})


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


def _send(cursor: ViewerCursor) -> Iterator[bytes]:
    yield BOUNDARY_LINE  # returns once the viewer has room: only then choose the frame
    yield cursor.take()
    cursor.sent()


def camera_stream(feed: CameraFeed, hub: FrameHub, boxes: bool = False) -> Iterator[bytes]:
    cursor = ViewerCursor(feed, boxes)
    with _watching([feed]):
        while not hub.stop.is_set() and not feed.closed:
            if cursor.ready():
                yield from _send(cursor)
            else:
                feed.wait_newer(cursor.version, timeout=WAKE_S)


def mosaic_stream(feeds: list[CameraFeed], hub: FrameHub) -> Iterator[bytes]:
    cursors = [ViewerCursor(feed) for feed in feeds]
    with _watching(feeds):
        while not hub.stop.is_set():
            version = hub.version
            sent_any = False
            cursors = [cursor for cursor in cursors if not cursor.feed.closed]
            if not cursors:
                return  # every camera it showed left the config
            for cursor in cursors:
                if cursor.ready():
                    yield from _send(cursor)
                    sent_any = True
            if not sent_any:
                hub.wait_change(version, timeout=WAKE_S)
