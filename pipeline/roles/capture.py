"""The capture worker: publishes a camera's JPEG frames at the camera's fps.

It never waits for the camera (the source keeps only its newest picture) and
never queues frames for the broker: a tick with no new picture, or with no
broker, is a frame skipped and counted, not a frame delayed.

A camera with no detectors is ``direct``: capture draws its banner itself and
publishes the frame as a result, straight to the viewers, saving a detector
worker's decode and re-encode and a broker hop.

One capture process may serve several cameras (``run_capture`` with several
ids): each camera has a worker thread and a broker connection of its own, and
its source its own reader thread, so one camera that fails or hangs never
stalls another.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from pipeline.core import broker
from pipeline.core.annotate import annotate
from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import Config
from pipeline.core.environment import environment
from pipeline.core.logs import Throttled, about
from pipeline.core.messages import Frame, Packet, Result, Status, pack
from pipeline.core.signals import run_in_threads
from pipeline.core.topology import Topology
from pipeline.roles.sources import Source, open_source

LOGGER = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0
SHEDDING_LOG = Throttled(LOGGER, interval_s=30.0)


def first_seq() -> int:
    """Sequence numbers start at the wall clock in milliseconds.

    That keeps ``seq`` increasing across capture restarts (at up to 1000 fps),
    so viewers, which never show an older seq after a newer one, do not freeze
    on a camera whose capture worker was restarted.
    """
    return int(time.time() * 1000)


@dataclass
class CaptureCounters:
    published: int = 0
    no_new_frame: int = 0
    stale: int = 0
    encode_failed: int = 0
    broker_blocked: int = 0  # ticks skipped while the broker refused publishers
    shed: int = 0  # times the share of frames published was cut (see LoadShedding)


@dataclass
class Pace:
    """Where capture is in its rhythm, for one connection's session."""

    blocked: threading.Event = field(default_factory=threading.Event)  # by the broker
    allowance: FrameAllowance = field(default_factory=lambda: FrameAllowance(1.0))
    next_tick: float = field(default_factory=time.monotonic)  # a clock-paced camera's
    last_status: float = 0.0  # monotonic: the status last sent
    may_go_at: float = 0.0  # wall clock: a picture held back by the allowance is not waiting
    wait_s: float = 0.0  # until the next tick


