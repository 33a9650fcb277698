"""Every exchange and queue name, and the arguments that bound each queue, in one place.

All names share a namespace prefix (``rabbitcam`` by default) so that two
deployments, or a test run beside a live demo, can share one broker without
seeing each other's frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.alarm_config import AlarmConfig
from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import RecordConfig

DEAD_QUEUE_LENGTH = 10_000
MB = 1024 * 1024
# Queues of a role's own (the recorder's, an alarm target's) that nobody has used
# for a week are removed by the broker: a target taken out of the config leaves
# nothing behind for ever.
UNUSED_QUEUE_EXPIRES_MS = 7 * 86_400_000
JPEG_BYTES_PER_PIXEL = 0.15
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
    def footage_exchange(self) -> str:
        """Direct exchange: routing key = camera id → that camera's footage stream."""
        return f"{self.namespace}.footage"

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

    def recent_queue(self, camera_id: str) -> str:
        """Stream queue: the last minute or so of a recording camera's annotated frames."""
        return f"{self.namespace}.recent.{camera_id}"

    def footage_queue(self, camera_id: str) -> str:
        """Stream queue: a camera's footage as it came, kept ``footage_buffer_s``."""
        return f"{self.namespace}.footage.{camera_id}"

    @property
    def record_queue(self) -> str:
        """The recorder's own durable queue of detection events."""
        return f"{self.namespace}.record"

    def alarm_queue(self, alarm_name: str) -> str:
        """One alarm target's own durable queue of detection events."""
        return f"{self.namespace}.alarms.{alarm_name}"

    @staticmethod
    def recent_queue_arguments(record: RecordConfig, camera: CameraConfig) -> dict[str, Any]:
        # The broker keeps the recent past on disk, bounded by age and by bytes.
        # Retention drops whole segments, and only when a new one starts, so a
        # stream holds keep_s plus up to one segment: segments of about an eighth
        # of what keep_s holds keep that overshoot small (measured in
        # benchmarks/recording.py). A JPEG frame is taken as 0.15 bytes a pixel,
        # real footage at quality 80; simpler pictures make smaller frames.
        max_bytes = record.keep_mb * MB
        per_second = camera.fps * camera.width * camera.height * JPEG_BYTES_PER_PIXEL
        segment = int(min(max_bytes / 8, per_second * record.keep_s / 8))
        return {
            "x-queue-type": "stream",
            "x-max-age": f"{record.keep_s}s",
            "x-max-length-bytes": max_bytes,
            "x-stream-max-segment-size-bytes": min(16 * MB, max(MB, segment)),
        }

    @staticmethod
    def footage_queue_arguments(record: RecordConfig) -> dict[str, Any]:
        # Kept on disk by the broker for as long as a recorder may be away; segments
        # of a sixteenth of the bytes keep retention's overshoot small.
        max_bytes = record.footage_buffer_mb * MB
        return {
            "x-queue-type": "stream",
            "x-max-age": f"{record.footage_buffer_s}s",
            "x-max-length-bytes": max_bytes,
            "x-stream-max-segment-size-bytes": min(64 * MB, max(MB, max_bytes // 16)),
        }

    @staticmethod
    def record_queue_arguments() -> dict[str, Any]:
        # Quorum, as the events: an event that reached the recorder's queue survives
        # a recorder restart and the loss of a node. One recorder at a time.
        return {
            "x-queue-type": "quorum",
            "x-max-length": EVENTS_QUEUE_LENGTH,
            "x-overflow": "drop-head",
            "x-single-active-consumer": True,
            "x-expires": UNUSED_QUEUE_EXPIRES_MS,
        }

    @staticmethod
    def alarm_queue_arguments(alarm: AlarmConfig) -> dict[str, Any]:
        # Kept while the target is down, up to a bound and an age: an alarm that
        # could not go out within max_age_s is news no more.
        return {
            "x-queue-type": "quorum",
            "x-max-length": EVENTS_QUEUE_LENGTH,
            "x-overflow": "drop-head",
            "x-message-ttl": int(alarm.max_age_s * 1000),
            "x-single-active-consumer": True,
            "x-expires": UNUSED_QUEUE_EXPIRES_MS,
        }

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
