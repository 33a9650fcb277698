"""``rabbitcam events``: tail detection events — the alarm consumer users wire to notifications.

Events are published to the events exchange with routing key
``<camera>.<label>``; this binds a private queue with the matching pattern and
prints one JSON object per line, so its output can be piped to anything.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any, TextIO

from pipeline.core import broker
from pipeline.core.config import BrokerConfig
from pipeline.core.logs import Throttled
from pipeline.core.messages import Event, unpack
from pipeline.core.topology import Topology

LOGGER = logging.getLogger(__name__)


def routing_pattern(camera: str | None, label: str | None) -> str:
    return f"{camera or '*'}.{label or '*'}"


class EventTail(broker.Role):
    pump_s = 0.5

    def __init__(
        self,
        broker_config: BrokerConfig,
        stop: threading.Event,
        camera: str | None = None,
        label: str | None = None,
        out: TextIO = sys.stdout,
        count: int | None = None,
    ) -> None:
        super().__init__("events", broker_config, stop, Topology(broker_config.namespace))
        self.pattern = routing_pattern(camera, label)
        self.out = out
        self.count = count
        self.seen = 0
        self.rejected = 0
        self.rejections = Throttled(LOGGER)
        self.subscribed = threading.Event()

    def run(self) -> None:
        self.serve()

    def reads(self, session: broker.Session) -> list[broker.Reads]:
        return [
            broker.Reads(
                self._on_event, f"events:{self.pattern}",
                ((self.topology.events_exchange, self.pattern),),
                arguments=self.topology.status_queue_arguments(), on_reject=self._on_reject,
            )
        ]  # fmt: skip

    def on_session(self, session: broker.Session) -> None:
        self.subscribed.set()
        LOGGER.info("events: listening for %s", self.pattern)

    def _on_event(self, body: bytes, _properties: Any) -> None:
        event = unpack(body, Event)  # the detection in it is checked against the schema
        detection = event.detection
        line = {
            "camera": event.camera,
            "label": detection["label"],
            "seq": event.seq,
            "captured_at": event.captured_at,
            **{k: v for k, v in detection.items() if k != "label"},
        }
        # ASCII-only JSON: no character from the wire reaches the terminal raw.
        self.out.write(json.dumps(line, allow_nan=False) + "\n")
        self.out.flush()
        self.seen += 1
        if self.count is not None and self.seen >= self.count:
            self.stop.set()

    def _on_reject(self, reason: str) -> None:
        self.rejected += 1
        self.rejections.warning("events: rejected a bad event: %s", reason)
