"""The pictures: MJPEG streams of one camera or several, and snapshots.

A live stream holds a server thread for as long as it is watched, so each
takes a slot (``web.limits``) first; beyond the bounds the answer is 503 with
``Retry-After``, at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, abort, request

from pipeline.core.annotate import drawn_jpeg
from web import state
from web.feed import BOUNDARY, CameraFeed, ShownFrame
from web.limits import RETRY_AFTER_S, SlotStream
from web.placeholder import placeholder_jpeg
from web.viewer import camera_stream, mosaic_stream

NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
STREAM_HEADERS = {**NO_CACHE, "X-Accel-Buffering": "no"}
MULTIPART = f"multipart/x-mixed-replace; boundary={BOUNDARY}"

streams = Blueprint("streams", __name__)


def stream_response(stream: Iterator[bytes]) -> Response:
    """A live MJPEG response, if the client may open one more stream; else 503."""
    slots = state.slots()
    client = request.remote_addr or "-"
    refused = slots.acquire(client)
    if refused is not None:
        stream.close()
        return Response(
            f"too many streams: {refused}\n", 503,
            {"Retry-After": str(RETRY_AFTER_S), "Content-Type": "text/plain"},
        )  # fmt: skip
    # Passed through to the server as it is (no werkzeug wrapper, whose close
    # hooks would not run): SlotStream.close gives the slot back.
    body = SlotStream(stream, lambda: slots.release(client))
    return Response(body, mimetype=MULTIPART, headers=STREAM_HEADERS, direct_passthrough=True)


@streams.get("/video/<camera_id>")
def video(camera_id: str) -> Response:
    return stream_response(camera_stream(state.feed_or_404(camera_id), state.hub()))


@streams.get("/mux")
def mux() -> Response:
    hub = state.hub()
    wanted = request.args.get("cameras", "")
    ids = [c for c in wanted.split(",") if c] if wanted else list(hub.feeds)
    if len(ids) > len(hub.feeds):
        abort(404, description="more cameras asked for than there are")
    feeds = [state.feed_or_404(camera_id) for camera_id in dict.fromkeys(ids)]
    return stream_response(mosaic_stream(feeds, hub))


@streams.get("/snapshot/<camera_id>.jpg")
def snapshot(camera_id: str) -> Response:
    """The camera's newest picture. A page-drawn camera's has its boxes drawn in
    (as a drawn camera's has), for snapshot pollers that are no page; ``?boxes=0``
    gives its picture as the camera sent it."""
    feed = state.feed_or_404(camera_id)
    boxes = request.args.get("boxes", "1")
    if boxes not in ("0", "1"):
        abort(400, description="boxes must be 0 or 1")
    frame = feed.latest
    shown = feed.state()
    if frame is None or shown != "live":
        shown = "waiting" if frame is None and shown != "offline" else shown
        body = placeholder_jpeg(feed.camera.title, shown, feed.camera.width, feed.camera.height)
        return Response(body, 503, mimetype="image/jpeg", headers={**NO_CACHE, "Retry-After": "1"})
    picture = frame.jpeg
    if feed.camera.overlay and boxes == "1":
        picture = with_boxes(feed, frame)
    return Response(
        picture,
        mimetype="image/jpeg",
        headers={
            **NO_CACHE,
            "X-Camera": camera_id,
            "X-Frame-Seq": str(frame.seq),
            "X-Captured-At": f"{frame.captured_at:.6f}",
        },
    )


def with_boxes(feed: CameraFeed, frame: ShownFrame) -> bytes:
    """The frame with its detections drawn in, drawn once per frame (two requests
    at the same moment may both draw it: the same picture, no harm)."""
    if frame.drawn is None:
        camera = feed.camera
        drawn = drawn_jpeg(
            frame.jpeg,
            camera.id,
            frame.seq,
            frame.captured_at,
            frame.detections,
            camera.jpeg_quality,
        )
        frame.drawn = drawn or frame.jpeg  # checked on arrival, so it decodes; else as sent
    return frame.drawn
