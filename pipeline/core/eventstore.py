"""Recorded events: their metadata in SQLite, their snapshot, thumbnail and clip on disk.

The recorder writes, the streamer reads (and deletes what a user deletes);
both may run at once, each thread with its own SQLite connection (WAL mode).

Safe against crashes, in this order: a file is written under a scratch name
and renamed into place; only then does the database say it exists. An event
whose clip is still being cut is ``recording`` and lists no clip; a recorder
that starts again finds it so and cuts it afresh. Deleting takes the rows out
first, then the files, so nothing is ever listed whose file is gone; files
that no row names any more (a crash in between) are swept away at start.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.core.files import open_regular
from pipeline.core.sqlite_file import SqliteFile

LOGGER = logging.getLogger(__name__)

DATABASE = "events.sqlite3"
MEDIA = "media"
KINDS = {"snapshot": "snapshot.jpg", "thumb": "thumb.jpg", "clip": "clip.mp4"}
SCRATCH = ".partial"
# Snapshots and clips show people: readable by the recorder's user and group (the
# streamer's), nobody else.
FILE_MODE = 0o640
DIRECTORY_MODE = 0o750
MAX_PAGE = 200
# What one event may list of tracked objects: a few dozen in a busy scene. The bounds
# hold whatever the wire claims (zones are the camera's, a path is the tracker's).
MOST_OBJECTS_PER_EVENT = 200
MOST_ZONES_PER_OBJECT = 32
MOST_PATH_POINTS = 64
OBJECT_ROW_BYTES = 128  # what an object's row costs before its zones and path
# A tracked object's best snapshot: ``<event>.object-<id>.jpg``.
OBJECT_FILE = "object-{}.jpg"

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    camera      TEXT NOT NULL,
    label       TEXT NOT NULL,            -- the first label; all of them in event_labels
    started_at  REAL NOT NULL,            -- capture time of the first event's frame
    ended_at    REAL NOT NULL,            -- ... and of the last one merged into it
    seq         INTEGER NOT NULL,         -- the first event's frame
    score       REAL NOT NULL,
    detection   TEXT NOT NULL,            -- the first detection, as JSON
    count       INTEGER NOT NULL DEFAULT 1,
    state       TEXT NOT NULL,            -- recording | ready | failed
    reason      TEXT NOT NULL DEFAULT '',
    snapshot    INTEGER NOT NULL DEFAULT 0,
    clip_from   REAL,
    clip_to     REAL,
    clip_frames INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (started_at);
CREATE INDEX IF NOT EXISTS events_by_camera ON events (camera, started_at);
CREATE TABLE IF NOT EXISTS event_labels (
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    label    TEXT NOT NULL,
    PRIMARY KEY (event_id, label)
);
CREATE INDEX IF NOT EXISTS labels_by_label ON event_labels (label);
CREATE TABLE IF NOT EXISTS objects (      -- tracked objects that started in the event
    event_id   INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    object     INTEGER NOT NULL,          -- the tracker's id on the camera
    label      TEXT NOT NULL,
    started_at REAL NOT NULL,             -- capture time of its first sighting
    ended_at   REAL,                      -- ... of its last; NULL while in view
    zones      TEXT NOT NULL DEFAULT '[]', -- the zones it visited, in order (JSON)
    path       TEXT NOT NULL DEFAULT '[]', -- where its feet went, [[x, y], ...] (JSON)
    snapshot   INTEGER NOT NULL DEFAULT 0, -- its best snapshot is on disk
    PRIMARY KEY (event_id, object)
);
"""


@dataclass
class StoredObject:
    """A tracked object that came during an event: how long it stayed, where it went."""

    object: int
    label: str
    started_at: float
    ended_at: float | None
    zones: list[str]
    path: list[list[int]]
    snapshot: bool


@dataclass
class StoredEvent:
    id: int
    camera: str
    label: str
    labels: list[str]
    started_at: float
    ended_at: float
    seq: int
    score: float
    detection: dict[str, Any]
    count: int
    state: str
    reason: str
    snapshot: bool
    clip_from: float | None
    clip_to: float | None
    clip_frames: int
    bytes: int
    created_at: float
    objects: list[StoredObject] = field(default_factory=list)

    @property
    def has_clip(self) -> bool:
        return self.state == "ready" and self.clip_frames > 0


@dataclass
class EventQuery:
    camera: str | None = None
    cameras: tuple[str, ...] | None = None  # only these (a viewer's); None: every camera
    label: str | None = None
    since: float | None = None  # started at or after (unix seconds)
    until: float | None = None  # started before
    before_id: int | None = None  # paging: events older than this one
    limit: int = 50
    states: tuple[str, ...] = field(default=("recording", "ready", "failed"))


