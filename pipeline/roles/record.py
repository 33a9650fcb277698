"""The record role: detection events become events someone can watch.

The broker keeps the recent past: every recording camera's annotated frames
go to a stream queue of their own (``<ns>.recent.<camera>``) that keeps
``[record] keep_s`` of them (bounded by bytes too). No process of ours
buffers video. For each event with a label the camera records
(``record = ["fall"]``), the recorder

1. writes the event to the database at once (``recording``), then acks it;
2. opens a consumer on the camera's stream at ``pre_s`` before the event
   (``x-stream-offset`` with a timestamp), and writes the frames it reads into
   an MP4 clip as they come (pre-roll from the stream's past, then live);
3. saves the event's own frame (boxes drawn) as its snapshot and thumbnail;
4. merges every later event of the camera that comes within ``post_s`` of the
   last one (a person who stays in view is one event, up to ``max_clip_s``);
5. ``post_s`` after the last one, finishes the clip and lists it (``ready``).

Events wait in a durable queue of the recorder's own, so none is missed while
it restarts; an event the database holds as ``recording`` (the recorder was
killed mid-clip) is cut again from the stream when it starts. Retention by
age and by total size is enforced, oldest first.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pipeline.core import broker
from pipeline.core.annotate import drawn_jpeg
from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import Config
from pipeline.core.eventstore import MOST_PATH_POINTS, EventStore, StoredEvent
from pipeline.core.jpeg import JpegError, check_jpeg_size
from pipeline.core.logs import Throttled, about
from pipeline.core.messages import Event, MessageError, Result, unpack
from pipeline.core.reload import CameraChanges, ConfigWatcher
from pipeline.core.text import is_number
from pipeline.core.topology import MB, Topology
from pipeline.roles.clips import ClipWriter, thumbnail

LOGGER = logging.getLogger(__name__)

# Frames up to this long after the window are written too, so that an event
# that extends the window a moment later leaves no gap in the clip.
EXTEND_GRACE_S = 1.0
# With no frame from the stream for this long, the camera has nothing more.
STREAM_IDLE_S = 3.0
RETENTION_EVERY_S = 60.0
EVENT_PREFETCH = 50
# The snapshot is the event's own frame; failing that, the nearest within this.
SNAPSHOT_NEAR_S = 1.0
# An event this far ahead of the recorder's clock is refused: clocks synchronised by
# NTP are never that far apart, and its incident would hold the camera's for ever.
EVENT_AHEAD_OF_CLOCK_S = 60.0
# With no event delivered for this long, the recorder's queue is drained: the
# wall clock may close incidents. Until then the events' own time does (a recorder
# catching up on a backlog must not cut one incident into many).
EVENTS_QUIET_S = 1.0
# A tracked object's stay as its end event states it is believed up to this long.
MAX_OBJECT_S = 7 * 86_400.0


@dataclass
class Incident:
    """One event being recorded: its clip open, its stream being read."""

    event_id: int
    camera: CameraConfig
    started_at: float  # capture time of the first event's frame
    last_at: float  # ... of the last event merged in
    seq: int  # the first event's frame: its snapshot
    clip_from: float
    writer: ClipWriter
    reading: broker.StreamReading | None = None  # its frames, from the camera's stream
    last_frame_at: float = field(default_factory=time.monotonic)  # when a frame last came
    newest_captured_at: float = 0.0
    snapshot_saved: bool = False
    nearest: tuple[float, bytes] | None = None  # (distance in s, jpeg) for the snapshot

    def window_end(self, post_s: float) -> float:
        return self.last_at + post_s


@dataclass
class RecordCounters:
    events: int = 0
    merged: int = 0
    clips: int = 0
    failed: int = 0
    rejected: int = 0
    late: int = 0  # events older than the clip of their camera's incident: counted, not kept
    deleted_by_retention: int = 0


class Recorder(broker.Role):
    def __init__(
        self, config: Config, stop: threading.Event, watcher: ConfigWatcher | None = None
    ) -> None:
        super().__init__("record", config.broker, stop, Topology(config.broker.namespace))
        self.config = config
        self.record = config.record
        self.watcher = watcher
        self.store = EventStore(config.store_dir)
        self.cameras = {camera.id: camera for camera in config.recording}
        self.active: dict[str, Incident] = {}
        self.counters = RecordCounters()
        self.rejections = Throttled(LOGGER)
        self.last_retention = 0.0
        self.subscribed = threading.Event()
        self.events_clock = 0.0  # the newest capture time of any event taken
        self.last_event_at = 0.0  # monotonic: when an event was last delivered

    # --- lifecycle ------------------------------------------------------------------

    def run(self) -> None:
        swept = self.store.sweep()
        if swept:
            LOGGER.info("record: removed %d files left by an earlier run", swept)
        LOGGER.info(
            "record: cameras %s; events in %s",
            ", ".join(f"{c.id} ({', '.join(c.record)})" for c in self.cameras.values())
            or "(none record yet)",
            self.store.directory,
        )
        try:
            self.serve()
        finally:
            self._abandon_active()
            self.store.close()
            LOGGER.info("record: stopped (%s)", self.counters)

    def _abandon_active(self) -> None:
        """Let go of the clips being cut (their events stay ``recording``, and are cut
        again from the stream when a session starts): on a stop, or when the
        connection their stream consumers were on was lost."""
        for incident in self.active.values():
            if incident.reading is not None:
                incident.reading.stop()
            incident.writer.abandon()
        self.active.clear()

    prefetch = EVENT_PREFETCH

    def reads(self, session: broker.Session) -> list[broker.Reads]:
        return [
            broker.Reads(
                self._on_event_body(session), "record",
                ((self.topology.events_exchange, "#"),), queue=self.topology.record_queue,
                arguments=self.topology.record_queue_arguments(), on_reject=self._on_reject,
            )
        ]  # fmt: skip

    def on_session(self, session: broker.Session) -> None:
        self._abandon_active()
        self._declare_streams(session, list(self.cameras.values()))
        for stored in self.store.recording():
            self._resume(session, stored)
        self.subscribed.set()

    def on_config(self, session: broker.Session, changes: CameraChanges) -> None:
        self._follow(session)

    def on_tick(self, session: broker.Session) -> None:
        self._tick()

    def on_stop(self, session: broker.Session) -> None:
        self._abandon_active()
        session.settle(0.2)  # the streams' channels close

    def _declare_streams(self, session: broker.Session, cameras: list[CameraConfig]) -> None:
        for camera in cameras:
            arguments = self.topology.recent_queue_arguments(self.record, camera)
            session.declare_recent_stream(camera.id, arguments)

    def _follow(self, session: broker.Session) -> None:
        """Streams for the cameras that record now; none for those that stopped."""
        config = self.watcher.config
        now_recording = {camera.id: camera for camera in config.recording}
        for camera_id in set(self.cameras) - set(now_recording):
            LOGGER.info("record: %s records no more; its stream is removed", camera_id)
            incident = self.active.get(camera_id)
            if incident is not None:
                self._close(incident)
            session.delete_queue(self.topology.recent_queue(camera_id))
        fresh = [c for cid, c in now_recording.items() if self.cameras.get(cid) != c]
        self._declare_streams(session, fresh)
        self.cameras = now_recording

    # --- events ---------------------------------------------------------------------

    def _on_event_body(self, session: broker.Session):
        def on_event(body: bytes, _properties: Any) -> None:
            self.last_event_at = time.monotonic()
            event = unpack(body, Event)
            ahead = event.captured_at - time.time()
            if ahead > EVENT_AHEAD_OF_CLOCK_S:
                raise MessageError(f"captured_at is {ahead:.0f} s ahead of the recorder's clock")
            camera = self.cameras.get(event.camera)
            detection = event.detection
            if camera is None:
                return
            if detection["label"] == "gone":
                self._object_gone(camera, event, detection)
            if detection["label"] not in camera.record:
                return
            event_id = self._take(session, camera, event, detection)
            object_id = (detection.get("extra") or {}).get("object")
            if event_id is not None and _is_id(object_id):
                self.store.add_object(event_id, object_id, detection["label"],
                                      event.captured_at)  # fmt: skip

        return on_event

    def _object_gone(self, camera: CameraConfig, event: Event, detection: dict[str, Any]) -> None:
        """A tracked object of a recorded label has gone: its event lists how long it
        stayed, the zones it visited, its path and its best snapshot."""
        extra = detection.get("extra") or {}
        label, object_id = extra.get("label"), extra.get("object")
        if label not in camera.record or not _is_id(object_id):
            return
        # Only what the camera has: its own zones, a path of at most the tracker's length.
        known = {zone.name for zone in camera.zones}
        named = extra.get("zones")
        zones = list(dict.fromkeys(z for z in named if isinstance(z, str) and z in known)) if (
            isinstance(named, list)
        ) else []  # fmt: skip
        points = extra.get("path")
        points = points[-MOST_PATH_POINTS:] if isinstance(points, list) else []
        path = [
            [int(v) for v in point]
            for point in points
            if isinstance(point, list) and len(point) == 2 and all(map(is_number, point))
            and all(abs(v) < 1e6 for v in point)
        ]  # fmt: skip
        # Seen from first to last sighting (the event comes max_missing_s after the last).
        gone_at = event.captured_at
        started_at, ended_at = extra.get("started_at"), extra.get("ended_at")
        if not (is_number(started_at) and is_number(ended_at)
                and gone_at - MAX_OBJECT_S <= started_at <= ended_at <= gone_at):  # fmt: skip
            started_at, ended_at = None, gone_at
        event_id = self.store.end_object(
            camera.id, object_id, label, (started_at, ended_at),
            zones=zones, path=path, snapshot=event.snapshot,
        )  # fmt: skip
        if event_id is not None:
            LOGGER.info("record: event %d: %s %d on %s has gone", event_id, label, object_id,
                        camera.id, **about(camera.id))  # fmt: skip

    def _take(
        self,
        session: broker.Session,
        camera: CameraConfig,
        event: Event,
        detection: dict[str, Any],
    ) -> int | None:
        """The event this detection is recorded in (a new one, or the camera's open
        one it merges into); None if it is not kept."""
        captured_at = event.captured_at
        label = detection["label"]
        self.events_clock = max(self.events_clock, captured_at)
        incident = self.active.get(camera.id)
        if incident is not None:
            within = captured_at <= incident.window_end(self.record.post_s)
            if within and captured_at < incident.clip_from:
                # Older than the clip being cut (a worker far behind the others): a
                # clip of its own would repeat this one's frames. Counted, not kept.
                self.counters.late += 1
                self.rejections.warning("record: an event of %s came %.1f s after the clip it "
                                        "belongs to had started", camera.id,
                                        incident.started_at - captured_at)  # fmt: skip
                return None
            if within and captured_at - incident.started_at <= self.record.max_clip_s:
                self.store.extend(
                    incident.event_id, label, captured_at, float(detection.get("score", 1))
                )
                incident.last_at = max(incident.last_at, captured_at)
                self.counters.merged += 1
                return incident.event_id
            self._close(incident)
        event_id = self.store.open_event(camera.id, label, event.seq, captured_at, detection)
        self.counters.events += 1
        LOGGER.info(
            "record: event %d: %s on %s; recording", event_id, label, camera.id, **about(camera.id)
        )
        self._start(session, event_id, camera, captured_at, captured_at, event.seq)
        return event_id

    def _resume(self, session: broker.Session, stored: StoredEvent) -> None:
        camera = self.cameras.get(stored.camera)
        if camera is None:
            self.store.fail(stored.id, "the camera no longer records")
            return
        LOGGER.info("record: event %d on %s was not finished; cutting it again", stored.id,
                    stored.camera, **about(stored.camera))  # fmt: skip
        self._start(session, stored.id, camera, stored.started_at, stored.ended_at, stored.seq)

    def _start(
        self,
        session: broker.Session,
        event_id: int,
        camera: CameraConfig,
        started_at: float,
        last_at: float,
        seq: int,
    ) -> None:
        clip_from = started_at - self.record.pre_s
        incident = Incident(
            event_id=event_id,
            camera=camera,
            started_at=started_at,
            last_at=last_at,
            seq=seq,
            clip_from=clip_from,
            writer=ClipWriter(self.store.scratch(event_id, "clip")),
        )
        incident.reading = session.read_stream(
            self.topology.recent_queue(camera.id),
            clip_from - 1.0,  # the stream finds its place to the second
            lambda body: self._on_frame(incident, body),
        )
        self.active[camera.id] = incident

    def _on_reject(self, reason: str) -> None:
        self.counters.rejected += 1
        self.rejections.warning("record: rejected a message: %s", reason)

    # --- frames from the stream ------------------------------------------------------------

    def _on_frame(self, incident: Incident, body: bytes) -> None:
        if self.active.get(incident.camera.id) is not incident:
            return  # closed meanwhile; its consumer is going
        incident.last_frame_at = time.monotonic()
        camera = incident.camera
        try:
            result = unpack(body, Result)
            if result.camera != camera.id:
                raise MessageError(f"result of {result.camera!r} in {camera.id!r}'s stream")
            if result.width > camera.width or result.height > camera.height:
                raise MessageError(f"frame is {result.width}x{result.height}, larger than the "
                                   f"camera's {camera.width}x{camera.height}")  # fmt: skip
            check_jpeg_size(result.data, result.width, result.height)
        except (MessageError, JpegError) as error:
            self._on_reject(f"{camera.id}'s stream: {error}")
            return
        incident.newest_captured_at = max(incident.newest_captured_at, result.captured_at)
        if result.captured_at < incident.clip_from:
            return
        if result.captured_at > incident.window_end(self.record.post_s) + EXTEND_GRACE_S:
            return
        picture = result.data
        if result.overlay:  # watched away from the page: the boxes go into the picture
            picture = drawn_jpeg(
                result.data,
                result.camera,
                result.seq,
                result.captured_at,
                result.detections,
                camera.jpeg_quality,
            )
        if picture is None:
            self._on_reject(f"{camera.id}'s stream: a frame could not be decoded to draw on")
            return
        incident.writer.add(picture, result.captured_at)
        if not incident.snapshot_saved:
            if result.seq == incident.seq:
                self._snapshot(incident, picture)
            else:
                distance = abs(result.captured_at - incident.started_at)
                if distance <= SNAPSHOT_NEAR_S and (
                    incident.nearest is None or distance < incident.nearest[0]
                ):
                    incident.nearest = (distance, picture)

    def _snapshot(self, incident: Incident, jpeg: bytes) -> None:
        try:
            small = thumbnail(jpeg)
        except ValueError as error:
            self._on_reject(f"{incident.camera.id}: snapshot: {error}")
            return
        self.store.save_snapshot(incident.event_id, jpeg, small)
        incident.snapshot_saved = True
        incident.nearest = None

    # --- time passing -----------------------------------------------------------------

    def _tick(self) -> None:
        # What time it is for the events: the newest event's capture time while events
        # keep coming (a backlog is being worked off), the wall clock once none has for
        # a moment. An incident's window is over only when that time has passed it.
        if time.monotonic() - self.last_event_at > EVENTS_QUIET_S:
            now = max(time.time(), self.events_clock)
        else:
            now = self.events_clock
        longest = self.record.max_clip_s + self.record.post_s
        for incident in list(self.active.values()):
            end = incident.window_end(self.record.post_s) + EXTEND_GRACE_S
            long_enough = now - incident.started_at > longest
            seen_past_end = incident.newest_captured_at > end
            idle = time.monotonic() - incident.last_frame_at > STREAM_IDLE_S
            if (now > end and (seen_past_end or idle)) or long_enough:
                self._close(incident)
        if time.monotonic() - self.last_retention > RETENTION_EVERY_S:
            self._retain()

    def _close(self, incident: Incident) -> None:
        """Finish the clip and list the event (or say why there is no clip)."""
        self.active.pop(incident.camera.id, None)
        if incident.reading is not None:
            incident.reading.stop()
        if not incident.snapshot_saved and incident.nearest is not None:
            self._snapshot(incident, incident.nearest[1])
        writer = incident.writer
        frames = writer.close()
        camera = incident.camera.id
        if frames == 0:
            writer.abandon()
            self.store.fail(
                incident.event_id, "no frames of that time were left in the broker's stream"
            )
            self.counters.failed += 1
            LOGGER.warning("record: event %d on %s: no frames left to make a clip",
                           incident.event_id, camera, **about(camera))  # fmt: skip
            return
        self.store.finish(
            incident.event_id, writer.first_captured_at, writer.last_captured_at, frames
        )
        self.counters.clips += 1
        LOGGER.info(
            "record: event %d on %s: clip of %d frames, %.1f s, from %.1f s before the event",
            incident.event_id, camera, frames,
            writer.last_captured_at - writer.first_captured_at,
            incident.started_at - writer.first_captured_at, **about(camera),
        )  # fmt: skip
        self._retain()

    def _retain(self) -> None:
        self.last_retention = time.monotonic()
        deleted = self.store.enforce_retention(
            self.record.retain_days * 86_400, self.record.max_mb * MB
        )
        if deleted:
            self.counters.deleted_by_retention += len(deleted)
            LOGGER.info("record: retention removed %d events (oldest first)", len(deleted))


def run_record(config: Config, stop: threading.Event) -> None:
    Recorder(config, stop, ConfigWatcher(config, "record")).run()


def _is_id(value: Any) -> bool:
    """A tracked object's id: an integer (JSON's, so no boolean)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
