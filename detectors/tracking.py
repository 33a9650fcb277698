"""Keeping the identity of a box (a face, a person) from one frame to the next.

Boxes are matched to the track whose last box is nearest, relative to its
size, so a person whose box changes shape as they fall keeps their track.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from detectors.base import Box


@dataclass
class Track:
    id: int
    box: Box
    last_seen: float


def centre(box: Box) -> tuple[float, float]:
    x, y, w, h = box
    return x + w / 2, y + h / 2


class Tracker:
    def __init__(self, max_missing_s: float = 1.0, max_jump: float = 1.0) -> None:
        self.max_missing_s = max_missing_s
        self.max_jump = max_jump  # how far a box may move, in units of its own size
        self.tracks: dict[int, Track] = {}
        self._ids = itertools.count(1)

    def update(self, boxes: list[Box], now: float) -> list[tuple[int, Box]]:
        """Assign each box a track id (new boxes get new ids); forget stale tracks."""
        self.tracks = {
            tid: t for tid, t in self.tracks.items() if now - t.last_seen <= self.max_missing_s
        }
        pairs = []
        for index, box in enumerate(boxes):
            cx, cy = centre(box)
            for track in self.tracks.values():
                tx, ty = centre(track.box)
                size = max(track.box[2], track.box[3], 1)
                cost = math.hypot(cx - tx, cy - ty) / size
                if cost <= self.max_jump:
                    pairs.append((cost, index, track.id))
        assigned: dict[int, int] = {}
        used_tracks: set[int] = set()
        for _cost, index, track_id in sorted(pairs):
            if index in assigned or track_id in used_tracks:
                continue
            assigned[index] = track_id
            used_tracks.add(track_id)
        result = []
        for index, box in enumerate(boxes):
            track_id = assigned.get(index) or next(self._ids)
            self.tracks[track_id] = Track(track_id, box, now)
            result.append((track_id, box))
        return result
