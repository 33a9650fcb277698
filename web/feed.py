"""One camera's feed in the streamer: the newest frame, its status and its figures.

A feed keeps exactly one frame, the newest. Viewers wait on its condition and
always get the newest frame when they are ready for one, so a slow viewer
skips frames instead of falling behind. The MJPEG part (headers and JPEG) is
built once per frame, not once per viewer.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.core.annotate import drawn_jpeg
from pipeline.core.camera_config import CameraConfig
from pipeline.core.messages import Result, Status
from web.overlay import overlay_header
from web.stats import LatencyWindow, RateMeter

BOUNDARY = "frame"
STATUS_FRESH_S = 3.0
OFFLINE_AFTER_S = 10.0
LAST_DETECTIONS = 20


class FeedObserver(Protocol):
    """Where a feed reports what happens to frames (the Prometheus metrics)."""

    def received(self, camera: str, result: Result, received_at: float) -> None: ...

    def written(self, camera: str, frame: ShownFrame, written_at: float) -> None: ...


BOUNDARY_LINE = f"--{BOUNDARY}\r\n".encode()


def frame_headers(camera: str, seq: int, captured_at: float) -> dict[str, str]:
    """Which frame a part or a snapshot is: every viewer reads these to measure."""
    return {"X-Camera": camera, "X-Frame-Seq": str(seq), "X-Captured-At": f"{captured_at:.6f}"}


def mjpeg_part(jpeg: bytes, headers: dict[str, str]) -> bytes:
    """A multipart part after its boundary line: headers, the JPEG, CRLF.

    The boundary line is sent on its own, first, by the viewer's generator
    (see ``web.viewer``), so that the frame is chosen only once the viewer is
    ready for it.
    """
    lines = ["Content-Type: image/jpeg", f"Content-Length: {len(jpeg)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + jpeg + b"\r\n"


@dataclass
class ShownFrame:
    """A result accepted for showing (as it came: ``result``), with its MJPEG part
    ready to write."""

    version: int
    result: Result
    received_at: float
    part: bytes
    # A page-drawn camera's picture with its boxes drawn in, and its part, made
    # when first asked for (a snapshot, a /video viewer that is no page): one
    # drawing a frame, however many ask.
    drawn: bytes | None = field(default=None, repr=False)
    drawn_part: bytes | None = field(default=None, repr=False)
    drawing: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def with_boxes(self, camera: CameraConfig) -> bytes:
        """The picture with its detections drawn in (for a page-drawn camera)."""
        return self._drawing(camera)[0]

    def part_with_boxes(self, camera: CameraConfig) -> bytes:
        """The MJPEG part of ``with_boxes``: no ``X-Overlay``, the boxes are in it."""
        return self._drawing(camera)[1]

    def _drawing(self, camera: CameraConfig) -> tuple[bytes, bytes]:
        with self.drawing:  # viewers of one frame wait for one drawing, not make many
            if self.drawn_part is None:  # the picture and its part are made together
                result = self.result
                drawn = drawn_jpeg(
                    result.data, camera.id, result.seq, result.captured_at, result.detections,
                    camera.jpeg_quality,
                )  # fmt: skip
                self.drawn = drawn or result.data  # checked on arrival, so it decodes
                headers = frame_headers(camera.id, result.seq, result.captured_at)
                self.drawn_part = mjpeg_part(self.drawn, headers)
            return self.drawn, self.drawn_part


@dataclass
class CameraFeed:
    camera: CameraConfig
    condition: threading.Condition = field(default_factory=threading.Condition)
    latest: ShownFrame | None = None
    latest_at: float = 0.0  # monotonic time of the latest accepted frame
    version: int = 0
    status: Status | None = None
    status_at: float = 0.0
    dropped: Counter = field(default_factory=Counter)
    received: int = 0
    written: int = 0  # frames written to viewers, once per viewer
    latency_received: LatencyWindow = field(default_factory=LatencyWindow)
    latency_written: LatencyWindow = field(default_factory=LatencyWindow)
    fps_in: RateMeter = field(default_factory=RateMeter)
    fps_out: RateMeter = field(default_factory=RateMeter)
    viewers: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=LAST_DETECTIONS))
    created_at: float = field(default_factory=time.monotonic)
    # Told about every change, for viewers that watch several feeds at once.
    on_change: Callable[[], None] | None = None
    observer: FeedObserver | None = None
    closed: bool = False  # the camera left the config: its viewers' streams end
    restarts: int = 0  # times a lower seq was accepted because the shown frame had gone stale

    def offer(self, result: Result, received_at: float | None = None) -> bool:
        """Accept a result if it is newer than what is shown and still fresh."""
        received_at = received_at if received_at is not None else time.time()
        age_ms = (received_at - result.captured_at) * 1000
        with self.condition:
            self.received += 1
            self.fps_in.tick()
            latest = self.latest
            if age_ms > self.camera.max_age_ms:
                self.dropped["stale"] += 1
                return False
            if latest is not None and result.seq <= latest.result.seq:
                if not self._shown_is_stale(latest, received_at):
                    # A slower detector worker finished an older frame after a newer one.
                    self.dropped["out_of_order"] += 1
                    return False
                # Nothing newer for longer than a frame may live: the capture worker
                # restarted with a lower seq (its clock stepped back). Follow it,
                # rather than freeze on the seq of a frame that will never return.
                self.restarts += 1
                latest = None
            if latest is not None and result.seq > latest.result.seq + 1:
                # Never reached us: dropped from a full queue, expired, or stale at a detector.
                self.dropped["not_delivered"] += result.seq - latest.result.seq - 1
            self.version += 1
            headers = frame_headers(result.camera, result.seq, result.captured_at)
            if result.overlay:
                headers["X-Overlay"] = overlay_header(
                    result.detections, result.width, result.height
                )
            part = mjpeg_part(result.data, headers)
            self.latest = ShownFrame(self.version, result, received_at, part)
            self.latest_at = time.monotonic()
            if result.detections:
                self.recent.append(
                    {
                        "seq": result.seq,
                        "captured_at": result.captured_at,
                        "detections": result.detections,
                    }
                )
            self.latency_received.add(age_ms)
            self.condition.notify_all()
        if self.observer is not None:
            self.observer.received(self.camera.id, result, received_at)
        self._changed()
        return True

    def _shown_is_stale(self, shown: ShownFrame, now: float) -> bool:
        return (now - shown.result.captured_at) * 1000 > self.camera.max_age_ms

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def wait_newer(self, version: int, timeout: float) -> ShownFrame | None:
        """The newest frame if it is newer than ``version``, waiting up to ``timeout``."""
        with self.condition:
            if self.version <= version:
                self.condition.wait(timeout)
            latest = self.latest
            return latest if latest is not None and latest.version > version else None

    def wake_all(self) -> None:
        with self.condition:
            self.condition.notify_all()

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.condition.notify_all()
        self._changed()

    def reconfigure(self, camera: CameraConfig) -> None:
        """The camera's settings changed; its frames and viewers stay."""
        with self.condition:
            self.camera = camera
            self.condition.notify_all()
        self._changed()

    def note_written(self, frame: ShownFrame, skipped: int) -> None:
        now = time.time()
        self.written += 1
        self.fps_out.tick()
        self.latency_written.add((now - frame.result.captured_at) * 1000)
        if skipped > 0:
            with self.condition:
                self.dropped["slow_viewer"] += skipped
        if self.observer is not None:
            self.observer.written(self.camera.id, frame, now)

    def set_status(self, status: Status) -> None:
        with self.condition:
            self.status = status
            self.status_at = time.monotonic()
            self.condition.notify_all()
        self._changed()

    def state(self, now: float | None = None) -> str:
        """``live``: fresh frames arrive; ``stale``: the camera is up but nothing
        fresh reaches us (no detector?); ``offline``: the camera is down or silent."""
        now = now if now is not None else time.monotonic()
        status_fresh = self.status is not None and now - self.status_at < STATUS_FRESH_S
        if status_fresh and self.status.state == "offline":
            return "offline"
        frame_age = now - self.latest_at if self.latest is not None else float("inf")
        if frame_age < max(2.0, 3.0 / self.camera.fps):
            return "live"
        heard_nothing_yet = self.latest is None and self.status is None
        if heard_nothing_yet and now - self.created_at < OFFLINE_AFTER_S:
            return "stale"  # just started: give the camera time to show up
        if status_fresh or frame_age < OFFLINE_AFTER_S:
            return "stale"
        return "offline"

    def line_counts(self) -> dict[str, dict[str, int]]:
        """Each counting line's crossings by direction, as the latest frame carries them."""
        latest = self.latest
        return {
            str(d["extra"]["line"]): {
                "in": d["extra"].get("in", 0),
                "out": d["extra"].get("out", 0),
            }
            for d in (latest.result.detections if latest is not None else [])
            if d.get("label") == "line" and "line" in (d.get("extra") or {})
        }

    def occupancy(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Tracked objects in the latest frame: by label, and in each zone by label."""
        latest = self.latest
        return occupancy(latest.result.detections if latest is not None else [])

    def summary(self) -> dict[str, Any]:
        now = time.monotonic()
        latest = self.latest
        status = self.status
        return {
            "id": self.camera.id,
            "name": self.camera.title,
            "status": self.state(now),
            "reason": status.reason if status is not None else "",
            "fps": self.fps_out.rate(now),
            "fps_in": self.fps_in.rate(now),
            "capture_fps": status.fps if status is not None else None,
            "capture_share": status.share if status is not None else None,
            "latency_ms": self.latency_written.percentiles(now),
            "latency_received_ms": self.latency_received.percentiles(now),
            "dropped": dict(self.dropped),
            "received": self.received,
            "seq_restarts": self.restarts,
            "viewers": self.viewers,
            "last_seq": latest.result.seq if latest is not None else None,
            "last_captured_at": latest.result.captured_at if latest is not None else None,
            "last_timings": latest.result.timings if latest is not None else {},
            "last_worker": latest.result.worker if latest is not None else None,
            "last_ran": latest.result.ran if latest is not None else [],
            "last_skipped": latest.result.skipped if latest is not None else [],
            "last_detections": latest.result.detections if latest is not None else [],
            "recent_detections": list(self.recent),
            "latency_series_ms": self.latency_written.series(60, now),
        }


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
