"""Kept footage: its segments listed in SQLite, the files beside it.

``<store>/footage/footage.sqlite3`` and ``<store>/footage/<camera>/<start ms>.mp4``.
The footage recorder writes; the streamer reads (lists, plays, exports) and
marks what it plays. Safe against crashes in the same order as the events:
a segment is written under a scratch name, synced and renamed into place, and
only then listed, in the same transaction that moves the camera's place in
its stream past it. A scratch file at start is a segment cut short: it is
dropped, and its packets are read again from the broker's stream, which
still holds them (``[record] footage_buffer_s``). Retention takes the rows out
first, then the files, and never takes a segment played in the last
``PLAYING_LEASE_S``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.core.eventstore import DIRECTORY_MODE, FILE_MODE, SCRATCH, create_new
from pipeline.core.files import open_regular, sync_folder
from pipeline.core.sqlite_file import SqliteFile

LOGGER = logging.getLogger(__name__)

FOLDER = "footage"
DATABASE = "footage.sqlite3"
# A segment served to a player (or an export) in this long is not deleted: a player
# asks for a segment in ranges, one after another.
PLAYING_LEASE_S = 300.0
MOST_LISTED = 10_000
STATE_FILE = ".state.json"  # <camera>/.state.json: recording, or stopped and why
STATE_BYTES = 1024
MOST_REASON_CHARS = 300  # segments in one answer: a day of 10 s segments is 8,640

SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    camera      TEXT NOT NULL,
    started_at  REAL NOT NULL,            -- capture time of its first picture
    ended_at    REAL NOT NULL,            -- ... of its last, plus that picture's length
    name        TEXT NOT NULL UNIQUE,     -- <camera>/<start ms>.mp4 under the footage folder
    bytes       INTEGER NOT NULL,
    codec       TEXT NOT NULL,            -- what the file holds: h264 | hevc
    copied      INTEGER NOT NULL,         -- 1: the camera's own packets; 0: compressed here
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    mode        TEXT NOT NULL,            -- continuous | motion: which retention applies
    played_at   REAL NOT NULL DEFAULT 0   -- last served (retention leaves it a while)
);
CREATE INDEX IF NOT EXISTS segments_by_time ON segments (camera, started_at);
CREATE TABLE IF NOT EXISTS cameras (
    camera      TEXT PRIMARY KEY,
    next_offset INTEGER NOT NULL,         -- its stream's first message not yet in a segment
    reached_at  REAL NOT NULL DEFAULT 0   -- the capture time the footage before it reaches
);
CREATE TABLE IF NOT EXISTS gaps (
    camera      TEXT NOT NULL,
    from_at     REAL NOT NULL,
    to_at       REAL NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gaps_by_time ON gaps (camera, from_at);
CREATE TABLE IF NOT EXISTS activity (    -- a motion camera's events: which segments to keep
    camera      TEXT NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_by_time ON activity (camera, at);
"""


@dataclass(frozen=True)
class Segment:
    id: int
    camera: str
    started_at: float
    ended_at: float
    name: str
    bytes: int
    codec: str
    copied: bool
    width: int
    height: int
    mode: str


@dataclass(frozen=True)
class Gap:
    camera: str
    from_at: float
    to_at: float
    reason: str


@dataclass(frozen=True)
class CameraState:
    camera: str
    next_offset: int  # -1: never read
    reached_at: float  # the capture time the footage before ``next_offset`` reaches
    state: str
    reason: str
    changed_at: float


