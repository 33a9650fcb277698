"""The footage recorder: every footage camera's stream cut into segments on disk.

Capture publishes a camera's footage (its own H.264/H.265 packets, or its JPEG
pictures) to the camera's stream queue (``<ns>.footage.<camera>``), which the
broker keeps for ``[record] footage_buffer_s``. This role reads each stream
from where the footage store says it stopped and writes segments
(``segments``), so it may run on another host, and a recorder that stops for
less than the buffer loses nothing: a segment it was writing is dropped at
start and written again from the stream. A longer outage leaves a gap, which
the log names and the timeline shows.

The connection's thread only passes deliveries on; a writer thread of its own
muxes, encodes, syncs and deletes (nothing slow where heartbeats are served),
and the deliveries are acknowledged once written: a stream gives a reader only
so many unacknowledged at a time, so a slow disk holds the stream back instead
of filling memory.

``footage = "motion"``: segments are kept only where the camera had an event
(any label, ``motion`` included) within ``MOTION_MARGIN_S``; the recorder
notes the events' times in the store as they come, and judges a segment once
``MOTION_WAIT_S`` has passed after it (events trail the pictures).

A disk that cannot be written (full, gone read-only) stops the camera's
recording with a log line and a state the pages show (``stopped``, and
why); nothing else stops, and after ``RETRY_S`` the recorder reads the
stream again from the last segment it kept.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import av

from pipeline.core import broker
from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import Config
from pipeline.core.eventstore import EventStore
from pipeline.core.footage_store import FootageStore, Gap, Segment
from pipeline.core.logs import Throttled, about
from pipeline.core.messages import Event, MessageError, Packet, unpack
from pipeline.core.reload import CameraChanges, ConfigWatcher
from pipeline.core.settings import ConfigError
from pipeline.core.topology import MB, Topology
from pipeline.roles.segments import SegmentWriter

LOGGER = logging.getLogger(__name__)

RETENTION_EVERY_S = 60.0
RETRY_S = 30.0
# With nothing from a camera for this long, its open segment is closed and listed.
IDLE_CLOSE_S = 5.0
# A pause this long between two pictures (a camera that was away) starts a new segment.
MOST_PAUSE_S = 3.0
MOTION_MARGIN_S = 5.0
MOTION_WAIT_S = 30.0
EVENT_QUEUE_LENGTH = 10_000
# What a disk that cannot take more raises, through the file, FFmpeg or SQLite.
WRITE_ERRORS = (OSError, av.error.FFmpegError, sqlite3.Error)
# Low priority: footage may wait for the CPU, the live pictures may not.
NICENESS = 10


@dataclass
class Delivery:
    camera: str
    generation: int
    body: bytes
    offset: int
    tag: int


@dataclass
class CameraFootage:
    """One camera's segment in the making, on the writer thread."""

    camera: CameraConfig
    generation: int = 0
    committed: int | None = None  # the stream's first message not in a kept segment
    writer: SegmentWriter | None = None
    scratch_name: str = ""
    last_offset: int = -1
    last_packet_at: float = field(default_factory=time.monotonic)
    stopped_until: float = 0.0  # monotonic: writing failed; read again from ``committed`` then
    read_generation: int = -1  # the reading whose deliveries are being written
    failed: bool = False


