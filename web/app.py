"""The Flask streamer: a dashboard, MJPEG streams, snapshots and JSON stats.

``create_app(config, hub)`` builds the app around a ``FrameHub``; it opens no
connection itself, so tests can feed the hub directly and production starts
the hub's subscriber once per process (``web.server.serve``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from pipeline.config import Config
from web.hub import BOUNDARY, CameraFeed, FrameHub, mjpeg_part
from web.placeholder import placeholder_jpeg

PLACEHOLDER_INTERVAL_S = 1.0
NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


def create_app(config: Config, hub: FrameHub | None = None) -> Flask:
    app = Flask(__name__)
    hub = hub or FrameHub(config)
    app.extensions["rabbitcam.hub"] = hub
    app.extensions["rabbitcam.config"] = config

    def feed_or_404(camera_id: str) -> CameraFeed:
        # Only configured camera ids reach a feed; anything else is a plain 404.
        feed = hub.feed(camera_id)
        if feed is None:
            abort(404, description=f"no camera {camera_id!r}")
        return feed

    @app.get("/")
    def index() -> str:
        return render_template("index.html", cameras=config.cameras)

    @app.get("/video/<camera_id>")
    def video(camera_id: str) -> Response:
        feed = feed_or_404(camera_id)
        return Response(
            mjpeg_stream(feed, hub),
            mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            headers={**NO_CACHE, "X-Accel-Buffering": "no"},
            direct_passthrough=True,
        )

    @app.get("/snapshot/<camera_id>.jpg")
    def snapshot(camera_id: str) -> Response:
        feed = feed_or_404(camera_id)
        frame = feed.latest
        if frame is None or feed.state() != "live":
            state = "waiting" if frame is None else feed.state()
            body = placeholder_jpeg(feed.camera.title, state, feed.camera.width, feed.camera.height)
            return Response(
                body, 503, mimetype="image/jpeg", headers={**NO_CACHE, "Retry-After": "1"}
            )
        return Response(
            frame.jpeg,
            mimetype="image/jpeg",
            headers={
                **NO_CACHE,
                "X-Frame-Seq": str(frame.seq),
                "X-Captured-At": f"{frame.captured_at:.6f}",
            },
        )

    @app.get("/api/cameras")
    def api_cameras() -> Response:
        return jsonify([camera_summary(feed) for feed in hub.feeds.values()])

    @app.get("/api/cameras/<camera_id>")
    def api_camera(camera_id: str) -> Response:
        return jsonify(camera_summary(feed_or_404(camera_id)))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(
            {
                "status": "ok" if hub.connected.is_set() else "degraded",
                "broker_connected": hub.connected.is_set(),
                "reconnects": hub.reconnects,
                "cameras": len(hub.feeds),
            }
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return jsonify({"error": error.name, "detail": error.description}), error.code
        return (
            render_template(
                "error.html", code=error.code, name=error.name, detail=error.description
            ),
            error.code,
        )

    return app


def camera_summary(feed: CameraFeed) -> dict[str, Any]:
    summary = feed.summary()
    camera = feed.camera
    summary["config"] = {
        "source": camera.source.describe(),
        "fps": camera.fps,
        "width": camera.width,
        "height": camera.height,
        "jpeg_quality": camera.jpeg_quality,
        "detectors": [spec.name for spec in camera.detectors],
        "max_age_ms": camera.max_age_ms,
    }
    return summary


def mjpeg_stream(feed: CameraFeed, hub: FrameHub) -> Iterator[bytes]:
    """Newest frame whenever the viewer is ready; a placeholder while there is none.

    Each ``yield`` returns only once the server has taken the part, so a slow
    viewer simply asks less often and skips to the newest frame: it never
    receives a backlog.
    """
    max_age_s = feed.camera.max_age_ms / 1000
    version = 0
    last_seq, last_captured_at = -1, 0.0
    last_placeholder = 0.0
    with feed.condition:
        feed.viewers += 1
    try:
        while not hub.stop.is_set():
            frame = feed.wait_newer(version, timeout=PLACEHOLDER_INTERVAL_S / 2)
            if frame is not None and time.time() - frame.captured_at <= max_age_s:
                skipped = frame.version - version - 1 if version else 0
                version = frame.version
                last_seq, last_captured_at = frame.seq, frame.captured_at
                yield frame.part
                feed.note_written(frame, skipped)
                continue
            if frame is not None:
                version = frame.version  # too old to show; wait for a newer one
            state = feed.state()
            now = time.monotonic()
            if (
                last_seq < 0 or state != "live"
            ) and now - last_placeholder >= PLACEHOLDER_INTERVAL_S:
                last_placeholder = now
                shown_state = "waiting" if last_seq < 0 and state != "offline" else state
                jpeg = placeholder_jpeg(
                    feed.camera.title, shown_state, feed.camera.width, feed.camera.height
                )
                yield mjpeg_part(
                    jpeg,
                    {
                        "X-Frame-Seq": str(last_seq),
                        "X-Captured-At": f"{last_captured_at:.6f}",
                        "X-Placeholder": shown_state,
                    },
                )
    finally:
        with feed.condition:
            feed.viewers -= 1
