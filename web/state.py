"""What every blueprint reads from the app: the config, the frame hub, the stream
slots and the metrics, set once by ``create_app`` in ``app.extensions``."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app

from pipeline.core.config import Config
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


def feed_or_404(camera_id: str) -> CameraFeed:
    """Only configured camera ids reach a feed; anything else is a plain 404."""
    feed = hub().feed(camera_id)
    if feed is None:
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
        "zones": [
            {"name": zone.name, "points": [list(p) for p in zone.points]} for zone in camera.zones
        ],
    }
    summary["objects"], summary["occupancy"] = occupancy(summary["last_detections"])
    return summary


def occupancy(detections: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Tracked objects in view by label, and in each zone by label (from the latest frame)."""
    in_view: dict[str, int] = {}
    zones: dict[str, dict[str, int]] = {}
    for detection in detections:
        extra = detection.get("extra") or {}
        if "object" not in extra or detection.get("event"):
            continue  # not a tracked object, or its start event beside it
        label = detection["label"]
        in_view[label] = in_view.get(label, 0) + 1
        for zone in extra.get("zones") or []:
            counts = zones.setdefault(str(zone), {})
            counts[label] = counts.get(label, 0) + 1
    return in_view, zones
