"""The alarm role: detection events out to phones and home-automation systems.

Each ``[[alarms]]`` target has a durable queue of its own on the events
exchange (``<ns>.alarms.<name>``) and a thread of its own with its own broker
connection, so a target that is down or slow holds back nothing but its own
alarms: frames, detectors, the streamer and the other targets never wait for
it. Alarms wait in the broker while their target is away (up to
``max_age_s``), and go out in order once it answers again.

Per alarm: one attempt, and on failure another after a backoff that doubles
from 1 s to 30 s, up to ``attempts`` in all (20: about 8 minutes) (the connection's heartbeats are
kept while it waits); then it is logged as given up and dead-lettered with the
reason. A webhook's 4xx refusal (but 408, 425 and 429) is given up at once: no
retry will change it. ``cooldown_s`` holds back repeats of the same camera
and label.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from functools import partial
from typing import Any

from detectors.track import CENSUS_LABEL
from pipeline.core import broker
from pipeline.core.alarm_config import AlarmConfig
from pipeline.core.backoff import Backoff
from pipeline.core.config import Config
from pipeline.core.logs import Throttled
from pipeline.core.messages import Event, unpack
from pipeline.core.reload import CameraChanges, ConfigWatcher
from pipeline.core.signals import run_in_threads
from pipeline.core.topology import Topology
from pipeline.roles.alarm_targets import Attempt, Target, make_target

LOGGER = logging.getLogger(__name__)

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
STATS_INTERVAL_S = 60.0
# A target's send bounds itself by timeout_s; one that overruns it by this much
# is stuck (a library's bug, a kernel that does not time out) and given up on.
SEND_OVERRUN_S = 2.0


def iso_time(seconds: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int(seconds % 1 * 1000):03d}Z"


def alarm_payload(config: Config, event: Event) -> dict[str, Any]:
    """What a target receives: the event, the camera's name, and links to see it."""
    detection = event.detection
    camera_id = event.camera
    camera = next((c for c in config.cameras if c.id == camera_id), None)
    payload: dict[str, Any] = {
        "camera": camera_id,
        "camera_name": camera.title if camera is not None else camera_id,
        "label": detection["label"],
        "time": iso_time(event.captured_at),
        "captured_at": event.captured_at,
        "seq": event.seq,
        "score": detection.get("score", 1.0),
        # The same on every attempt of this alarm: a receiver takes a redelivery once.
        "delivery": uuid.uuid4().hex,
    }
    for key in ("box", "extra"):
        if key in detection:
            payload[key] = detection[key]
    if config.web.public_url:
        base = config.web.public_url
        payload["links"] = {
            "camera": f"{base}/camera/{camera_id}",
            "events": f"{base}/events?camera={camera_id}",
            "snapshot": f"{base}/snapshot/{camera_id}.jpg",
        }
    return payload


