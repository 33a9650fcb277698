"""What every blueprint reads from the app: the config, the frame hub, the stream
slots and the metrics, set once by ``create_app`` in ``app.extensions``."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g

from detectors.scene_rules import Zone
from pipeline.core.config import Config
from pipeline.core.users import User
from web.feed import CameraFeed
from web.hub import FrameHub
from web.limits import StreamSlots
from web.metrics import StreamMetrics


def config() -> Config:
    return current_app.extensions["rabbitcam.config"]


def hub() -> FrameHub:
    return current_app.extensions["rabbitcam.hub"]


def slots() -> StreamSlots:
    return current_app.extensions["rabbitcam.slots"]


def metrics() -> StreamMetrics:
    return current_app.extensions["rabbitcam.metrics"]


def visitor() -> User:
    """Who asks (``web.auth`` found them before the request reached a route)."""
    found = g.get("visitor")
    if found is None:  # a route outside the guard's reach: nobody may see anything
        abort(401)
    return found


def may_see(camera_id: str) -> bool:
    return visitor().may_see(camera_id)


def visible_feeds() -> list[CameraFeed]:
    """The feeds of the cameras the visitor may see."""
    who = visitor()
    return [feed for feed in hub().feeds.values() if who.may_see(feed.camera.id)]


def feed_or_404(camera_id: str) -> CameraFeed:
    """Only configured camera ids the visitor may see reach a feed; anything else is
    a plain 404 (a camera one may not see is as absent as one that is not there)."""
    feed = hub().feed(camera_id)
    if feed is None or not may_see(camera_id):
        abort(404, description=f"no camera {camera_id!r}")
    return feed


def camera_summary(feed: CameraFeed) -> dict[str, Any]:
    """A camera's figures and settings, as the JSON API and the camera page show them."""
    summary = feed.summary()
    camera = feed.camera
    summary["config"] = {
        # Even masked, a source URL tells a viewer where the camera is on the network.
        "source": camera.source.describe() if config().web.show_sources else camera.source.kind,
        "fps": camera.fps,
        "width": camera.width,
        "height": camera.height,
        "jpeg_quality": camera.jpeg_quality,
        "detectors": [spec.name for spec in camera.detectors],
        "max_age_ms": camera.max_age_ms,
        "ordered": camera.ordered,
        "annotate": camera.annotate,
        "drawing": camera.drawing,
        "zones": [zone_settings(zone) for zone in camera.zones],
        "lines": [
            {"name": line.name, "points": [list(p) for p in line.points]} for line in camera.lines
        ],
    }
    summary["objects"], summary["occupancy"] = feed.occupancy()
    summary["lines"] = feed.line_counts()
    return summary


def zone_settings(zone: Zone) -> dict[str, Any]:
    """Every setting of a zone, as the config writes it (the page's editor sends them back)."""
    return {"name": zone.name, "points": [list(point) for point in zone.points],
            "labels": list(zone.labels), "inertia": zone.inertia,
            "loitering_s": zone.loitering_s}  # fmt: skip