class CaptureWorker(broker.Role):
    """One camera: its pictures published as frames (or as results, for a camera
    with no detector), at its fps, and its status once a second."""

    def __init__(
        self,
        config: Config,
        camera: CameraConfig,
        stop: threading.Event,
        shedding: LoadShedding | None = None,
    ) -> None:
        super().__init__(
            f"capture:{camera.id}", config.broker, stop, Topology(config.broker.namespace)
        )
        self.config = config
        self.camera = camera
        self.counters = CaptureCounters()
        self.seq = first_seq()
        self.footage_seq = self.seq  # footage packets are numbered on their own
        self.worker_id = f"capture:{socket.gethostname()}:{os.getpid()}"
        self._fps_window: list[float] = []
        self.shedding = shedding or LoadShedding()
        self.source: Source | None = None
        self.pace = Pace()

    def run(self, source: Source | None = None) -> None:
        source = source or open_source(self.camera)
        self.source = source
        source.start()
        LOGGER.info(
            "%s: source %s at %.1f fps, %dx%d",
            self.role,
            self.camera.source.describe(),
            self.camera.fps,
            self.camera.width,
            self.camera.height,
        )
        try:
            self.serve()
        finally:
            source.stop()
            LOGGER.info("%s: stopped (%s)", self.role, self.counters)

    def declares_cameras(self) -> list[CameraConfig]:
        return [self.camera]

    def on_session(self, session: broker.Session) -> None:
        source = self._source()
        # Under a resource alarm RabbitMQ stops reading from publishers; a publish
        # would then block the loop. While blocked, frames are dropped and counted.
        self.pace = Pace(blocked=session.watch_blocked(self.role), allowance=FrameAllowance(
            self.camera.fps))  # fmt: skip
        if source.paced_by_arrival:
            source.on_frame = session.wake  # from the camera's reader thread: a picture arrived
        if self.camera.footage != "none":  # declared here too: nothing is lost before a recorder
            session.declare_footage_stream(
                self.camera.id, self.topology.footage_queue_arguments(self.config.record)
            )

    def on_session_end(self) -> None:
        if self.source is not None:
            self.source.on_frame = None

    def wait_s(self) -> tuple[float, bool]:
        # A camera's pictures wake the wait; a synthetic one is drawn on the clock,
        # and its wait is a sleep that keeps heartbeats serviced.
        return min(max(self.pace.wait_s, 0.0), 1.0), not self._source().paced_by_arrival

    def on_tick(self, session: broker.Session) -> None:
        source = self._source()
        if source.paced_by_arrival:
            self._publish_as_they_come(session, source)
        else:
            self._publish_on_the_clock(session, source)
        if source.footage is not None and not self.pace.blocked.is_set():
            self._publish_footage(session, source.footage.take())  # (waiting, it is bounded)

    def _publish_footage(self, session: broker.Session, packets: list[Packet]) -> None:
        """The camera's own packets, every one (a picture needs those before it)."""
        for packet in packets:
            packet.seq = self.footage_seq = self.footage_seq + 1
            session.publish(
                self.topology.footage_exchange, self.camera.id, pack(packet), broker.properties()
            )

    def _source(self) -> Source:
        assert self.source is not None, "run() opens the source before serving"
        return self.source

    def _publish_as_they_come(self, session: broker.Session, source: Source) -> None:
        """A camera: each picture is published when it arrives (the reader thread
        wakes the wait), at most ``fps`` a second on average with a burst of two,
        so that a camera's jitter costs no frames and a faster camera is thinned."""
        pace = self.pace
        now = time.monotonic()
        pace.allowance.fps = self.camera.fps * self.shedding.share
        if pace.blocked.is_set():
            self.counters.broker_blocked += 1
        elif source.has_new() and pace.allowance.take(now):
            self._publish_newest(session, source, pace.may_go_at)
        pace.last_status = self._heartbeat(session, source, pace.blocked, pace.last_status)
        # Until the next picture arrives (the reader wakes us), or, when one is
        # waiting, until it may go.
        pace.wait_s = 1.0
        if source.has_new():
            pace.wait_s = pace.allowance.wait_s(time.monotonic())
            pace.may_go_at = time.time() + pace.wait_s

    def _publish_on_the_clock(self, session: broker.Session, source: Source) -> None:
        """A synthetic camera: a picture drawn and published every 1/fps."""
        pace = self.pace
        if pace.blocked.is_set():
            self.counters.broker_blocked += 1
        else:
            self._publish_newest(session, source)
        pace.last_status = self._heartbeat(session, source, pace.blocked, pace.last_status)
        period = 1.0 / (self.camera.fps * self.shedding.share)
        pace.next_tick += period
        pace.wait_s = pace.next_tick - time.monotonic()
        if pace.wait_s < -period:
            # Fell behind (a slow encode, a busy machine): skip the missed ticks
            # instead of bursting to catch up.
            pace.next_tick = time.monotonic()
            pace.wait_s = 0.0

    def _heartbeat(
        self, session: broker.Session, source: Source, blocked: threading.Event, last: float
    ) -> float:
        """The status once a second (not while the broker blocks publishers); when it
        was last sent."""
        now = time.monotonic()
        if now - last < STATUS_INTERVAL_S or blocked.is_set():
            return last
        self._publish_status(session, source)
        return now

    def _publish_newest(
        self, session: broker.Session, source: Source, may_go_at: float = 0.0
    ) -> None:
        """Publish the source's newest picture, if it has one not sent yet (held back
        by the frame allowance until ``may_go_at``, wall clock)."""
        captured = source.next_frame(self.seq)
        if captured is None:
            self.counters.no_new_frame += 1
            return
        age_ms = (time.time() - captured.captured_at) * 1000
        if age_ms > self.camera.max_age_ms:
            self.counters.stale += 1
            self.shedding.observe(age_ms, time.monotonic())  # it waited longest of all
            return
        started = time.perf_counter()
        worked_before = time.thread_time()
        if self.camera.direct and self.camera.drawing == "picture":
            annotate(captured.image, self.camera.id, self.seq, captured.captured_at, [])
        encoded = captured.jpeg(self.camera.jpeg_quality)
        if encoded is None:
            self.counters.encode_failed += 1
            return
        encode_ms = (time.perf_counter() - started) * 1000
        width, height = captured.size
        frame = Frame(
            camera=self.camera.id,
            seq=self.seq,
            captured_at=captured.captured_at,
            width=width,
            height=height,
            data=encoded,
            timings={"encode_ms": round(encode_ms, 3), "published_at": time.time()},
        )
        if self.camera.direct:  # no detector: the result a detector worker would have sent
            result = Result.of_frame(frame, self.worker_id, overlay=self.camera.drawing == "page")
            session.publish(
                self.topology.results_exchange, self.camera.id, pack(result),
                broker.properties(expiration_ms=max(self.camera.max_age_ms, 1000)),
            )  # fmt: skip
        else:
            session.publish(
                self.topology.frames_exchange, self.camera.id, pack(frame),
                broker.properties(),
            )  # fmt: skip
        if self.camera.footage != "none" and source.footage is None:
            # The camera's footage is the JPEGs published (the recorder compresses them).
            self._publish_footage(session, [Packet(
                camera=self.camera.id, seq=0, captured_at=captured.captured_at, codec="jpeg",
                width=width, height=height, data=encoded, key=True,
            )])  # fmt: skip
        self.seq += 1
        self.counters.published += 1
        now = time.monotonic()
        self._fps_window.append(now)
        # From the picture's capture to its publishing, what was not this thread's
        # own work was waiting: for the CPU, the interpreter, or this loop to wake.
        since = max(captured.captured_at, may_go_at)
        waited_s = time.time() - since - (time.thread_time() - worked_before)
        change = self.shedding.observe(waited_s * 1000, now)
        if change == "cut":
            self.counters.shed += 1
            SHEDDING_LOG.warning(
                "%s: pictures wait %.0f ms for the CPU; publishing %.0f %% of the frames",
                self.role, self.shedding.last_wait_ms, self.shedding.share * 100,
                camera=self.camera.id,
            )  # fmt: skip
        elif change == "restored":
            LOGGER.info(
                "%s: pictures are quick again; publishing every frame",
                self.role, **about(self.camera.id),
            )  # fmt: skip

    def _publish_status(self, session: broker.Session, source: Source) -> None:
        horizon = time.monotonic() - 2.0
        self._fps_window = [t for t in self._fps_window if t >= horizon]
        status = Status(
            camera=self.camera.id,
            state=source.state,
            sent_at=time.time(),
            reason=source.reason,
            fps=round(len(self._fps_window) / 2.0, 2),
            frames_published=self.counters.published,
            frames_dropped=self.counters.stale + self.counters.encode_failed,
            share=round(self.shedding.share, 3),
        )
        session.publish(
            self.topology.status_exchange,
            self.camera.id,
            pack(status),
            broker.properties(expiration_ms=10_000),
        )


