"""The pictures: MJPEG streams of one camera or several, and snapshots.

A live stream holds a server thread for as long as it is watched, so each
takes a slot (``web.limits``) first; beyond the bounds the answer is 503 with
``Retry-After``, at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, abort, request

from web import state
from web.feed import BOUNDARY, frame_headers
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


def boxes_wanted() -> bool:
    """``?boxes=``: a page-drawn camera's boxes drawn into the picture (1, the
    default: as a drawn camera's are) or its picture as the camera sent it (0)."""
    boxes = request.args.get("boxes", "1")
    if boxes not in ("0", "1"):
        abort(400, description="boxes must be 0 or 1")
    return boxes == "1"


@streams.get("/video/<camera_id>")
def video(camera_id: str) -> Response:
    feed = state.feed_or_404(camera_id)
    return stream_response(camera_stream(feed, state.hub(), boxes=boxes_wanted()))


@streams.get("/mux")
def mux() -> Response:
    hub = state.hub()
    wanted = request.args.get("cameras", "")
    ids = (
        [c for c in wanted.split(",") if c]
        if wanted
        else [feed.camera.id for feed in state.visible_feeds()]
    )
    if len(ids) > len(hub.feeds):
        abort(404, description="more cameras asked for than there are")
    feeds = [state.feed_or_404(camera_id) for camera_id in dict.fromkeys(ids)]
    return stream_response(mosaic_stream(feeds, hub))


@streams.get("/snapshot/<camera_id>.jpg")
def snapshot(camera_id: str) -> Response:
    """The camera's newest picture; a page-drawn camera's with its boxes drawn in
    (snapshot pollers are no page) unless ``?boxes=0``."""
    feed = state.feed_or_404(camera_id)
    boxes = boxes_wanted()
    frame = feed.latest
    shown = feed.state()
    if frame is None or shown != "live":
        shown = "waiting" if frame is None and shown != "offline" else shown
        body = placeholder_jpeg(feed.camera.title, shown, feed.camera.width, feed.camera.height)
        return Response(body, 503, mimetype="image/jpeg", headers={**NO_CACHE, "Retry-After": "1"})
    result = frame.result
    picture = (
        frame.with_boxes(feed.camera) if feed.camera.drawing == "page" and boxes else result.data
    )
    return Response(
        picture,
        mimetype="image/jpeg",
        headers={**NO_CACHE, **frame_headers(camera_id, result.seq, result.captured_at)},
    )