class FootageRecorder(broker.Role):
    def __init__(
        self, config: Config, stop: threading.Event, watcher: ConfigWatcher | None = None
    ) -> None:
        super().__init__("footage", config.broker, stop, Topology(config.broker.namespace))
        self.config = config
        self.watcher = watcher
        self.store = FootageStore(config.store_dir)
        self.events: EventStore | None = None  # the events' size counts against max_mb
        self.cameras = {camera.id: camera for camera in config.keeping_footage}
        self.footage: dict[str, CameraFootage] = {}
        self.readings: dict[str, broker.StreamReading] = {}
        self.inbox: queue.Queue[Delivery | None] = queue.Queue()
        self.written: deque[tuple[str, int, int]] = deque()  # (camera, generation, tag)
        self.rewind: set[str] = set()  # cameras whose stream is to be read again
        self.activity: deque[tuple[str, float]] = deque(maxlen=EVENT_QUEUE_LENGTH)
        self.lock = threading.Lock()
        self.rejections = Throttled(LOGGER)
        self.bugs = Throttled(LOGGER)
        self.segments_written = 0
        self.subscribed = threading.Event()
        self.live_session: broker.Session | None = None

    def run(self) -> None:
        lock = _only_recorder(self.store.directory)
        swept = self.store.sweep()
        if swept:
            LOGGER.info("footage: dropped %d files cut short by an earlier run", swept)
        LOGGER.info(
            "footage: cameras %s; segments in %s",
            ", ".join(f"{c.id} ({c.footage})" for c in self.cameras.values()) or "(none yet)",
            self.store.directory,
        )
        with self.lock:
            for camera in self.cameras.values():
                self.footage[camera.id] = CameraFootage(camera)
                self.store.prepare_state(camera.id)
        writer = threading.Thread(target=self._write_loop, name="footage-writer", daemon=True)
        writer.start()
        try:
            self.serve()
        finally:
            self.inbox.put(None)
            writer.join(timeout=30)
            self.store.close()
            os.close(lock)
            LOGGER.info("footage: stopped (%d segments written)", self.segments_written)

    # --- the connection's thread -------------------------------------------------------

    def reads(self, session: broker.Session) -> list[broker.Reads]:
        # Every camera's events (a private queue takes one binding), noted for the
        # cameras that keep "motion" footage; they come a few a second at most.
        if not any(c.footage == "motion" for c in self.cameras.values()):
            return []
        return [broker.Reads(self._on_event, "footage", ((self.topology.events_exchange, "#"),),
                             arguments={"x-max-length": EVENT_QUEUE_LENGTH})]  # fmt: skip

    def on_session(self, session: broker.Session) -> None:
        self.live_session = session
        self.readings.clear()
        for camera in self.cameras.values():
            self._read(session, camera)
        self.subscribed.set()

    def on_config(self, session: broker.Session, changes: CameraChanges) -> None:
        """A camera that keeps footage now is read; one that changed is read again from
        its last kept segment (its open one is written afresh, by its new settings); one
        that keeps none any more is no longer read, and its open segment is closed
        when it goes idle."""
        now = {camera.id: camera for camera in self.watcher.config.keeping_footage}
        for camera_id in set(self.cameras) | set(now):
            if self.cameras.get(camera_id) == now.get(camera_id):
                continue
            reading = self.readings.pop(camera_id, None)
            if reading is not None:
                reading.stop()
            if camera_id in now:
                with self.lock:
                    state = self.footage.setdefault(camera_id, CameraFootage(now[camera_id]))
                    state.camera = now[camera_id]
                self.store.prepare_state(camera_id)
                self._read(session, now[camera_id])
        self.cameras = now

    def on_tick(self, session: broker.Session) -> None:
        acks: dict[str, int] = {}
        with self.lock:
            while self.written:
                camera, generation, tag = self.written.popleft()
                state = self.footage.get(camera)
                if state is not None and state.generation == generation:
                    acks[camera] = max(tag, acks.get(camera, 0))
            rewind, self.rewind = self.rewind, set()
        for camera, tag in acks.items():
            if camera in self.readings:
                self.readings[camera].ack_through(tag)
        for camera_id in rewind:
            reading = self.readings.pop(camera_id, None)
            if reading is not None:
                reading.stop()
            if camera_id in self.cameras:
                self._read(session, self.cameras[camera_id])

    def on_stop(self, session: broker.Session) -> None:
        for reading in self.readings.values():
            reading.stop()
        self.readings.clear()
        session.settle(0.2)

    def _read(self, session: broker.Session, camera: CameraConfig) -> None:
        """Read the camera's stream from the first message not yet in a segment."""
        session.declare_footage_stream(
            camera.id, self.topology.footage_queue_arguments(self.config.record)
        )
        with self.lock:
            state = self.footage.setdefault(camera.id, CameraFootage(camera))
            state.generation += 1
            generation = state.generation
        offset = self._made_anew(session, camera.id, self.store.next_offset(camera.id))

        def on_delivery(body: bytes, at: int, tag: int) -> None:
            self.inbox.put(Delivery(camera.id, generation, body, at, tag))

        self.readings[camera.id] = session.read_stream_at(
            self.topology.footage_queue(camera.id), "first" if offset is None else offset,
            on_delivery,
        )  # fmt: skip

    def _made_anew(self, session: broker.Session, camera_id: str, offset: int | None) -> int | None:
        """Where to read from: ``offset``, unless the stream was deleted and made again
        (an operator applying new retention, say): its numbers started again at 0, and
        reading from the old place would wait for ever. Then from its start, and what
        came between the footage kept and the new stream's is a gap."""
        if offset is None:
            return None
        reached_at = self.store.camera_state(camera_id).reached_at
        tail = session.stream_tail(self.topology.footage_queue(camera_id))
        if tail is not None:
            try:
                at = unpack(tail[1], Packet).captured_at
            except MessageError:
                return offset
            if tail[0] >= offset or at <= reached_at + MOST_PAUSE_S:
                return offset  # the same stream: its last chunk's footage was read already
        else:
            at = time.time()  # empty: retention never empties a stream, so it is new
        reason = "the camera's footage stream was made anew"
        self.store.add_gap(Gap(camera_id, reached_at or at, at, reason))
        self.store.passed(camera_id, 0, at)
        LOGGER.warning("footage: %s: %s; reading it from its start (what came before it is "
                       "lost)", camera_id, reason, **about(camera_id))  # fmt: skip
        return None

    def _on_event(self, body: bytes, _properties: object) -> None:
        event = unpack(body, Event)
        camera = self.cameras.get(event.camera)
        if camera is not None and camera.footage == "motion":
            self.activity.append((event.camera, event.captured_at))  # noted by the writer

    # --- the writer's thread ------------------------------------------------------------

    def _write_loop(self) -> None:
        os.nice(NICENESS)  # this thread's own (Linux): the connection's thread keeps its
        last_retention = 0.0
        while True:
            try:
                delivery = self.inbox.get(timeout=1.0)
            except queue.Empty:
                delivery = False
            if delivery is None:
                break
            try:
                if delivery:
                    self._handle(delivery)
                self._note_activity()
                self._close_idle()
                if time.monotonic() - last_retention > RETENTION_EVERY_S:
                    last_retention = time.monotonic()
                    self._retain()
            except Exception as error:  # a bug met by one packet must not end all recording
                self.bugs.warning("footage: the writer met a bug: %s: %s; going on",
                                  type(error).__name__, error)  # fmt: skip
                LOGGER.debug("footage: where", exc_info=True)
        with self.lock:
            states = list(self.footage.values())
        for state in states:  # stopping: what was written so far is kept
            self._close(state, state.last_offset + 1)

    def _handle(self, delivery: Delivery) -> None:
        with self.lock:
            state = self.footage.get(delivery.camera)
        if state is None:
            return
        try:
            self._write(state, delivery)
        finally:
            with self.lock:
                self.written.append((delivery.camera, delivery.generation, delivery.tag))
            if self.live_session is not None:
                self.live_session.wake()

    def _write(self, state: CameraFootage, delivery: Delivery) -> None:
        if delivery.generation != state.generation or state.stopped_until:
            return  # being read again, or about to be: this one comes again
        if state.read_generation != delivery.generation:
            # The first of a new reading (a new connection, a retry): it starts from the
            # last segment kept, so a segment still open is written afresh from it.
            if state.writer is not None:
                state.writer.abandon()
                state.writer = None
            state.read_generation = delivery.generation
            state.committed = self.store.next_offset(state.camera.id)
            state.last_offset = -1
        if state.committed is not None and delivery.offset < state.committed:
            return  # in a segment already
        try:
            packet = unpack(delivery.body, Packet)
        except MessageError as error:
            self.rejections.warning("footage: %s: refused a packet: %s", state.camera.id, error)
            return
        if packet.camera != state.camera.id:
            self.rejections.warning("footage: %s: a packet of %r refused", state.camera.id,
                                    packet.camera)  # fmt: skip
            return
        if state.last_offset < 0:  # the first of this reading
            self._note_gap(state, delivery.offset, packet)
        state.last_offset = delivery.offset
        state.last_packet_at = time.monotonic()
        try:
            self._add(state, packet, delivery.offset)
        except WRITE_ERRORS as error:
            self._stop_writing(state, error)

    def _add(self, state: CameraFootage, packet: Packet, offset: int) -> None:
        writer = state.writer
        record = self.config.record
        if writer is not None:
            paused = packet.captured_at - writer.last_captured_at > MOST_PAUSE_S
            if (
                paused
                or not writer.fits(packet)
                or (packet.key and writer.seconds() >= record.segment_s)
            ):
                self._close(state, offset)
                writer = None
        if writer is None:
            if not packet.key:
                return  # a segment starts at a key picture
            state.scratch_name = self.store.name_of(state.camera.id, packet.captured_at)
            self.store.folder(state.camera.id)
            writer = state.writer = SegmentWriter(self.store.scratch(state.scratch_name), packet)
        writer.add(packet)

    def _close(self, state: CameraFootage, next_offset: int) -> None:
        """List the camera's open segment; its stream's place moves to ``next_offset``."""
        writer, state.writer = state.writer, None
        if writer is None:
            return
        try:
            if writer.pictures == 0:
                writer.abandon()
                return
            size = writer.finish()
            segment = Segment(
                id=0, camera=state.camera.id, started_at=writer.started_at,
                ended_at=writer.ended_at(), name=state.scratch_name, bytes=size,
                codec="h264" if writer.codec == "jpeg" else writer.codec, copied=writer.copied,
                width=writer.width, height=writer.height, mode=state.camera.footage,
            )  # fmt: skip
            self.store.add_segment(writer.path, segment, next_offset)
        except WRITE_ERRORS as error:
            writer.abandon()
            self._stop_writing(state, error)
            return
        state.committed = next_offset
        self.segments_written += 1
        if state.failed:
            state.failed = False
            self.store.set_state(state.camera.id, "recording")
            LOGGER.info("footage: %s records again", state.camera.id, **about(state.camera.id))

    def _close_idle(self) -> None:
        now = time.monotonic()
        with self.lock:
            states = list(self.footage.values())
        for state in states:
            if state.writer is not None and now - state.last_packet_at > IDLE_CLOSE_S:
                self._close(state, state.last_offset + 1)
            if state.stopped_until and now >= state.stopped_until:
                state.stopped_until = 0.0
                self._read_again(state)

    def _stop_writing(self, state: CameraFootage, error: BaseException) -> None:
        """The disk refused: this camera stops recording for ``RETRY_S``, then reads its
        stream again from the last segment kept. Nothing else stops."""
        if state.writer is not None:
            state.writer.abandon()
            state.writer = None
        reason = f"cannot write footage: {error}"[:300]
        if not state.failed:
            LOGGER.error("footage: %s: %s; recording stopped, trying again every %.0f s",
                         state.camera.id, reason, RETRY_S, **about(state.camera.id))  # fmt: skip
        state.failed = True
        state.stopped_until = time.monotonic() + RETRY_S
        try:
            self.store.set_state(state.camera.id, "stopped", reason)
        except Exception:
            LOGGER.debug("footage: cannot note the stop", exc_info=True)

    def _read_again(self, state: CameraFootage) -> None:
        with self.lock:
            state.generation += 1  # what is still on its way is not used: it comes again
            self.rewind.add(state.camera.id)
        if self.live_session is not None:
            self.live_session.wake()

    def _note_gap(self, state: CameraFootage, offset: int, packet: Packet) -> None:
        """The first packet read: if the stream no longer holds the ones after the last
        segment kept, the footage between is gone."""
        if state.committed is None or offset <= state.committed:
            return
        # From where the footage read reached (motion segments dropped for want of
        # motion were read, not lost), to the first packet the stream still holds.
        reached_at = self.store.camera_state(state.camera.id).reached_at
        gap = Gap(state.camera.id, reached_at or packet.captured_at, packet.captured_at,
                  "the recorder was away longer than the broker keeps footage")  # fmt: skip
        self.store.add_gap(gap)
        LOGGER.warning(
            "footage: %s: %d packets were gone from the stream (%.0f s of footage lost: %s)",
            state.camera.id, offset - state.committed, gap.to_at - gap.from_at, gap.reason,
            **about(state.camera.id),
        )  # fmt: skip

    def _note_activity(self) -> None:
        while self.activity:
            camera, at = self.activity.popleft()
            self.store.note_activity(camera, at)

    def _retain(self) -> None:
        record = self.config.record
        try:
            dropped = self.store.drop_still(MOTION_MARGIN_S, time.time() - MOTION_WAIT_S)
            if self.events is None:
                self.events = EventStore(self.config.store_dir)
            events_bytes = self.events.total_bytes()
            removed = self.store.enforce_retention(
                {"continuous": record.continuous_days * 86_400,
                 "motion": record.motion_days * 86_400},
                max(0, record.max_mb * MB - events_bytes),
            )  # fmt: skip
        except WRITE_ERRORS as error:
            LOGGER.warning("footage: retention failed: %s", error)
            return
        if dropped or removed:
            LOGGER.info("footage: %d motion segments without motion dropped, %d removed by "
                        "retention (oldest first)", len(dropped), len(removed))  # fmt: skip


def _only_recorder(directory) -> int:
    """An exclusive lock on the footage folder for the process's life: two recorders
    writing one camera's segments would list each other's files."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError([f"{directory}: another footage recorder is writing here"]) from None
    return fd


def run_footage(config: Config, stop: threading.Event) -> None:
    FootageRecorder(config, stop, ConfigWatcher(config, "footage")).run()
