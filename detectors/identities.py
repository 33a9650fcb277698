"""Who is who from frame to frame, for a detector that follows people or faces itself.

A camera with ``track`` gives every box it tracks an object id (``extra["object"]``),
and the detectors after it (fall, blink, eyes) use that id: one person is one
object for all of them. Without ``track``, or for boxes it does not track (faces
when it tracks people), they keep ids here, with the same tracker ``track`` is
built on: Norfair, a Kalman filter per box, matched by the distance between
centres relative to the box's size. Not IoU, as ``track`` uses: a person's box
changes shape as they fall (tall, then wide) and would stop overlapping its
prediction. An id is forgotten once not seen for ``max_missing_s``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors.base import Box, Detection

OBJECT_KEY = "object"  # what ``track`` calls an object's id in a detection's extra


def _centre_distance(detection: Any, tracked: Any) -> float:
    """How far a box's centre is from where the tracked one is expected, in units of
    the tracked box's size (its last seen box: the estimate's size lags a fall)."""
    seen = detection.points.mean(axis=0)
    expected = tracked.estimate.mean(axis=0)
    _index, (_x, _y, w, h) = tracked.last_detection.data
    return float(math.hypot(*(seen - expected)) / max(w, h, 1))


class Identities:
    """Ids for boxes, frame after frame (``update``), from Norfair."""

    def __init__(self, max_missing_s: float = 1.0, max_jump: float = 1.0) -> None:
        from norfair import Tracker  # scipy and friends: only for cameras that need it

        # Norfair suggests a vectorised distance for speed (a handful of people or
        # faces a frame is no matter), and warns each frame that a prediction turned
        # inside out (the match fails, as it should): neither is news to an operator.
        logging.getLogger("norfair").setLevel(logging.ERROR)
        self.max_missing_s = max_missing_s
        self.tracker = Tracker(
            distance_function=_centre_distance, distance_threshold=max_jump,
            hit_counter_max=1_000_000, initialization_delay=0,
        )  # fmt: skip
        self.last_seen: dict[int, float] = {}

    def of(self, found: Sequence[Detection], now: float) -> list[tuple[int, Box]]:
        """(id, box) of each of ``found`` (detections with a box), in order: the
        ``track`` stage's object ids when it gave every one (one person is one object
        for every detector), else ours."""
        boxes = [d.box for d in found if d.box is not None]
        given = [d.extra.get(OBJECT_KEY) for d in found]
        if found and len(boxes) == len(found) and all(type(i) is int for i in given):
            return list(zip(given, boxes, strict=True))  # type: ignore[arg-type]
        return self.update(boxes, now)

    def update(self, boxes: Sequence[Box], now: float) -> list[tuple[int, Box]]:
        """(id, box) for each box, in order: a box near where a known one is expected
        keeps its id, others get new ones."""
        from norfair import Detection as Points

        self._forget(now)
        # Each box's data is a new list: Norfair keeps it with the track, so a track
        # matched in this frame is told from one still holding an older frame's box.
        given = [
            Points(np.array([[x, y], [x + w, y + h]], float), data=[index, box])
            for index, box in enumerate(boxes) for x, y, w, h in [box]
        ]  # fmt: skip
        this_frame = {id(points.data) for points in given}
        ids: list[int | None] = [None] * len(given)
        for tracked in self.tracker.update(given):
            data = tracked.last_detection.data if tracked.last_detection is not None else None
            if tracked.id is not None and id(data) in this_frame:
                ids[data[0]] = tracked.id
        found = []
        for index, box in enumerate(boxes):
            track_id = ids[index]
            assert track_id is not None, "Norfair starts a track for every unmatched box"
            self.last_seen[track_id] = now
            found.append((track_id, box))
        return found

    def _forget(self, now: float) -> None:
        gone = {t for t, at in self.last_seen.items() if now - at > self.max_missing_s}
        if gone:
            self.tracker.tracked_objects = [
                o for o in self.tracker.tracked_objects if o.id not in gone
            ]
            self.last_seen = {t: at for t, at in self.last_seen.items() if t not in gone}
