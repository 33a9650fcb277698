"""The JSON API (``/api/cameras``) and the health check load balancers ask (``/healthz``)."""

from __future__ import annotations

import threading

from flask import Blueprint, Response, jsonify, request

from pipeline.core.camera_files import save_zones
from pipeline.core.settings import ConfigError
from web import state

api = Blueprint("api", __name__)


@api.get("/api/cameras")
def cameras() -> Response:
    return jsonify([state.camera_summary(feed) for feed in state.hub().feeds.values()])


@api.get("/api/cameras/<camera_id>")
def camera(camera_id: str) -> Response:
    return jsonify(state.camera_summary(state.feed_or_404(camera_id)))


@api.put("/api/cameras/<camera_id>/zones")
def put_zones(camera_id: str) -> tuple[Response, int]:
    """Replace a drop-in camera's zones (the camera page's editor): 400 naming every
    problem, and the file untouched, for zones that would not load."""
    state.feed_or_404(camera_id)
    config = state.config()
    file = config.camera_files.get(camera_id)
    if file is None or file == config.path:
        why = "this camera is in the site's own file: edit its zones there (the page saves "
        return jsonify({"problems": [why + "drop-in cameras only)"]}), 409
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"zones"}:
        return jsonify({"problems": ['the body must be {"zones": [...]}']}), 400
    try:
        camera = save_zones(file, body["zones"])
    except ConfigError as error:
        return jsonify({"problems": error.problems}), 400
    except OSError as error:
        return jsonify({"problems": [f"cannot write the camera's file: {error.strerror}"]}), 500
    return jsonify({"saved": file.name, "zones": [zone.name for zone in camera.zones]}), 200


@api.get("/healthz")
def healthz() -> Response:
    hub = state.hub()
    slots = state.slots()
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