class LoadShedding:
    """Frames shed at the source when the machine cannot deliver them all.

    Capture runs at a lower priority than the roles that deliver frames, so under
    overload it is capture that waits for the CPU, and a picture that waited is an
    old frame on every screen. The cameras of a capture process watch how long
    their pictures wait between captured and published; when the typical one (the
    median over about a second) waits longer than ``SLOW_MS``, each camera
    publishes a smaller share of its frames (cut by a quarter), and when they are
    quick again they win the share back a tenth at a time: TCP's additive-increase,
    multiplicative-decrease, which settles the machine at what it can deliver, with
    frames that stay young, instead of delivering fewer of them, late.

    The median, not a high percentile: with many cameras in one process, waiting
    for the interpreter alone puts a few pictures past any small threshold, and
    reacting to those few shed frames the machine could have delivered (measured:
    a 90th percentile over 20 ms delivered 40 % less than this).
    """

    SLOW_MS = 15.0
    QUICK_MS = 5.0
    WINDOW_S = 1.0
    MIN_SAMPLES = 5
    CUT = 0.75
    REGAIN = 0.1
    FLOOR = 0.05

    def __init__(self, enabled: bool | None = None) -> None:
        # RABBITCAM_CAPTURE_SHED=0 publishes every frame however late (to compare).
        if enabled is None:
            enabled = environment().capture_shed
        self.enabled = enabled
        self._lock = threading.Lock()  # the cameras of a process share one
        self.share = 1.0  # of the configured fps, for every camera sharing this
        self.last_wait_ms = 0.0
        self._waits_ms: list[float] = []
        self._window_from = time.monotonic()

    def observe(self, waited_ms: float, now: float) -> str | None:
        """Count one picture's wait; "cut" when this cut the share, "restored" when it
        brought the share back to every frame, else None."""
        if not self.enabled:
            return None
        with self._lock:
            return self._observe(waited_ms, now)

    def _observe(self, waited_ms: float, now: float) -> str | None:
        self._waits_ms.append(waited_ms)
        if now - self._window_from < self.WINDOW_S or len(self._waits_ms) < self.MIN_SAMPLES:
            return None
        waits = sorted(self._waits_ms)
        self.last_wait_ms = waits[len(waits) // 2]
        self._waits_ms.clear()
        self._window_from = now
        if self.last_wait_ms > self.SLOW_MS:
            self.share = max(self.FLOOR, self.share * self.CUT)
            return "cut"
        if self.last_wait_ms < self.QUICK_MS and self.share < 1.0:
            self.share = min(1.0, self.share + self.REGAIN)
            return "restored" if self.share == 1.0 else None
        return None


class FrameAllowance:
    """A token bucket: ``fps`` frames a second on average, at most ``burst`` at once."""

    def __init__(self, fps: float, burst: float = 2.0) -> None:
        self.fps = fps
        self.burst = burst
        self.tokens = burst
        self.at = time.monotonic()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.fps)
        self.at = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self, now: float) -> float:
        """How long until a frame may go."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.fps)


def run_capture(config: Config, camera_ids: list[str], stop: threading.Event) -> None:
    """Capture for one camera, or several in this one process (a thread each)."""
    # The cameras of one process wait for the same CPU and interpreter: they shed
    # together, each the same share of its frames (fair, and one steady signal).
    shedding = LoadShedding()
    workers = [
        CaptureWorker(config, config.camera(camera_id), stop, shedding) for camera_id in camera_ids
    ]
    if len(workers) == 1:
        workers[0].run()
        return
    run_in_threads([(worker.role, worker.run) for worker in workers], stop)
