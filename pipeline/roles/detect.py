"""The detector worker: competing consumer of frame queues, prefetch=1.

Two threads, one pika connection. The I/O thread owns the connection: it
receives deliveries, and publishes results, events and dead letters and acks,
always in that order (publish, then ack: a worker that dies mid-frame leaves
the frame unacked, and the broker gives it to another worker). The processing
thread decodes, runs the camera's detectors, annotates and encodes, so that a
slow detection never starves the heartbeats; it hands its outcome back through
a queue and wakes the I/O thread with ``add_callback_threadsafe``, the one
thread-safe call of a BlockingConnection.

A camera whose frames have proven cheap (each of its last ``INLINE_AFTER``
frames took under ``INLINE_UNDER_MS``) is processed on the I/O thread itself,
inside the delivery callback: for motion detection the hand-off (a queue, a
wake-up through the connection, the two threads taking turns at the
interpreter) costs about as much as the detection. Its first frames (when
models load), and any camera that has been slow lately, keep the processing
thread, so a heavy detector still never holds up the heartbeats.

A worker that serves every camera of its config follows the config live: a
camera added to it (a drop-in file) is subscribed within a second or two, a
removed one is let go, and a changed one is subscribed afresh with its new
detectors.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

import detectors
from pipeline.core import broker
from pipeline.core.annotate import annotate
from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import Config
from pipeline.core.jpeg import JpegError, check_jpeg_size
from pipeline.core.logs import Throttled, about
from pipeline.core.messages import (
    Event,
    Frame,
    MessageError,
    Result,
    check_detection,
    pack,
    unpack,
)
from pipeline.core.reload import CameraChanges, ConfigWatcher
from pipeline.core.signals import ThreadEnded
from pipeline.core.topology import Topology
from pipeline.roles.chain import DetectorChain

LOGGER = logging.getLogger(__name__)

STATS_INTERVAL_S = 30.0
DRAIN_ON_STOP_S = 2.0
STANDBY_DELAY_S = 2.0
# A camera runs on the I/O thread once each of its last INLINE_AFTER frames took
# under INLINE_UNDER_MS: short enough that the deliveries and heartbeats of the
# connection wait no longer than a thread switch might make them wait anyway.
INLINE_UNDER_MS = 15.0
INLINE_AFTER = 8
# A label becomes one word of a topic routing key: no dots or wildcards in it.
ROUTING_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Delivery:
    generation: int
    delivery_tag: int
    camera: CameraConfig
    body: bytes
    properties: Any
    received_at: float
    wake: Callable[[], None]


@dataclass
class Handled:
    """What became of one delivered frame: its result, its events, or why it is dead."""

    delivery: Delivery
    result: bytes | None = None
    events: list[tuple[str, bytes]] = field(default_factory=list)
    dead_reason: str | None = None


@dataclass
class DetectCounters:
    processed: int = 0
    inline: int = 0  # of those processed, how many on the I/O thread
    stale: int = 0
    rejected: int = 0
    detector_errors: int = 0
    events: int = 0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class DetectorWorker(broker.Role):
    pump_s = 0.5

    def __init__(
        self,
        config: Config,
        cameras: list[CameraConfig],
        stop: threading.Event,
        worker_id: str | None = None,
        prefer: set[str] | None = None,
        watcher: ConfigWatcher | None = None,
    ) -> None:
        if not cameras and watcher is None:
            raise ValueError("a detector worker needs at least one camera")
        self.config = config
        self.cameras = list(cameras)
        # Set when the worker serves every camera of the config: it follows changes.
        self.watcher = watcher
        # Ordered cameras go to whichever worker subscribes first; a worker waits a
        # moment before subscribing to the ordered cameras it does not prefer, so
        # that several workers started together share them out.
        self.prefer = prefer
        self.worker_id = worker_id or worker_name()
        topology = Topology(config.broker.namespace)
        super().__init__(f"detect:{self.worker_id}", config.broker, stop, topology)
        self.counters = DetectCounters()
        self.rejections = Throttled(LOGGER)
        self.inbox: queue.Queue[Delivery] = queue.Queue()
        self.outbox: queue.Queue[Handled] = queue.Queue()
        self.generation = 0
        self.last_stats = time.monotonic()
        self.busy = threading.Event()
        # One detector instance per camera and name: stateful detectors (a
        # background model) must never mix two cameras' pictures. Kept with the
        # camera config it was made for, so that a changed camera gets new ones.
        self.chains: dict[str, DetectorChain] = {}
        self.consumers: dict[str, str] = {}  # camera id -> consumer tag, this session
        self.last_event_at: dict[tuple[str, str], float] = {}
        # Per camera: how long its latest frames took, and a lock held while one of
        # its frames is processed (by either thread: a chain is never run twice at once).
        self.costs: dict[str, deque[float]] = {}
        self.camera_locks: dict[str, threading.Lock] = {}
        self.processor: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------

    def run(self) -> None:
        processor = threading.Thread(target=self._process_loop, name=f"{self.role}:work")
        self.processor = processor
        processor.start()
        LOGGER.info(
            "%s: serving cameras %s%s",
            self.role,
            ", ".join(c.id for c in self.cameras) or "(none yet)",
            " and following the config" if self.watcher else "",
        )
        try:
            self.serve()
        finally:
            self.stop.set()
            processor.join(timeout=5.0)
            LOGGER.info("%s: stopped (%s)", self.role, self.counters)

    prefetch = 1

    def declares_cameras(self) -> list[CameraConfig]:
        return self.cameras

    def on_session(self, session: broker.Session) -> None:
        self.generation += 1
        self._discard_pending()
        self.consumers = {}
        for camera in self.cameras:
            if camera.ordered and self.prefer is not None and camera.id not in self.prefer:
                session.later(STANDBY_DELAY_S, lambda c=camera: self._subscribe(session, c))
            else:
                self._subscribe(session, camera)

    def on_tick(self, session: broker.Session) -> None:
        processor_gone = self.processor is not None and not self.processor.is_alive()
        if processor_gone and not self.stop.is_set():  # (it ends by itself on a stop)
            # Never silently: the process exits non-zero and the supervisor restarts it.
            self.stop.set()
            raise ThreadEnded(f"{self.role}: the processing thread ended on its own")
        self._drain(session)
        if time.monotonic() - self.last_stats > STATS_INTERVAL_S:
            LOGGER.info("%s: %s", self.role, self.counters)
            self.last_stats = time.monotonic()

    def on_stop(self, session: broker.Session) -> None:
        """Stop taking frames, publish and ack the one in hand, then let go."""
        session.cancel_all()
        deadline = time.monotonic() + DRAIN_ON_STOP_S
        while (self.busy.is_set() or not self.inbox.empty()) and time.monotonic() < deadline:
            session.settle(0.1)
            self._drain(session)
        self._drain(session)

    def _subscribe(self, session: broker.Session, camera: CameraConfig) -> None:
        current = next((c for c in self.cameras if c.id == camera.id), None)
        if current is not camera or camera.id in self.consumers or camera.direct:
            return  # removed or changed meanwhile, already subscribed, or none of ours
        if session.is_open and not self.stop.is_set():
            on_message = self._on_message_factory(self.generation, camera, session)
            self.consumers[camera.id] = session.consume(
                self.topology.frame_queue(camera.id), on_message
            )

    def on_config(self, session: broker.Session, changes: CameraChanges) -> None:
        """Apply camera changes: let go of removed and changed cameras, take on new ones."""
        for camera in (*changes.removed, *changes.changed):
            tag = self.consumers.pop(camera.id, None)
            if tag is not None:
                session.cancel(tag)
            self.chains.pop(camera.id, None)
            self.costs.pop(camera.id, None)  # new detectors prove themselves anew
        gone = {camera.id for camera in (*changes.removed, *changes.changed)}
        self.cameras = [c for c in self.cameras if c.id not in gone]
        fresh = [*changes.changed, *changes.added]
        self.cameras += fresh
        if not fresh:
            return
        session.declare(fresh)
        for camera in fresh:
            LOGGER.info("%s: now serving %s", self.role, camera.id, **about(camera.id))
            if camera.ordered:
                # Every worker sees the new camera at about the same moment; a
                # random pause shares ordered cameras out among them.
                pause = random.uniform(0.0, 1.0)
                session.later(pause, lambda c=camera: self._subscribe(session, c))
            else:
                self._subscribe(session, camera)

    def _discard_pending(self) -> None:
        # Deliveries from a lost connection can no longer be acked; the broker has
        # already put them back for another consumer.
        for pending in (self.inbox, self.outbox):
            while True:
                try:
                    pending.get_nowait()
                except queue.Empty:
                    break

    # --- I/O thread -----------------------------------------------------------------

    def _on_message_factory(
        self, generation: int, camera: CameraConfig, session: broker.Session
    ) -> Callable[[broker.Message], None]:
        def wake() -> None:
            session.wake()  # if it is gone, the outcome is discarded with it

        def deliver(outcome: Handled) -> None:
            self._deliver(outcome, session)

        def on_message(message: broker.Message) -> None:
            delivery = Delivery(generation, message.tag, camera, message.body,
                                message.properties, time.time(), wake)  # fmt: skip
            if not self._process_inline(delivery, deliver):
                self.inbox.put(delivery)

        return on_message

    def _process_inline(self, delivery: Delivery, deliver: Callable[[Handled], None]) -> bool:
        """Process a cheap camera's frame here on the I/O thread and deliver its
        outcome; False (and nothing done) for a camera that is not known to be cheap,
        or whose previous frame the processing thread still has in hand."""
        lock = self._camera_lock(delivery.camera.id)
        if not lock.acquire(blocking=False):
            return False
        try:
            # Costs are only ever added under the camera's lock: read them under it.
            costs = self.costs.get(delivery.camera.id)
            if costs is None or len(costs) < INLINE_AFTER or max(costs) >= INLINE_UNDER_MS:
                return False
            outcome = self._processed(delivery)
        finally:
            lock.release()
        self.counters.inline += 1
        deliver(outcome)
        return True

    def _drain(self, session: broker.Session) -> None:
        while True:
            try:
                outcome = self.outbox.get_nowait()
            except queue.Empty:
                return
            if outcome.delivery.generation == self.generation:
                self._deliver(outcome, session)

    def _deliver(self, outcome: Handled, session: broker.Session) -> None:
        """Publish what a frame led to, then ack it (a worker that dies in between
        leaves the frame to be given to another)."""
        delivery = outcome.delivery
        camera = delivery.camera
        if outcome.dead_reason is not None:
            source = self.topology.frame_queue(camera.id)
            session.dead_letter(delivery.body, outcome.dead_reason, source, delivery.properties)
        if outcome.result is not None:
            session.publish(
                self.topology.results_exchange,
                camera.id,
                outcome.result,
                broker.properties(expiration_ms=max(camera.max_age_ms, 1000)),
            )
        for routing_key, event in outcome.events:
            session.publish(
                self.topology.events_exchange,
                routing_key,
                event,
                broker.properties(persistent=True),
                confirmed=True,
            )
        session.ack(delivery.delivery_tag)

    # --- processing thread --------------------------------------------------------------

    def _process_loop(self) -> None:
        while not self.stop.is_set() or not self.inbox.empty():
            try:
                delivery = self.inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            self.busy.set()
            with self._camera_lock(delivery.camera.id):
                outcome = self._processed(delivery)
            self.outbox.put(outcome)
            self.busy.clear()
            delivery.wake()

    def _camera_lock(self, camera: str) -> threading.Lock:
        return self.camera_locks.setdefault(camera, threading.Lock())

    def _processed(self, delivery: Delivery) -> Handled:
        """``process``, never raising; a frame that was worked on (not refused or
        stale: those cost nothing) counts towards its camera's cost."""
        started = time.perf_counter()
        try:
            outcome = self.process(delivery)
        except Exception as error:  # a bug must not take the worker down with it
            LOGGER.exception(
                "%s: failed on a %s frame",
                self.role,
                delivery.camera.id,
                **about(delivery.camera.id),
            )
            outcome = Handled(
                delivery, dead_reason=f"worker error: {type(error).__name__}: {error}"
            )
        if outcome.result is not None:
            costs = self.costs.setdefault(delivery.camera.id, deque(maxlen=INLINE_AFTER))
            costs.append((time.perf_counter() - started) * 1000)
        return outcome

    def process(self, delivery: Delivery) -> Handled:
        """Everything between a frame's arrival and its result (on the processing
        thread, or inline on the I/O thread for a cheap camera)."""
        camera = delivery.camera
        try:
            frame = unpack(delivery.body, Frame)
            if frame.camera != camera.id:
                raise MessageError(
                    f"frame of camera {frame.camera!r} arrived on {camera.id!r}'s queue"
                )
        except MessageError as error:
            self.counters.rejected += 1
            self.rejections.warning(
                "%s: rejected a message on %s: %s", self.role, camera.id, error, camera=camera.id
            )
            return Handled(delivery, dead_reason=str(error))
        age_ms = (delivery.received_at - frame.captured_at) * 1000
        if age_ms > camera.max_age_ms:
            self.counters.stale += 1
            return Handled(delivery)

        if camera.passthrough and frame.encoding == "jpeg":
            return self._pass_through(delivery, frame, age_ms)

        started = time.perf_counter()
        try:
            if frame.width > camera.width or frame.height > camera.height:
                raise MessageError(
                    f"frame is {frame.width}x{frame.height}, larger than the camera's "
                    f"configured {camera.width}x{camera.height}"
                )
            chain = self._chain(camera)
            # Nothing drawn into the picture: decode only as much of it as the
            # detectors look at.
            drawing = camera.drawing == "picture" or frame.encoding != "jpeg"
            reduction = 1 if drawing else chain.reduction()
            image = decode_image(frame, reduction)
        except (MessageError, JpegError) as error:
            self.counters.rejected += 1
            self.rejections.warning(
                "%s: rejected a frame of %s: %s", self.role, camera.id, error, camera=camera.id
            )
            return Handled(delivery, dead_reason=str(error))
        timings = {"queue_ms": round(age_ms, 3)}  # the capture's own: Result.of_frame
        decoded = time.perf_counter()
        timings["detect.decode_ms"] = round((decoded - started) * 1000, 3)

        context = detectors.FrameContext(
            camera.id, frame.seq, frame.captured_at, scale=1.0 / reduction
        )
        chained = chain.run(
            image, context, timings, lambda name, found: self._checked(name, camera.id, found)
        )
        found = chained.found
        detections = [d.to_dict() for d in found]
        detected = time.perf_counter()
        picture = self._picture(camera, frame, image, detections) if drawing else frame.data
        if picture is None:
            return Handled(delivery, dead_reason="could not encode the annotated frame")
        finished = time.perf_counter()
        timings["detect.annotate_encode_ms"] = round((finished - detected) * 1000, 3)
        timings["detect.total_ms"] = round((finished - started) * 1000, 3)
        timings["detected_at"] = time.time()
        result = Result.of_frame(
            frame, self.worker_id, overlay=camera.drawing == "page", data=picture,
            detections=detections, timings=timings, ran=chained.ran, skipped=chained.skipped,
        )  # fmt: skip
        self.counters.processed += 1
        return Handled(delivery, result=pack(result), events=self._events(frame, found))

    @staticmethod
    def _picture(
        camera: CameraConfig, frame: Frame, image: np.ndarray, detections: list[dict[str, Any]]
    ) -> bytes | None:
        """The picture the result carries, with what was found drawn in when the camera
        says so (else the decoded picture re-encoded, for a frame that came raw)."""
        if camera.drawing == "picture":
            annotate(image, camera.id, frame.seq, frame.captured_at, detections)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality])
        return encoded.tobytes() if ok else None

    def _pass_through(self, delivery: Delivery, frame: Frame, age_ms: float) -> Handled:
        """The camera's own JPEG, untouched: nothing to detect, nothing to draw."""
        timings = {"queue_ms": round(age_ms, 3), "detect.total_ms": 0.0, "detected_at": time.time()}
        result = Result.of_frame(
            frame, self.worker_id, overlay=delivery.camera.drawing == "page", timings=timings
        )
        self.counters.processed += 1
        return Handled(delivery, result=pack(result))

    def _chain(self, camera: CameraConfig) -> DetectorChain:
        """The camera's detectors, built anew when its config changed."""
        chain = self.chains.get(camera.id)
        if chain is None or chain.camera is not camera:
            chain = DetectorChain(
                camera, lambda name, error: self._detector_failed(camera, name, error)
            )
            self.chains[camera.id] = chain
        return chain

    def _detector_failed(self, camera: CameraConfig, name: str, error: Exception) -> None:
        """A detector that could not be built (its model file went missing since the
        config was checked) is left out; one that raised loses this frame's detections."""
        self.counters.detector_errors += 1
        LOGGER.error(
            "%s: detector %s failed for %s: %s: %s",
            self.role, name, camera.id, type(error).__name__, error, **about(camera.id),
        )  # fmt: skip

    def _checked(
        self, detector: str, camera: str, found: list[detectors.Detection]
    ) -> list[detectors.Detection]:
        """What a detector (a plugin too) found, less what does not fit the wire schema:
        one NaN score or undrawable box must not cost the frame, or the streamer."""
        kept = []
        for detection in found:
            try:
                check_detection(detection.to_dict())
            except (MessageError, TypeError, ValueError) as error:
                self.counters.detector_errors += 1
                self.rejections.warning(
                    "%s: detector %s returned a detection outside the schema: %s",
                    self.role, detector, error, camera=camera,
                )  # fmt: skip
                continue
            kept.append(detection)
        return kept

    def _events(self, frame: Frame, found: list[detectors.Detection]) -> list[tuple[str, bytes]]:
        """Every occurrence (blink, fall); other labels at most every ``event_interval_s``."""
        events = []
        now = time.monotonic()
        interval = self.config.detect.event_interval_s
        for detection in found:
            if detection.quiet:
                continue
            key = (frame.camera, detection.label)
            if not detection.event:
                if now - self.last_event_at.get(key, -1e9) < interval:
                    continue
                self.last_event_at[key] = now
            routing_key = f"{frame.camera}.{ROUTING_UNSAFE.sub('_', detection.label)}"
            body = pack(Event(frame.camera, frame.seq, frame.captured_at, detection.to_dict(),
                              detection.snapshot))  # fmt: skip
            events.append((routing_key, body))
            self.counters.events += 1
        return events


