"""Every exchange and queue name, and the arguments that bound each queue, in one place.

All names share a namespace prefix (``rabbitcam`` by default) so that two
deployments, or a test run beside a live demo, can share one broker without
seeing each other's frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.config import CameraConfig

DEAD_QUEUE_LENGTH = 10_000
EVENTS_QUEUE_LENGTH = 100_000
VIEWER_QUEUE_LENGTH = 2
STATUS_QUEUE_LENGTH = 1_000


@dataclass(frozen=True)
class Topology:
    namespace: str = "rabbitcam"

    @property
    def frames_exchange(self) -> str:
        """Direct exchange: routing key = camera id → that camera's frame queue."""
        return f"{self.namespace}.frames"

    @property
    def results_exchange(self) -> str:
        """Topic exchange of annotated results; every streamer binds its own queues."""
        return f"{self.namespace}.detect"

    @property
    def events_exchange(self) -> str:
        """Topic exchange of detection events, routing key ``<camera>.<label>``."""
        return f"{self.namespace}.events"

    @property
    def status_exchange(self) -> str:
        """Topic exchange of capture heartbeats, routing key = camera id."""
        return f"{self.namespace}.status"

    @property
    def dead_exchange(self) -> str:
        return f"{self.namespace}.dlx"

    @property
    def dead_queue(self) -> str:
        return f"{self.namespace}.dead"

    def frame_queue(self, camera_id: str) -> str:
        return f"{self.namespace}.frames.{camera_id}"

    def events_queue(self, camera_id: str) -> str:
        return f"{self.namespace}.events.{camera_id}"

    @staticmethod
    def frame_queue_arguments(camera: CameraConfig) -> dict[str, Any]:
        # Newest frames win: a full queue drops its oldest frame, and a frame nobody
        # took within the TTL expires. Neither is dead-lettered: a late frame is
        # worthless, not an error.
        arguments: dict[str, Any] = {
            "x-max-length": camera.queue_length,
            "x-overflow": "drop-head",
            "x-message-ttl": camera.queue_ttl_ms,
        }
        if camera.ordered:
            # Stateful detectors (a background model, a blink, a fall) must see the
            # camera's frames in order: one worker at a time gets them all, and
            # another takes over when its connection goes.
            arguments["x-single-active-consumer"] = True
        return arguments

    @staticmethod
    def events_queue_arguments() -> dict[str, Any]:
        # Quorum: events are the record, and survive the loss of a cluster node.
        return {
            "x-queue-type": "quorum",
            "x-max-length": EVENTS_QUEUE_LENGTH,
            "x-overflow": "drop-head",
        }

    @staticmethod
    def dead_queue_arguments() -> dict[str, Any]:
        # Quorum, as the events: the record of bad input survives the loss of a node.
        return {
            "x-queue-type": "quorum",
            "x-max-length": DEAD_QUEUE_LENGTH,
            "x-overflow": "drop-head",
        }

    @staticmethod
    def viewer_queue_arguments() -> dict[str, Any]:
        # A streamer that falls behind loses old frames, never shows a backlog.
        return {"x-max-length": VIEWER_QUEUE_LENGTH, "x-overflow": "drop-head"}

    @staticmethod
    def status_queue_arguments() -> dict[str, Any]:
        return {"x-max-length": STATUS_QUEUE_LENGTH, "x-overflow": "drop-head"}
