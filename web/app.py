"""The Flask streamer: dashboard, camera pages, MJPEG streams, snapshots, JSON and metrics.

``create_app(config, hub)`` builds the app around a ``FrameHub``; it opens no
connection itself, so tests can feed the hub directly and production starts
the hub's subscriber once per process (``web.server.serve``).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, redirect, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from pipeline.config import Config
from web.auth import COOKIE, Auth
from web.feed import BOUNDARY, CameraFeed
from web.hub import FrameHub
from web.metrics import StreamMetrics
from web.placeholder import placeholder_jpeg
from web.viewer import camera_stream, mosaic_stream

NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
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
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            return response
        if not auth.allows(request):
            return Response(
                "authentication required\n",
                401,
                {"WWW-Authenticate": auth.challenge(), "Content-Type": "text/plain"},
            )
        return None

    @app.get("/")
    def index() -> str:
        cameras = [feed.camera for feed in hub.feeds.values()]
        return render_template("index.html", cameras=cameras)

    @app.get("/camera/<camera_id>")
    def camera_page(camera_id: str) -> str:
        feed = feed_or_404(camera_id)
        return render_template("camera.html", camera=feed.camera, info=camera_summary(feed))

    @app.get("/video/<camera_id>")
    def video(camera_id: str) -> Response:
        feed = feed_or_404(camera_id)
        return Response(
            camera_stream(feed, hub), mimetype=MULTIPART, headers=STREAM_HEADERS,
            direct_passthrough=True,
        )  # fmt: skip

    @app.get("/mux")
    def mux() -> Response:
        wanted = request.args.get("cameras", "")
        ids = [c for c in wanted.split(",") if c] if wanted else list(hub.feeds)
        feeds = [feed_or_404(camera_id) for camera_id in dict.fromkeys(ids)]
        return Response(
            mosaic_stream(feeds, hub), mimetype=MULTIPART, headers=STREAM_HEADERS,
            direct_passthrough=True,
        )  # fmt: skip

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
        return jsonify([camera_summary(feed) for feed in hub.feeds.values()])

    @app.get("/api/cameras/<camera_id>")
    def api_camera(camera_id: str) -> Response:
        return jsonify(camera_summary(feed_or_404(camera_id)))

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
        "ordered": camera.ordered,
    }
    return summary