# libjpeg decodes a JPEG at 1/2, 1/4 or 1/8 of its size by scaling in its DCT.
REDUCED_READS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def decode_image(frame: Frame, reduction: int = 1) -> np.ndarray:
    """The frame's picture as a BGR uint8 array (a JPEG ``reduction`` times smaller
    on each side, rounded up); MessageError or JpegError if it is not one."""
    expected = (frame.height, frame.width)
    if frame.encoding == "jpeg":
        # Before any decode: the decoder allocates whatever the JPEG's header claims.
        check_jpeg_size(frame.data, frame.width, frame.height)
        expected = (-(-frame.height // reduction), -(-frame.width // reduction))
        try:
            image = cv2.imdecode(np.frombuffer(frame.data, np.uint8), REDUCED_READS[reduction])
        except cv2.error as error:  # over OPENCV_IO_MAX_IMAGE_PIXELS, or worse
            raise MessageError(f"image data cannot be decoded: {error.err}") from None
        if image is None:
            raise MessageError("image data is not a decodable JPEG")
    else:
        array = np.frombuffer(frame.data, dtype=np.dtype(frame.dtype)).reshape(frame.shape)
        if array.dtype != np.uint8:
            array = cv2.normalize(array, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        image = cv2.cvtColor(array, cv2.COLOR_GRAY2BGR) if array.ndim == 2 else array.copy()
        if image.shape[2] != 3:
            raise MessageError(f"raw image must have 1 or 3 channels, got {image.shape[2]}")
    if image.shape[:2] != expected:
        raise MessageError(
            f"image is {image.shape[1]}x{image.shape[0]}, header says {frame.width}x{frame.height}"
        )
    return image