class EventStore(SqliteFile):
    """The events of one site: ``<dir>/events.sqlite3`` and ``<dir>/media/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.media = self.directory / MEDIA
        self.media.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        super().__init__(self.directory / DATABASE, SCHEMA)

    # --- files ---------------------------------------------------------------------

    def file(self, event_id: int, kind: str) -> Path:
        """``kind``: one of ``KINDS``, or ``object-<id>`` for a tracked object's snapshot."""
        name = KINDS.get(kind) or OBJECT_FILE.format(int(kind.removeprefix("object-")))
        return self.media / f"{event_id}.{name}"

    def scratch(self, event_id: int, kind: str) -> Path:
        """Where a file is written before it is renamed into place (same suffix,
        so that writers that choose a format by the name choose the right one)."""
        final = self.file(event_id, kind)
        return final.with_name(f"{SCRATCH}-{final.name}")

    def open_file(self, event_id: int, kind: str) -> BinaryIO | None:
        """An event's file for reading, if it is a regular file (see ``open_regular``)."""
        return open_regular(self.file(event_id, kind))

    def _put(self, event_id: int, kind: str, data: bytes) -> int:
        scratch = self.scratch(event_id, kind)
        with os.fdopen(create_new(scratch), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, self.file(event_id, kind))
        return len(data)

    def _remove_files(self, event_id: int) -> None:
        for kind in KINDS:
            for path in (self.file(event_id, kind), self.scratch(event_id, kind)):
                _remove(path)
        for pattern in (f"{event_id}.{OBJECT_FILE}", f"{SCRATCH}-{event_id}.{OBJECT_FILE}"):
            for path in self.media.glob(pattern.format("*")):
                _remove(path)

    # --- the recorder's side -----------------------------------------------------------

    def open_event(
        self, camera: str, label: str, seq: int, captured_at: float, detection: dict[str, Any]
    ) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO events (camera, label, started_at, ended_at, seq, score, detection,"
                " state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'recording', ?)",
                (
                    camera, label, captured_at, captured_at, seq,
                    float(detection.get("score", 1.0)), json.dumps(detection), time.time(),
                ),
            )  # fmt: skip
            event_id = int(cursor.lastrowid)
            db.execute("INSERT INTO event_labels VALUES (?, ?)", (event_id, label))
        return event_id

    def extend(self, event_id: int, label: str, captured_at: float, score: float) -> None:
        """Another detection event merged into this one."""
        with self.transaction() as db:
            db.execute(
                "UPDATE events SET ended_at = max(ended_at, ?), count = count + 1,"
                " score = max(score, ?) WHERE id = ?",
                (captured_at, score, event_id),
            )
            db.execute("INSERT OR IGNORE INTO event_labels VALUES (?, ?)", (event_id, label))

    def add_object(self, event_id: int, object_id: int, label: str, started_at: float) -> bool:
        """A tracked object that started during the event (its start event); False when
        the event lists MOST_OBJECTS_PER_EVENT already (a crowd, or a forger)."""
        with self.transaction() as db:
            (listed,) = db.execute(
                "SELECT count(*) FROM objects WHERE event_id = ?", (event_id,)
            ).fetchone()
            if listed >= MOST_OBJECTS_PER_EVENT:
                return False
            added = db.execute(
                "INSERT OR IGNORE INTO objects (event_id, object, label, started_at)"
                " VALUES (?, ?, ?, ?)",
                (event_id, object_id, label, started_at),
            ).rowcount
            db.execute("UPDATE events SET bytes = bytes + ? WHERE id = ?",
                       (OBJECT_ROW_BYTES * added, event_id))  # fmt: skip
        return True

    def end_object(
        self,
        camera: str,
        object_id: int,
        label: str,
        seen: tuple[float | None, float],
        *,
        zones: list[str],
        path: list[list[int]],
        snapshot: bytes | None,
    ) -> int | None:
        """A tracked object gone: when it was first and last seen (``seen``; None for
        the first: as its start event said), the zones it visited and its path, and
        its best snapshot. The event it is listed in, or None if it is in none (it
        came before the recorder, or its event was deleted)."""
        first_seen, ended_at = seen
        row = (
            self._db()
            .execute(
                "SELECT o.event_id FROM objects o JOIN events e ON e.id = o.event_id"
                " WHERE e.camera = ? AND o.object = ? AND o.label = ? AND o.ended_at IS NULL"
                " ORDER BY o.event_id DESC LIMIT 1",
                (camera, object_id, label),
            )
            .fetchone()
        )
        if row is None:
            return None
        event_id = int(row[0])
        kind = f"object-{object_id}"
        size = self._put(event_id, kind, snapshot) if snapshot is not None else 0
        zones_json = json.dumps(zones[:MOST_ZONES_PER_OBJECT])
        path_json = json.dumps(path[-MOST_PATH_POINTS:])
        with self.transaction() as db:
            updated = db.execute(
                "UPDATE objects SET started_at = coalesce(?, started_at), ended_at = ?,"
                " zones = ?, path = ?, snapshot = ? WHERE event_id = ? AND object = ?",
                (first_seen, ended_at, zones_json, path_json, int(size > 0),
                 event_id, object_id),
            ).rowcount  # fmt: skip
            # What the object's record holds counts in the events' size budget.
            held = size + len(zones_json) + len(path_json)
            db.execute("UPDATE events SET bytes = bytes + ? WHERE id = ?", (held, event_id))
        if not updated:  # the event was deleted meanwhile
            _remove(self.file(event_id, kind))
            return None
        return event_id

    def save_snapshot(self, event_id: int, snapshot: bytes, thumb: bytes) -> bool:
        """The event's frame and its thumbnail; False if the event was deleted meanwhile."""
        size = self._put(event_id, "snapshot", snapshot) + self._put(event_id, "thumb", thumb)
        with self.transaction() as db:
            updated = db.execute(
                "UPDATE events SET snapshot = 1, bytes = bytes + ? WHERE id = ?",
                (size, event_id),
            ).rowcount
        if not updated:
            self._remove_files(event_id)
        return bool(updated)

    def finish(self, event_id: int, clip_from: float, clip_to: float, frames: int) -> bool:
        """The clip written to ``scratch(event_id, 'clip')`` is complete: put it in place
        and list it. False if the event was deleted meanwhile (its files go too)."""
        scratch = self.scratch(event_id, "clip")
        fd = os.open(scratch, os.O_RDWR | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        size = scratch.stat().st_size
        os.replace(scratch, self.file(event_id, "clip"))
        with self.transaction() as db:
            updated = db.execute(
                "UPDATE events SET state = 'ready', clip_from = ?, clip_to = ?, clip_frames = ?,"
                " bytes = bytes + ? WHERE id = ? AND state = 'recording'",
                (clip_from, clip_to, frames, size, event_id),
            ).rowcount
        if not updated:
            self._remove_files(event_id)
        return bool(updated)

    def fail(self, event_id: int, reason: str) -> None:
        """No clip could be cut (the frames left the broker's stream): keep the event."""
        _remove(self.scratch(event_id, "clip"))
        with self.transaction() as db:
            db.execute(
                "UPDATE events SET state = 'failed', reason = ? "
                "WHERE id = ? AND state = 'recording'",
                (reason[:500], event_id),
            )

    def recording(self) -> list[StoredEvent]:
        """Events whose clip is not finished, oldest first (a restarted recorder resumes them)."""
        rows = (
            self._db()
            .execute("SELECT * FROM events WHERE state = 'recording' ORDER BY id")
            .fetchall()
        )
        return self._with_labels(rows)

    # --- everyone's side -----------------------------------------------------------

    def get(self, event_id: int) -> StoredEvent | None:
        row = self._db().execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return self._with_labels([row])[0] if row is not None else None

    def camera_of(self, event_id: int) -> str | None:
        """The camera of an event (and nothing else of it: a file route needs no more)."""
        row = self._db().execute("SELECT camera FROM events WHERE id = ?", (event_id,)).fetchone()
        return row[0] if row is not None else None

    def has_media(self, event_id: int, kind: str) -> bool:
        """Whether the event has this file: ``snapshot``, ``thumb``, ``clip`` or
        ``object-<id>`` (read from its row, its objects not loaded)."""
        db = self._db()
        if kind.startswith("object-"):
            row = db.execute(
                "SELECT snapshot FROM objects WHERE event_id = ? AND object = ?",
                (event_id, int(kind.removeprefix("object-"))),
            ).fetchone()
            return bool(row and row[0])
        row = db.execute(
            "SELECT snapshot, clip_frames, state FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        if row is None:
            return False
        if kind == "clip":
            return bool(row["clip_frames"]) and row["state"] == "ready"
        return bool(row["snapshot"])

    def query(self, query: EventQuery) -> list[StoredEvent]:
        """Newest first; page on with ``before_id`` = the last id of the previous page."""
        states = ",".join("?" * len(query.states))
        where, args = [f"state IN ({states})"], list(query.states)
        if query.camera is not None:
            where.append("camera = ?")
            args.append(query.camera)
        if query.cameras is not None:
            where.append(f"camera IN ({','.join('?' * len(query.cameras))})")
            args.extend(query.cameras)
        if query.label is not None:
            where.append("id IN (SELECT event_id FROM event_labels WHERE label = ?)")
            args.append(query.label)
        if query.since is not None:
            where.append("started_at >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("started_at < ?")
            args.append(query.until)
        if query.before_id is not None:
            where.append("id < ?")
            args.append(query.before_id)
        limit = max(1, min(MAX_PAGE, query.limit))
        rows = (
            self._db()
            .execute(
                f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                [*args, limit],
            )
            .fetchall()
        )
        return self._with_labels(rows)

    def labels(self) -> list[str]:
        rows = self._db().execute("SELECT DISTINCT label FROM event_labels ORDER BY label")
        return [row[0] for row in rows]

    def cameras(self) -> list[str]:
        rows = self._db().execute("SELECT DISTINCT camera FROM events ORDER BY camera")
        return [row[0] for row in rows]

    def delete(self, event_id: int) -> bool:
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM events WHERE id = ?", (event_id,)).rowcount
        if deleted:
            self._remove_files(event_id)
        return bool(deleted)

    def total_bytes(self) -> int:
        return int(self._db().execute("SELECT coalesce(sum(bytes), 0) FROM events").fetchone()[0])

    def enforce_retention(
        self, max_age_s: float, max_bytes: int, now: float | None = None
    ) -> list[int]:
        """Delete events older than ``max_age_s``, then the oldest while all of them
        take more than ``max_bytes``. Events still recording are left alone."""
        now = time.time() if now is None else now
        with self.transaction() as db:
            old = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM events WHERE started_at < ? AND state != 'recording'",
                    (now - max_age_s,),
                )
            ]
            total = db.execute("SELECT coalesce(sum(bytes), 0) FROM events").fetchone()[0]
            total -= sum(
                db.execute("SELECT bytes FROM events WHERE id = ?", (i,)).fetchone()[0] for i in old
            )
            doomed = list(old)
            if total > max_bytes:
                for row in db.execute(
                    "SELECT id, bytes FROM events WHERE state != 'recording' "
                    "ORDER BY started_at, id"
                ):
                    if total <= max_bytes:
                        break
                    if row[0] in doomed:
                        continue
                    doomed.append(row[0])
                    total -= row[1]
            db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in doomed])
        for event_id in doomed:
            self._remove_files(event_id)
        return doomed

    def sweep(self) -> int:
        """Remove files no event names (left by a crash between the two steps of a
        delete) and scratch files (left by a crash while writing). Returns how many."""
        known = {row[0] for row in self._db().execute("SELECT id FROM events")}
        removed = 0
        for path in self.media.iterdir():
            stem = path.name.split(".", 1)[0]
            scratch = path.name.startswith(SCRATCH)
            if scratch or not stem.isascii() or not stem.isdigit() or int(stem) not in known:
                removed += _remove(path)
        return removed

    # --- rows ----------------------------------------------------------------------

    def _with_labels(self, rows: list[sqlite3.Row]) -> list[StoredEvent]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        labels: dict[int, list[str]] = {i: [] for i in ids}
        placeholders = ",".join("?" * len(ids))
        for event_id, label in self._db().execute(
            f"SELECT event_id, label FROM event_labels WHERE event_id IN ({placeholders}) "
            "ORDER BY rowid",
            ids,
        ):
            labels[event_id].append(label)
        objects: dict[int, list[StoredObject]] = {i: [] for i in ids}
        for row in self._db().execute(
            f"SELECT * FROM objects WHERE event_id IN ({placeholders}) ORDER BY started_at",
            ids,
        ):
            objects[row["event_id"]].append(
                StoredObject(
                    object=row["object"],
                    label=row["label"],
                    started_at=row["started_at"],
                    ended_at=row["ended_at"],
                    zones=json.loads(row["zones"]),
                    path=json.loads(row["path"]),
                    snapshot=bool(row["snapshot"]),
                )
            )
        return [
            StoredEvent(
                id=row["id"],
                camera=row["camera"],
                label=row["label"],
                labels=labels[row["id"]],
                started_at=row["started_at"],
                ended_at=row["ended_at"],
                seq=row["seq"],
                score=row["score"],
                detection=json.loads(row["detection"]),
                count=row["count"],
                state=row["state"],
                reason=row["reason"],
                snapshot=bool(row["snapshot"]),
                clip_from=row["clip_from"],
                clip_to=row["clip_to"],
                clip_frames=row["clip_frames"],
                bytes=row["bytes"],
                created_at=row["created_at"],
                objects=objects[row["id"]],
            )
            for row in rows
        ]


def create_new(path: Path) -> int:
    """A new file at ``path``, open for writing, readable by owner and group only.
    Whatever was there (a scratch file left by a crash, a planted link) is removed
    first, never written through."""
    _remove(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)


def _remove(path: Path) -> bool:
    """Remove a file or link; leave anything else (a folder someone made there) with a
    warning rather than fail: the recorder must not stop over it. True if removed."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    except (IsADirectoryError, PermissionError) as error:
        LOGGER.warning("events: left %s in place: %s", path.name, error)
        return False
