"""``rabbitcam status``: what every camera is doing, from the broker and the streamer.

Three sources, each asked directly so that the command works from any host:

- the broker: each frame queue's depth and consumers (a passive declare, no
  management plugin needed); the consumers are the detector workers serving
  that camera;
- the capture workers' heartbeats on the status exchange (live/offline and
  why, frames per second published, frames dropped at capture);
- the streamer's ``/api/cameras``: frames per second reaching it, latency
  from capture to the streamer (p50/p99 over the last minute), frames dropped
  by reason.

Whatever cannot be reached is shown as ``-`` and named in a note, never guessed.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from pipeline.core import broker
from pipeline.core.config import Config
from pipeline.core.messages import Status, unpack
from pipeline.core.text import printable
from pipeline.core.topology import Topology

LISTEN_S = 2.5  # capture heartbeats come once a second
HTTP_TIMEOUT_S = 2.0


@dataclass
class Snapshot:
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    taken_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps({"taken_at": self.taken_at, "cameras": self.rows, "notes": self.notes})


class StatusProbe:
    """Keeps one broker connection and a heartbeat queue across refreshes (``--watch``)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.topology = Topology(config.broker.namespace)
        self.session: broker.Session | None = None
        self.statuses: dict[str, tuple[Status, float]] = {}

    def close(self) -> None:
        if self.session is not None:
            broker.close_quietly(self.session.connection)

    def _connect(self) -> broker.Session:
        connection = broker.connect(self.config.broker, "rabbitcam status")
        session = broker.Session(connection, self.config.broker.heartbeat_s, self.topology)
        session.declare([])
        session.read(broker.Reads(
            self._on_status, "status", ((self.topology.status_exchange, "#"),),
            arguments=self.topology.status_queue_arguments(),
        ))  # fmt: skip
        return session

    def _on_status(self, body: bytes, _properties: object) -> None:
        status = unpack(body, Status)  # one that is not goes to the dead letters, with why
        self.statuses[status.camera] = (status, time.monotonic())

    def _heard_recently(self) -> set[str]:
        now = time.monotonic()
        return {camera for camera, (_, at) in self.statuses.items() if now - at < 1.5}

    def _queue_facts(
        self, session: broker.Session, notes: list[str]
    ) -> dict[str, tuple[int, int] | None]:
        queues = {camera.id: self.topology.frame_queue(camera.id) for camera in self.config.cameras}
        counts = broker.queue_counts(session.connection, list(queues.values()))
        facts = {camera_id: counts[queue] for camera_id, queue in queues.items()}
        for camera_id, fact in facts.items():
            if fact is None:
                notes.append(f"{camera_id}: no frame queue yet (capture never started?)")
        return facts

    def _streamer(self, notes: list[str]) -> dict[str, dict[str, Any]]:
        from web.auth import Auth  # the streamer's own credentials, from the environment

        url = f"http://{self.config.web.bind}/api/cameras"
        request = urllib.request.Request(url, headers=Auth.from_environment().client_headers())
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                return {camera["id"]: camera for camera in json.load(response)}
        except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
            notes.append(f"streamer at {url} not reachable ({error}); its columns show -")
            return {}

    def snapshot(self, listen_s: float = LISTEN_S) -> Snapshot:
        notes: list[str] = []
        facts: dict[str, tuple[int, int] | None] = {}
        try:
            if self.session is None or not self.session.connection.is_open:
                self.session = self._connect()
            session = self.session
            # A pump returns after the first delivery: listen until every camera
            # has been heard from, or the time is up.
            deadline = time.monotonic() + listen_s
            wanted = set(self.config.camera_ids)
            while time.monotonic() < deadline and not wanted <= self._heard_recently():
                session.settle(deadline - time.monotonic())
            facts = self._queue_facts(session, notes)
        except (broker.BrokerError, OSError) as error:  # OSError: refused, TLS, DNS
            self.session = None
            notes.append(
                f"broker not reachable at {broker.describe_urls(self.config.broker)} "
                f"({type(error).__name__}); its columns show -"
            )
        streamer = self._streamer(notes)
        rows = [self._row(camera.id, facts, streamer) for camera in self.config.cameras]
        return Snapshot(rows, notes)

    def _row(
        self,
        camera_id: str,
        facts: dict[str, tuple[int, int] | None],
        streamer: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        heard = self.statuses.get(camera_id)
        status = heard[0] if heard and time.monotonic() - heard[1] < 3.0 else None
        shown = streamer.get(camera_id, {})
        latency = shown.get("latency_received_ms") or {}
        queue = facts.get(camera_id)
        dropped = dict(shown.get("dropped") or {})
        if status is not None and status.frames_dropped:
            dropped["capture"] = status.frames_dropped
        if status is not None:
            state = status.state if status.state != "live" else shown.get("status", "live")
        else:
            state = shown.get("status", "no heartbeat")
        return {
            "camera": camera_id,
            "status": state,
            "reason": status.reason if status is not None else shown.get("reason", ""),
            "fps_in": status.fps if status is not None else None,
            "shed": _shed(status),
            "fps_out": shown.get("fps_in"),
            "latency_p50_ms": latency.get("p50"),
            "latency_p99_ms": latency.get("p99"),
            "queue_depth": queue[0] if queue else None,
            "detector_workers": queue[1] if queue else None,
            "viewers": shown.get("viewers"),
            "dropped": dropped,
        }


def _shed(status: Status | None) -> str | None:
    """The share of frames capture holds back to keep up, as "25%"; "0%" when none."""
    if status is None:
        return None
    return f"{round((1 - status.share) * 100)}%"


COLUMNS = [
    ("CAMERA", "camera"),
    ("STATUS", "status"),
    ("FPS IN", "fps_in"),
    ("SHED", "shed"),
    ("FPS OUT", "fps_out"),
    ("P50 MS", "latency_p50_ms"),
    ("P99 MS", "latency_p99_ms"),
    ("QUEUE", "queue_depth"),
    ("WORKERS", "detector_workers"),
    ("VIEWERS", "viewers"),
    ("DROPPED", "dropped"),
]


def _cell(value: Any) -> str:
    """A table cell; what came from the wire or the streamer never reaches the terminal raw."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict):
        return printable(" ".join(f"{k}={v}" for k, v in sorted(value.items()))) or "0"
    return printable(str(value))


def format_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    cells = [[title for title, _ in columns]]
    cells += [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def render(snapshot: Snapshot) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at))
    text = format_table(snapshot.rows, COLUMNS)
    lines = [text, "", f"{stamp}  fps out and latency: capture → streamer, last 60 s"]
    lines += [printable(f"note: {note}") for note in snapshot.notes]
    for row in snapshot.rows:
        if row["reason"] and row["status"] != "live":
            lines.append(printable(f"{row['camera']}: {row['reason']}"))
    return "\n".join(lines)
