"""The JSON API (``/api/cameras``) and the health check load balancers ask (``/healthz``)."""

from __future__ import annotations

import threading

from flask import Blueprint, Response, jsonify

from web import state

api = Blueprint("api", __name__)


@api.get("/api/cameras")
def cameras() -> Response:
    return jsonify([state.camera_summary(feed) for feed in state.hub().feeds.values()])


@api.get("/api/cameras/<camera_id>")
def camera(camera_id: str) -> Response:
    return jsonify(state.camera_summary(state.feed_or_404(camera_id)))


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