class AlarmSender(broker.Role):
    """One target: its queue, its connection, its retries."""

    def __init__(self, config: Config, alarm: AlarmConfig, target: Target, stop: threading.Event):
        topology = Topology(config.broker.namespace)
        super().__init__(f"alarm:{alarm.name}", config.broker, stop, topology)
        self.config = config
        self.alarm = alarm
        self.target = target
        self.queue = self.topology.alarm_queue(alarm.name)
        self.pending: list[broker.Message] = []
        self.last_stats = time.monotonic()
        self.sent_at: dict[tuple[str, str], float] = {}
        self.delivered = 0
        self.retried = 0
        self.given_up = 0
        self.held_back = 0
        self.rejections = Throttled(LOGGER)
        self.subscribed = threading.Event()
        self.watcher = ConfigWatcher(config, self.role)

    def run(self) -> None:
        LOGGER.info("%s: to %s (%s)", self.role, self.target.describe(), self._filters())
        try:
            self.serve()
        finally:
            self.target.close()
            LOGGER.info("%s: stopped (delivered %d, retried %d, given up %d, held back %d)",
                        self.role, self.delivered, self.retried, self.given_up,
                        self.held_back)  # fmt: skip

    def _filters(self) -> str:
        cameras = ", ".join(self.alarm.cameras) or "every camera"
        labels = ", ".join(self.alarm.labels) or "every label"
        return f"{cameras}; {labels}"

    # One at a time, in order: an alarm being retried holds back the next.
    prefetch = 1

    def reads(self, session: broker.Session) -> list[broker.Reads]:
        # Delivering waits (retries, pumping the connection): done in on_tick.
        return [
            broker.Reads(
                partial(self._handle, session), self.role, ((self.topology.events_exchange, "#"),),
                queue=self.queue, arguments=self.topology.alarm_queue_arguments(self.alarm),
                on_reject=self._on_reject, later=self.pending,
            )
        ]  # fmt: skip

    def on_session(self, session: broker.Session) -> None:
        # Deliveries of a lost connection can no longer be acknowledged; the broker
        # gives them again.
        self.pending.clear()
        self.subscribed.set()

    def on_tick(self, session: broker.Session) -> None:
        self._tick()
        # No message can end the target: one it cannot take (a bad event, or one
        # that meets a bug) is dead-lettered with why, and the next comes.
        handle = broker.shielded(partial(self._handle, session), session, self.role,
                                 self._on_reject)  # fmt: skip
        while self.pending and not self.stop.is_set():
            message = self.pending.pop(0)
            if handle(message) is not False:
                session.ack(message.tag)
        if time.monotonic() - self.last_stats > STATS_INTERVAL_S:
            self.last_stats = time.monotonic()
            LOGGER.info("%s: delivered %d, retried %d, given up %d, held back %d",
                        self.role, self.delivered, self.retried, self.given_up,
                        self.held_back)  # fmt: skip

    def on_config(self, session: broker.Session, changes: CameraChanges) -> None:
        """The cameras changing (Home Assistant's discovery); a failure is logged,
        never the end of the target."""
        assert self.watcher is not None
        self.config = self.watcher.config
        try:
            self.target.cameras_changed(self.config.cameras)
        except Exception as error:
            self.rejections.warning("%s: following the cameras failed: %s: %s",
                                    self.role, type(error).__name__, error)  # fmt: skip

    def _tick(self) -> None:
        """Time passing for the target (MQTT states clearing); a failure is logged,
        never the end of the target."""
        try:
            self.target.tick()
        except Exception as error:
            self.rejections.warning("%s: keeping the target's states failed: %s: %s",
                                    self.role, type(error).__name__, error)  # fmt: skip

    def _on_reject(self, reason: str) -> None:
        self.rejections.warning("%s: rejected a bad event: %s", self.role, reason)

    def _handle(self, session: broker.Session, body: bytes, properties: Any) -> bool:
        """Deliver one alarm (or decide not to); False if stopped before it was done."""
        event = unpack(body, Event)
        camera, label = event.camera, event.detection["label"]
        payload = alarm_payload(self.config, event)
        if not self.alarm.cameras or camera in self.alarm.cameras:
            # every event: counts of objects stay right, snapshots of them are the last
            self.target.follow(payload, event.snapshot)
        if label == CENSUS_LABEL or not self.alarm.wants(camera, label):
            # a census is bookkeeping for the counts, never an alarm
            return True
        if time.time() - event.captured_at > self.alarm.max_age_s:
            LOGGER.warning("%s: dropped a %s alarm of %s: older than %.0f s", self.role, label,
                           camera, self.alarm.max_age_s)  # fmt: skip
            return True
        self.target.observe(payload)
        key = (camera, label)
        if time.monotonic() - self.sent_at.get(key, -1e18) < self.alarm.cooldown_s:
            self.held_back += 1
            return True
        outcome = self._deliver(session, payload, event.snapshot)
        if outcome is None:
            return False
        if outcome.ok:
            self.sent_at[key] = time.monotonic()
            self.delivered += 1
            return True
        self.given_up += 1
        reason = f"alarm {self.alarm.name}: gave up: {outcome.why}"
        LOGGER.error("%s: gave up a %s alarm of %s: %s", self.role, label, camera, outcome.why)
        session.dead_letter(body, reason, self.role, properties)
        return True

    def _deliver(
        self, session: broker.Session, payload: dict[str, Any], snapshot: bytes | None
    ) -> Attempt | None:
        """Attempts with a doubling backoff; the last Attempt, or None if stopped."""
        backoff = Backoff(initial=RETRY_FIRST_S, maximum=RETRY_MAX_S)
        outcome = Attempt(False, "not tried")
        for attempt in range(1, self.alarm.attempts + 1):
            outcome = self._attempt(session, payload, snapshot)
            if outcome is None or outcome.ok or outcome.final:
                if outcome is not None and outcome.ok and attempt > 1:
                    LOGGER.info("%s: delivered a %s alarm of %s at attempt %d", self.role,
                                payload["label"], payload["camera"], attempt)  # fmt: skip
                return outcome
            if attempt == self.alarm.attempts:
                break
            delay = backoff.next_delay()
            self.retried += 1
            LOGGER.warning("%s: attempt %d of %d failed (%s); next in %.1f s", self.role, attempt,
                           self.alarm.attempts, outcome.why, delay)  # fmt: skip
            if not self._wait(session, delay):
                return None
        return Attempt(False, f"{outcome.why} (after {self.alarm.attempts} attempts)")

    def _attempt(
        self, session: broker.Session, payload: dict[str, Any], snapshot: bytes | None
    ) -> Attempt | None:
        """One send, on a thread of its own, while this one keeps the broker's heartbeats.

        The send thread is a daemon: a stop never waits for it. Whatever the send
        raises is a failed attempt, not the end of the target."""
        outcome: list[Attempt] = []

        def send() -> None:
            try:
                outcome.append(self.target.send(payload, snapshot))
            except Exception as error:  # a target's bug or a library's surprise
                LOGGER.exception("%s: a send failed unexpectedly", self.role)
                outcome.append(Attempt(False, f"{type(error).__name__}: {error}"[:300]))

        thread = threading.Thread(target=send, name=f"{self.role}:send", daemon=True)
        thread.start()
        deadline = time.monotonic() + self.alarm.timeout_s + SEND_OVERRUN_S
        while thread.is_alive():
            if self.stop.is_set():
                return None
            if time.monotonic() > deadline:
                return Attempt(False, f"no answer within {self.alarm.timeout_s} s")
            session.pump(0.1)
        return outcome[0]

    def _wait(self, session: broker.Session, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stop.is_set():
                return False
            session.pump(min(left, 0.25), sleep=True)
            self._tick()
        return not self.stop.is_set()


def run_alarms(config: Config, stop: threading.Event, alarms: list[AlarmConfig]) -> None:
    """Every target in a thread of its own; returns when ``stop`` is set."""
    senders = [
        AlarmSender(
            config, alarm, make_target(alarm, config.broker.namespace, config.cameras), stop
        )
        for alarm in alarms
    ]
    for camera_list in (alarm.cameras for alarm in alarms):
        for camera in camera_list:
            if camera not in config.camera_ids:
                LOGGER.warning("alarms: camera %r is not configured (yet)", camera)
    run_in_threads([(sender.role, sender.run) for sender in senders], stop)