class FootageStore(SqliteFile):
    def __init__(self, store_dir: Path) -> None:
        self.directory = Path(store_dir) / FOLDER
        self.directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        super().__init__(self.directory / DATABASE, SCHEMA)

    # --- files -------------------------------------------------------------------------

    def folder(self, camera: str) -> Path:
        folder = self.directory / camera
        folder.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        return folder

    @staticmethod
    def name_of(camera: str, started_at: float) -> str:
        return f"{camera}/{round(started_at * 1000)}.mp4"

    def scratch(self, name: str) -> Path:
        final = self.directory / name
        return final.with_name(f"{SCRATCH}-{final.name}")

    def create_scratch(self, name: str) -> Path:
        """A new scratch file for the segment ``name`` (made private, never through a link)."""
        camera = name.split("/", 1)[0]
        self.folder(camera)
        path = self.scratch(name)
        os.close(create_new(path))
        return path

    def open_segment(self, segment: Segment) -> BinaryIO | None:
        """A listed segment's file for reading, if it is a regular file (see ``open_regular``)."""
        return open_regular(self.directory / segment.name)

    # --- the recorder's side ---------------------------------------------------------------

    def camera_state(self, camera: str) -> CameraState:
        """Where its stream is to be read from, and whether the recorder records it."""
        row = (
            self._db()
            .execute("SELECT next_offset, reached_at FROM cameras WHERE camera = ?", (camera,))
            .fetchone()
        )
        said: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            said = json.loads((self.directory / camera / STATE_FILE).read_bytes())
        return CameraState(
            camera, -1 if row is None else row[0], 0.0 if row is None else row[1],
            str(said.get("state", "none")),
            str(said.get("reason", "")), float(said.get("changed_at", 0.0)),
        )  # fmt: skip

    def next_offset(self, camera: str) -> int | None:
        """Where the camera's stream is to be read from: None, from its start."""
        offset = self.camera_state(camera).next_offset
        return None if offset < 0 else offset

    def prepare_state(self, camera: str) -> None:
        """Make the camera's state file at its full size, while there is room."""
        path = self.folder(camera) / STATE_FILE
        if not path.exists() or path.stat().st_size != STATE_BYTES:
            self.set_state(camera, "recording")

    def set_state(self, camera: str, state: str, reason: str = "") -> None:
        """Say whether the recorder records the camera (and if not, why), for the pages.

        Kept in a small file of a fixed size, overwritten in place rather than in the
        database: when the disk is full, the database cannot take a word more, and
        that is when this must be said."""
        said = {"state": state, "reason": reason[:MOST_REASON_CHARS], "changed_at": time.time()}
        data = json.dumps(said).encode().ljust(STATE_BYTES)[:STATE_BYTES]
        fd = os.open(self.folder(camera) / STATE_FILE, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW,
                     FILE_MODE)  # fmt: skip
        try:
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)

    def passed(self, camera: str, next_offset: int, reached_at: float) -> None:
        """The camera's place in its stream is ``next_offset``, its footage reaching
        ``reached_at``, with no segment to show for it (a stream made anew: from its start)."""
        with self.transaction() as db:
            _move(db, camera, next_offset, reached_at)

    def add_segment(self, scratch: Path, segment: Segment, next_offset: int) -> Segment:
        """Rename a finished, synced scratch file into place and list it; the camera's
        place in its stream moves to ``next_offset`` at the same time."""
        final = self.directory / segment.name
        os.replace(scratch, final)
        sync_folder(final.parent)
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO segments (camera, started_at, ended_at, name, bytes, codec, copied,"
                " width, height, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (segment.camera, segment.started_at, segment.ended_at, segment.name,
                 segment.bytes, segment.codec, int(segment.copied), segment.width,
                 segment.height, segment.mode),
            )  # fmt: skip
            _move(db, segment.camera, next_offset, segment.ended_at)
        return Segment(**{**segment.__dict__, "id": int(cursor.lastrowid or 0)})

    def add_gap(self, gap: Gap) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO gaps VALUES (?, ?, ?, ?)",
                       (gap.camera, gap.from_at, gap.to_at, gap.reason))  # fmt: skip

    def note_activity(self, camera: str, at: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO activity VALUES (?, ?)", (camera, at))

    def drop_still(self, margin_s: float, judged_before: float) -> list[Segment]:
        """Delete the ``motion`` segments that ended before ``judged_before`` with no
        activity within ``margin_s`` of them; forget activity older than any segment."""
        with self.transaction() as db:
            rows = db.execute(
                "SELECT * FROM segments s WHERE mode = 'motion' AND ended_at < ? AND "
                "played_at < ? AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.camera = "
                "s.camera AND a.at BETWEEN s.started_at - ? AND s.ended_at + ?)",
                (judged_before, time.time() - PLAYING_LEASE_S, margin_s, margin_s),
            ).fetchall()
            db.executemany("DELETE FROM segments WHERE id = ?", [(r["id"],) for r in rows])
            db.execute("DELETE FROM activity WHERE at < (SELECT coalesce(min(started_at), 0) "
                       "FROM segments) - ?", (margin_s,))  # fmt: skip
        for row in rows:
            (self.directory / row["name"]).unlink(missing_ok=True)
        return [_segment(row) for row in rows]

    def sweep(self) -> int:
        """Drop scratch files (segments cut short) and files no row names; forget rows
        whose file is gone. Returns how many files were removed."""
        known = {row[0] for row in self._db().execute("SELECT name FROM segments")}
        removed = 0
        for folder in self.directory.iterdir():
            if not folder.is_dir() or folder.is_symlink():
                continue
            for path in folder.iterdir():
                if path.name != STATE_FILE and f"{folder.name}/{path.name}" not in known:
                    path.unlink(missing_ok=True)
                    removed += 1
        gone = [name for name in known if not (self.directory / name).is_file()]
        if gone:
            with self.transaction() as db:
                db.executemany("DELETE FROM segments WHERE name = ?", [(n,) for n in gone])
        return removed

    def total_bytes(self) -> int:
        return int(self._db().execute("SELECT coalesce(sum(bytes), 0) FROM segments").fetchone()[0])

    def enforce_retention(
        self, max_age_s: dict[str, float], max_bytes: int, now: float | None = None
    ) -> list[Segment]:
        """Delete segments older than their mode's age, then the oldest while all
        footage takes more than ``max_bytes``; none played within ``PLAYING_LEASE_S``."""
        now = time.time() if now is None else now
        leased = now - PLAYING_LEASE_S
        with self.transaction() as db:
            rows = db.execute(
                "SELECT * FROM segments WHERE played_at < ? ORDER BY started_at, id", (leased,)
            ).fetchall()
            total = db.execute("SELECT coalesce(sum(bytes), 0) FROM segments").fetchone()[0]
            doomed = []
            for row in rows:
                too_old = row["ended_at"] < now - max_age_s.get(row["mode"], float("inf"))
                if too_old or total > max_bytes:
                    doomed.append(_segment(row))
                    total -= row["bytes"]
            db.executemany("DELETE FROM segments WHERE id = ?", [(s.id,) for s in doomed])
        for segment in doomed:
            (self.directory / segment.name).unlink(missing_ok=True)
        return doomed

    # --- the streamer's side ---------------------------------------------------------------

    def segments(self, camera: str, since: float, until: float) -> list[Segment]:
        """The camera's segments that overlap ``since`` to ``until``, in time order."""
        rows = self._db().execute(
            "SELECT * FROM segments WHERE camera = ? AND ended_at > ? AND started_at < ? "
            "ORDER BY started_at, id LIMIT ?",
            (camera, since, until, MOST_LISTED),
        )
        return [_segment(row) for row in rows]

    def newest_end(self, camera: str) -> float | None:
        """When the camera's newest kept footage ends."""
        row = (
            self._db()
            .execute("SELECT max(ended_at) FROM segments WHERE camera = ?", (camera,))
            .fetchone()
        )
        return row[0]

    def gaps(self, camera: str, since: float, until: float) -> list[Gap]:
        rows = self._db().execute(
            "SELECT * FROM gaps WHERE camera = ? AND to_at > ? AND from_at < ? "
            "ORDER BY from_at LIMIT ?",
            (camera, since, until, MOST_LISTED),
        )
        return [Gap(**dict(row)) for row in rows]

    def segment(self, segment_id: int) -> Segment | None:
        row = self._db().execute("SELECT * FROM segments WHERE id = ?", (segment_id,)).fetchone()
        return None if row is None else _segment(row)

    def played(self, segment_ids: list[int], now: float | None = None) -> None:
        """Mark segments as being played: retention leaves them a while. A database that
        cannot take the mark (a full disk) does not stop the playing."""
        try:
            with self.transaction() as db:
                db.executemany(
                    "UPDATE segments SET played_at = ? WHERE id = ?",
                    [(time.time() if now is None else now, i) for i in segment_ids],
                )
        except sqlite3.Error as error:
            LOGGER.warning("footage: could not mark segments as playing: %s", error)


def _move(db: sqlite3.Connection, camera: str, next_offset: int, reached_at: float) -> None:
    db.execute(
        "INSERT INTO cameras (camera, next_offset, reached_at) VALUES (?, ?, ?) ON CONFLICT "
        "(camera) DO UPDATE SET next_offset = excluded.next_offset, reached_at = "
        "max(reached_at, excluded.reached_at)",
        (camera, next_offset, reached_at),
    )


def _segment(row: sqlite3.Row) -> Segment:
    fields = dict(row)
    fields.pop("played_at", None)
    fields["copied"] = bool(fields["copied"])
    return Segment(**fields)
