"""Prometheus metrics of the streamer (``/metrics``), one registry per app.

Latency histograms are observed as frames pass; counters and gauges that the
feeds already keep (frames, drops by reason, viewers, reconnects) are read
from them at scrape time, so ``/metrics`` and ``/api/cameras`` can never
disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, current_app, g
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pipeline.core.messages import Result

if TYPE_CHECKING:
    from web.feed import ShownFrame
    from web.hub import FrameHub

# Seconds: from a few milliseconds (one hop on a quiet LAN) to the 2 s a frame may live.
BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0)
STATES = ("live", "stale", "offline")


class StreamMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.stage_latency = Histogram(
            "rabbitcam_stage_latency_seconds",
            "Time a frame spent in each stage: capture_to_detector, detector, "
            "detector_to_streamer, streamer_to_viewer; capture_to_streamer for direct cameras",
            ["camera", "stage"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.end_to_end = Histogram(
            "rabbitcam_latency_seconds",
            "Capture to written to a viewer: how far behind the picture is",
            ["camera"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.hub: FrameHub | None = None
        self.registry.register(_FeedCollector(self))

    def received(self, camera: str, result: Result, received_at: float) -> None:
        timings = result.timings
        if "queue_ms" in timings:
            self.stage_latency.labels(camera, "capture_to_detector").observe(
                timings["queue_ms"] / 1000
            )
        if "detect.total_ms" in timings:
            self.stage_latency.labels(camera, "detector").observe(timings["detect.total_ms"] / 1000)
        if "detected_at" in timings:
            hop = max(0.0, received_at - timings["detected_at"])
            self.stage_latency.labels(camera, "detector_to_streamer").observe(hop)
        elif "capture.published_at" in timings:  # a direct camera: no detector on the way
            hop = max(0.0, received_at - timings["capture.published_at"])
            self.stage_latency.labels(camera, "capture_to_streamer").observe(hop)

    def written(self, camera: str, frame: ShownFrame, written_at: float) -> None:
        self.stage_latency.labels(camera, "streamer_to_viewer").observe(
            max(0.0, written_at - frame.received_at)
        )
        self.end_to_end.labels(camera).observe(max(0.0, written_at - frame.result.captured_at))


class _FeedCollector:
    def __init__(self, metrics: StreamMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        hub = self.metrics.hub
        if hub is None:
            return
        received = CounterMetricFamily(
            "rabbitcam_frames_received", "Results received from the broker", labels=["camera"]
        )
        written = CounterMetricFamily(
            "rabbitcam_frames_written",
            "Frames written to viewers (once per viewer)",
            labels=["camera"],
        )
        dropped = CounterMetricFamily(
            "rabbitcam_frames_dropped", "Frames not shown, by reason", labels=["camera", "reason"]
        )
        viewers = GaugeMetricFamily("rabbitcam_viewers", "Viewers watching", labels=["camera"])
        state = GaugeMetricFamily(
            "rabbitcam_camera_state", "1 for the camera's current state", labels=["camera", "state"]
        )
        share = GaugeMetricFamily(
            "rabbitcam_capture_share",
            "Share of its configured frames capture publishes (below 1 while it sheds load)",
            labels=["camera"],
        )
        objects = GaugeMetricFamily(
            "rabbitcam_objects", "Tracked objects in view, by label", labels=["camera", "label"]
        )
        in_zones = GaugeMetricFamily(
            "rabbitcam_zone_objects", "Tracked objects in a zone, by label ('all': any)",
            labels=["camera", "zone", "label"],
        )  # fmt: skip
        crossings = GaugeMetricFamily(
            "rabbitcam_line_crossings", "Objects across a counting line, by direction, since "
            "the detector worker took the camera", labels=["camera", "line", "direction"],
        )  # fmt: skip
        for camera_id, feed in hub.feeds.items():
            for line, counts in sorted(feed.line_counts().items()):
                for direction, count in counts.items():
                    crossings.add_metric([camera_id, line, direction], count)
            in_view, zones = feed.occupancy()
            for label, count in sorted(in_view.items()):
                objects.add_metric([camera_id, label], count)
            for zone in feed.camera.zones:
                counts = zones.get(zone.name, {})
                in_zones.add_metric([camera_id, zone.name, "all"], sum(counts.values()))
                for label, count in sorted(counts.items()):
                    in_zones.add_metric([camera_id, zone.name, label], count)
            received.add_metric([camera_id], feed.received)
            written.add_metric([camera_id], feed.written)
            for reason, count in sorted(feed.dropped.items()):
                dropped.add_metric([camera_id, reason], count)
            viewers.add_metric([camera_id], feed.viewers)
            current = feed.state()
            for name in STATES:
                state.add_metric([camera_id, name], 1.0 if name == current else 0.0)
            if feed.status is not None:  # no heartbeat yet: nothing to say
                share.add_metric([camera_id], feed.status.share)
        reconnects = CounterMetricFamily(
            "rabbitcam_broker_reconnects", "Times the streamer reconnected to the broker"
        )
        reconnects.add_metric([], hub.reconnects)
        yield from (
            received,
            written,
            dropped,
            viewers,
            state,
            share,
            reconnects,
            objects,
            in_zones,
        )


prometheus = Blueprint("metrics", __name__)


@prometheus.get("/metrics")
def scrape() -> Response:
    who = g.get("visitor")
    if who is None or who.visible_cameras is not None:
        abort(403, description="the metrics speak of every camera: for admins and viewers of all")
    metrics: StreamMetrics = current_app.extensions["rabbitcam.metrics"]
    return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)
