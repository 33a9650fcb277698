"""The Flask streamer: the app factory that puts its parts together.

``create_app(config, hub)`` builds the app around a ``FrameHub``; it opens no
connection itself, so tests can feed the hub directly and production starts
the hub's subscriber once per process (``web.server.serve``). The routes live
in blueprints by concern: ``pages`` (the dashboard, a camera's page),
``streams`` (MJPEG and snapshots), ``api`` (JSON, health), ``events`` (the
recorded events, their snapshots and clips), ``footage`` (kept footage: the
timeline, segments, exports) and ``metrics`` (Prometheus).
Access control, security headers and error pages are app-wide hooks, so no
route can forget them.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from pipeline.core.config import Config
from web.account import account
from web.api import api
from web.auth import Auth
from web.events import events
from web.footage import footage
from web.hosts import HostCheck
from web.hub import FrameHub
from web.limits import StreamSlots
from web.metrics import StreamMetrics, prometheus
from web.pages import pages
from web.streams import streams

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
# The largest request body: a camera's zones at their bounds are a few tens of KB.
MAX_BODY_BYTES = 256 * 1024


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
    auth = auth if auth is not None else Auth.for_site(config)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_BODY_BYTES
    app.extensions["rabbitcam.auth"] = auth
    app.extensions["rabbitcam.config"] = config
    app.extensions["rabbitcam.hub"] = hub
    app.extensions["rabbitcam.metrics"] = metrics
    app.extensions["rabbitcam.slots"] = StreamSlots(
        config.web.stream_limit, config.web.max_streams_per_client
    )
    app.before_request(HostCheck(config.web).guard)  # before auth: a rebinding page learns nothing
    app.before_request(auth.guard)
    app.after_request(security_headers)
    app.context_processor(lambda: {"visitor": g.get("visitor")})
    app.register_error_handler(HTTPException, http_error)
    for blueprint in (account, pages, streams, api, events, footage, prometheus):
        app.register_blueprint(blueprint)
    return app


def security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def http_error(error: HTTPException) -> Any:
    """Plain 404 (and other) pages; JSON under /api/. Never a stack trace."""
    if request.path.startswith("/api/"):
        return jsonify({"error": error.name, "detail": error.description}), error.code
    page = render_template("error.html", code=error.code, name=error.name, detail=error.description)
    return page, error.code
