"""The JSON API (``/api/cameras``) and the health check load balancers ask (``/healthz``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from pipeline.core.camera_files import StaleEdit, save_zones, version_of
from pipeline.core.settings import ConfigError
from web import state

api = Blueprint("api", __name__)

# A zone is {name, points: [[x, y], ...], labels: [...]} in {"zones": [...]}: 5 levels.
MOST_JSON_DEPTH = 8


@api.get("/api/cameras")
def cameras() -> Response:
    return jsonify([state.camera_summary(feed) for feed in state.visible_feeds()])


@api.get("/api/cameras/<camera_id>")
def camera(camera_id: str) -> Response:
    summary = state.camera_summary(state.feed_or_404(camera_id))
    file = _editable_file(camera_id)
    # The version of the drop-in file the page's zone editor read: sent back as If-Match.
    summary["zones_version"] = _version(file) if file is not None else None
    return jsonify(summary)


@api.put("/api/cameras/<camera_id>/zones")
def put_zones(camera_id: str) -> tuple[Response, int]:
    """Replace a drop-in camera's zones (the camera page's editor): 400 naming every
    problem, and the file untouched, for zones that would not load; 409 when the
    file changed since the version named in ``If-Match`` (another's edit)."""
    state.feed_or_404(camera_id)
    file = _editable_file(camera_id)
    if file is None:
        why = "this camera is in the site's own file: edit its zones there (the page saves "
        return jsonify({"problems": [why + "drop-in cameras only)"]}), 409
    body = read_json(request.get_data(cache=False))
    if not isinstance(body, dict) or set(body) != {"zones"}:
        return jsonify({"problems": ['the body must be {"zones": [...]}']}), 400
    expected = request.headers.get("If-Match")
    if expected is not None:
        expected = expected.strip().removeprefix("W/").strip('"')
    try:
        camera, version = save_zones(file, body["zones"], expected)
    except ConfigError as error:
        return jsonify({"problems": error.problems}), 400
    except StaleEdit as error:
        problem = f"{error}: reload the page to see the zones as they are now"
        return jsonify({"problems": [problem]}), 409
    except OSError as error:
        return jsonify({"problems": [f"cannot write the camera's file: {error.strerror}"]}), 500
    answer = jsonify({"saved": file.name, "zones": [zone.name for zone in camera.zones],
                      "version": version})  # fmt: skip
    answer.headers["ETag"] = f'"{version}"'
    return answer, 200


def _editable_file(camera_id: str) -> Path | None:
    """The drop-in file a camera comes from; None for a camera of the site's own file."""
    config = state.config()
    file = config.camera_files.get(camera_id)
    return None if file is None or file == config.path else file


def _version(file: Path) -> str | None:
    try:
        return version_of(file)
    except OSError:
        return None


def read_json(data: bytes) -> Any:
    """A request's JSON body, bounded in depth (the body's size is bounded by the app);
    400 for anything that is not JSON of at most MOST_JSON_DEPTH levels."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        abort(400, description="the body must be JSON")
    if _depth(value) > MOST_JSON_DEPTH:
        abort(400, description=f"the body's JSON nests deeper than {MOST_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """How deep ``value`` nests (iteratively: a deep value must not exhaust the stack)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        if level > MOST_JSON_DEPTH:
            break
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        pending.extend((child, level + 1) for child in children)
    return deepest


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
