"""The Flask streamer: dashboard, camera pages, MJPEG streams, snapshots, JSON and metrics.

``create_app(config, hub)`` builds the app around a ``FrameHub``; it opens no
connection itself, so tests can feed the hub directly and production starts
the hub's subscriber once per process (``web.server.serve``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, redirect, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from pipeline.config import Config
from web.auth import COOKIE, Auth
from web.feed import BOUNDARY, CameraFeed
from web.hub import FrameHub
from web.limits import RETRY_AFTER_S, SlotStream, StreamSlots
from web.metrics import StreamMetrics
from web.placeholder import placeholder_jpeg
from web.viewer import camera_stream, mosaic_stream

NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
# Every string on a page came from a camera, the wire, a plugin or a config:
# pages insert it as text, and the browser runs no script but the app's own files.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A ?token= must not travel to other sites in a Referer header.
    "Referrer-Policy": "no-referrer",
}
STREAM_HEADERS = {**NO_CACHE, "X-Accel-Buffering": "no"}
MULTIPART = f"multipart/x-mixed-replace; boundary={BOUNDARY}"


def create_app(
    config: Config,
    hub: FrameHub | None = None,
    auth: Auth | None = None,
    metrics: StreamMetrics | None = None,
) -> Flask:
    app = Flask(__name__)
    metrics = metrics or StreamMetrics()
    hub = hub or FrameHub(config, observer=metrics)
    metrics.hub = hub
    auth = auth if auth is not None else Auth.from_environment()
    app.extensions["rabbitcam.hub"] = hub
    app.extensions["rabbitcam.config"] = config
    slots = StreamSlots(config.web.stream_limit, config.web.max_streams_per_client)
    app.extensions["rabbitcam.slots"] = slots

    def stream_response(stream: Iterator[bytes]) -> Response:
        """A live MJPEG response, if the client may open one more stream; else 503."""
        client = request.remote_addr or "-"
        refused = slots.acquire(client)
        if refused is not None:
            stream.close()
            return Response(
                f"too many streams: {refused}\n", 503,
                {"Retry-After": str(RETRY_AFTER_S), "Content-Type": "text/plain"},
            )  # fmt: skip
        # Passed through to the server as it is (no werkzeug wrapper, whose
        # close hooks would not run): SlotStream.close gives the slot back.
        body = SlotStream(stream, lambda: slots.release(client))
        return Response(body, mimetype=MULTIPART, headers=STREAM_HEADERS, direct_passthrough=True)

    def feed_or_404(camera_id: str) -> CameraFeed:
        # Only configured camera ids reach a feed; anything else is a plain 404.
        feed = hub.feed(camera_id)
        if feed is None:
            abort(404, description=f"no camera {camera_id!r}")
        return feed

    @app.before_request
    def check_access() -> Any:
        token = request.args.get("token")
        if token is not None and auth.token_matches(token):
            # Trade the token in the URL for a cookie, and drop it from the address bar.
            args = {k: v for k, v in request.args.items() if k != "token"}
            target = request.path + (f"?{urlencode(args)}" if args else "")
            response = redirect(target)
            response.set_cookie(
                COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure
            )
            return response
        if not auth.allows(request):
            return Response(
                "authentication required\n",
                401,
                {"WWW-Authenticate": auth.challenge(), "Content-Type": "text/plain"},
            )
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/")
    def index() -> str:
        cameras = [feed.camera for feed in hub.feeds.values()]
        return render_template("index.html", cameras=cameras)

    @app.get("/camera/<camera_id>")
    def camera_page(camera_id: str) -> str:
        feed = feed_or_404(camera_id)
        info = camera_summary(feed, config.web.show_sources)
        return render_template("camera.html", camera=feed.camera, info=info)

    @app.get("/video/<camera_id>")
    def video(camera_id: str) -> Response:
        return stream_response(camera_stream(feed_or_404(camera_id), hub))

    @app.get("/mux")
    def mux() -> Response:
        wanted = request.args.get("cameras", "")
        ids = [c for c in wanted.split(",") if c] if wanted else list(hub.feeds)
        if len(ids) > len(hub.feeds):
            abort(404, description="more cameras asked for than there are")
        feeds = [feed_or_404(camera_id) for camera_id in dict.fromkeys(ids)]
        return stream_response(mosaic_stream(feeds, hub))

    @app.get("/snapshot/<camera_id>.jpg")
    def snapshot(camera_id: str) -> Response:
        feed = feed_or_404(camera_id)
        frame = feed.latest
        state = feed.state()
        if frame is None or state != "live":
            shown = "waiting" if frame is None and state != "offline" else state
            body = placeholder_jpeg(feed.camera.title, shown, feed.camera.width, feed.camera.height)
            return Response(
                body, 503, mimetype="image/jpeg", headers={**NO_CACHE, "Retry-After": "1"}
            )
        return Response(
            frame.jpeg,
            mimetype="image/jpeg",
            headers={
                **NO_CACHE,
                "X-Camera": camera_id,
                "X-Frame-Seq": str(frame.seq),
                "X-Captured-At": f"{frame.captured_at:.6f}",
            },
        )

    @app.get("/api/cameras")
    def api_cameras() -> Response:
        shown = config.web.show_sources
        return jsonify([camera_summary(feed, shown) for feed in hub.feeds.values()])

    @app.get("/api/cameras/<camera_id>")
    def api_camera(camera_id: str) -> Response:
        return jsonify(camera_summary(feed_or_404(camera_id), config.web.show_sources))

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(
            {
                "status": "ok" if hub.connected.is_set() else "degraded",
                "broker_connected": hub.connected.is_set(),
                "reconnects": hub.reconnects,
                "cameras": len(hub.feeds),
                "viewers": sum(feed.viewers for feed in hub.feeds.values()),
                "streams": slots.open,
                "streams_refused": slots.refused,
                "threads": threading.active_count(),
            }
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return jsonify({"error": error.name, "detail": error.description}), error.code
        page = render_template(
            "error.html", code=error.code, name=error.name, detail=error.description
        )
        return page, error.code

    return app


def camera_summary(feed: CameraFeed, show_sources: bool = False) -> dict[str, Any]:
    summary = feed.summary()
    camera = feed.camera
    summary["config"] = {
        # Even masked, a source URL tells a viewer where the camera is on the network.
        "source": camera.source.describe() if show_sources else camera.source.kind,
        "fps": camera.fps,
        "width": camera.width,
        "height": camera.height,
        "jpeg_quality": camera.jpeg_quality,
        "detectors": [spec.name for spec in camera.detectors],
        "max_age_ms": camera.max_age_ms,
        "ordered": camera.ordered,
    }
    return summary
