"""Tracked objects: one id per person (car, dog...) across frames, one event when it comes.

Earlier detectors' boxes (``objects``, ``people``, ``faces``, ``pose``) go to
Norfair (the maintained fork, ``norfair-enough``: a Kalman filter per object,
boxes matched by IoU), chosen by measurement against our nearest-box tracker
on a real pedestrian clip (docs/accuracy.md: Norfair alone IDF1 0.769
against 0.550, 9 identity switches against 27; with this stage's lifecycle
0.829 and 6). Around it, the lifecycle a camera user
expects (Frigate's):

- a box counts only if it passes its label's filter (area, shape, score) and
  its feet are outside the object mask;
- an object **starts** once it has been seen ``min_frames`` times and the
  median of its last scores reaches its label's ``threshold`` (a one-frame
  false positive never becomes one): an event, the only one for its label;
- it is in a zone while its feet are inside for ``inertia`` frames in a row
  (and leaves after as many outside): ``entered`` and ``left`` events; staying
  longer than the zone's ``loitering_s`` raises a ``loitering`` event;
- it is **stationary** once it has not moved for ``stationary_s``: it stays an
  object (shown where it stood) through misses of up to ten times
  ``max_missing_s``;
- its feet crossing a counting line (``lines``) count, by direction, and raise
  a ``crossed`` event; every frame, a boxless ``line`` detection per line
  carries the counts so far;
- it **ends** when not seen for ``max_missing_s``: a ``gone`` event with its
  first and last sighting, the zones it visited, its path and its best
  snapshot (a crop around its sighting of highest score x size; its start
  event carries the crop it had then). A track Norfair starts where an object
  went missing, of much its size, is that object seen again (people crossing
  behind each other keep their ids).

Every frame, each object seen (or stationary) is reported under its label with
``extra.object`` (its id), ``zones`` and ``stationary``, *quiet* (drawn and
shown, not an event), in place of the boxes it was made of.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from declared.blocks import setting
from detectors.base import (
    Box,
    Detection,
    Detector,
    FrameContext,
    ParamLabels,
    Params,
    register,
)
from detectors.scene_rules import SceneRules, feet, inside

SCORES_KEPT = 10  # the median that makes an object real is over its last this many scores
# A new track is a missing object seen again when its box is within this factor of the
# object's height and its feet within this many heights of where the object was last
# (chosen with ``python -m benchmarks.tracking``; the figures: docs/accuracy.md, Tracking).
REIDENTIFY_SIZE = 1.5
REIDENTIFY_REACH = 0.8  # a walker covers about 0.8 of their height a second
# An object's path: where its feet were, a point at most every this often, and at most
# this many points (when full, every other one goes: the whole way, less finely).
PATH_EVERY_S = 0.5
PATH_POINTS = 64
# Its best snapshot: the sighting of highest score x size, cropped with this margin
# around the box, at most this many pixels a side. A new one is encoded only when it
# beats the best by this factor (a JPEG on a few frames of an object's life, not on all).
CROP_MARGIN = 0.15
CROP_SIDE = 320
CROP_BETTER = 1.15
# Lines are crossed by the middle of an object's last this many feet (docs/accuracy.md,
# Counting).
FEET_SMOOTHING = 5
# Every this often (and at its first frame), a camera's census: the objects in view
# now, as a 'tracking' event. Whoever counts objects from their events (Home
# Assistant's occupancy) takes it as the truth: a worker that restarted, and so
# forgot its objects without a 'gone' for each, says so at once; one that died
# says so by its silence.
# It is flat lists, as the wire carries them (no maps inside a detection's extra):
# ``objects`` the ids, ``labels`` theirs, ``zones`` the zone names, ``inside``
# [object id, zone's place in ``zones``] for each object in each zone it is in.
CENSUS_LABEL = "tracking"
CENSUS_EVERY_S = 30.0
CENSUS_MOST_OBJECTS = 500
CENSUS_MOST_INSIDE = 1500  # the longest list the wire carries in an extra


class TrackParams(Params):
    labels: ParamLabels = setting(("person",), "labels to track (any box label)")
    min_frames: int = setting(3, "frames an object must be seen before it starts", 1, 100)
    max_missing_s: float = setting(2.0, "an object not seen for this long has gone", 0.1, 60.0)
    stationary_s: float = setting(
        10.0, "an object that has not moved for this long is stationary", 1.0, 3600.0
    )
    distance: float = setting(
        0.9, "1 - IoU beyond which a box is not the same object as a prediction", 0.1, 1.0
    )


@dataclass
class ZoneStay:
    inside_frames: int = 0
    outside_frames: int = 0
    entered_at: float | None = None
    loitered: bool = False


@dataclass
class TrackedObject:
    id: int
    label: str
    first_seen: float
    last_seen: float
    box: Box
    score: float
    scores: deque = field(default_factory=lambda: deque(maxlen=SCORES_KEPT))
    hits: int = 0
    started: bool = False
    still_since: float = 0.0
    anchor: tuple[float, float] = (0.0, 0.0)  # where it stood when it last moved
    zones: dict[str, ZoneStay] = field(default_factory=dict)
    # Per counting line: the side its feet were last clearly on, and where they were.
    sides: dict[str, tuple[int, tuple[float, float]]] = field(default_factory=dict)
    recent: deque = field(default_factory=lambda: deque(maxlen=FEET_SMOOTHING))  # (x, y, h)
    visited: list[str] = field(default_factory=list)
    path: list[list[int]] = field(default_factory=list)  # feet, [x, y] in frame pixels
    path_at: float = -1e18
    best: float = 0.0  # score x size of its best sighting
    snapshot: bytes | None = None  # ... cropped, a JPEG
    # What it was made of in the frame it was last seen: its extra (a skeleton's points,
    # a code's text) and in-process arrays go on with it.
    seen_as: Detection | None = None

    def in_zones(self) -> list[str]:
        return [name for name, stay in self.zones.items() if stay.entered_at is not None]

    def feet(self) -> list[int]:
        """Where its feet are now, [x, y] in whole frame pixels (a point of its path)."""
        return [round(v) for v in feet(self.box)]


@register
class TrackDetector(Detector):
    name = "track"
    # and those it tracks, which earlier detectors report
    labels = ("loitering", "gone", "crossed", "line", "entered", "left")
    description = (
        "tracked objects: a stable id per object, zones, lines, filters; one event when an "
        "object comes, then 'entered', 'left', 'loitering', 'crossed' and 'gone' events"
    )
    Params = TrackParams
    stateful = True
    needs_one_of = ("objects", "people", "faces", "pose", "motion")

    def __init__(self, params: TrackParams) -> None:
        super().__init__(params)
        from norfair import Tracker  # scipy and friends: only for cameras that track

        # The prediction of an object missed for a while can turn its box inside out;
        # Norfair says so in a warning each frame, and the match simply fails, as it should.
        logging.getLogger("norfair.distances").setLevel(logging.ERROR)

        self.tracked_labels = params.labels
        self.tracker = Tracker(
            distance_function="iou", distance_threshold=params.distance,
            hit_counter_max=1_000_000, initialization_delay=0,
        )  # fmt: skip
        self.objects: dict[int, TrackedObject] = {}
        self.aliases: dict[int, int] = {}  # Norfair's track id: our object's id
        self.owners: dict[int, int] = {}  # our object's id: the track that last was it
        self.crossed: dict[tuple[str, str], int] = {}  # (line, "in" | "out"): objects
        self.census_at = -1e18

    def replaces(self) -> tuple[str, ...]:
        return self.tracked_labels

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        from norfair import Detection as Box4

        rules = context.rules
        now = context.captured_at
        wanted = [
            d for d in context.found
            if d.label in self.tracked_labels and d.box is not None
            and rules.filter_for(d.label).passes(d.box, d.score) and not rules.masked(d.box)
        ]  # fmt: skip
        points = [
            Box4(np.array([[x, y], [x + w, y + h]], float), scores=np.array([d.score] * 2),
                 label=d.label, data=d)
            for d in wanted for x, y, w, h in [d.box]
        ]  # fmt: skip
        this_frame = {id(d) for d in wanted}  # norfair keeps each box's own detection as data
        matched = [
            (tracked.id, tracked.last_detection.data)
            for tracked in self.tracker.update(points)
            # Objects not matched in this frame keep their last detection: not seen now.
            if tracked.id is not None and tracked.last_detection is not None
            and id(tracked.last_detection.data) in this_frame
        ]  # fmt: skip
        # Tracks we know first: a new track may only be an object none of them is. One
        # object is one box a frame: a second track that claims it (an older track of
        # the object, seen again on someone else) is an object of its own from now on;
        # else the object would jump between two people, across every line between them.
        known: list[tuple[int, Detection]] = []
        seen: set[int] = set()
        claims = [(t, d) for t, d in matched if t in self.aliases]
        # The track that was the object last is it still; others claiming it are new.
        claims.sort(key=lambda claim: self.owners.get(self.aliases[claim[0]]) != claim[0])
        for track_id, detection in claims:
            object_id = self.aliases[track_id]
            if object_id in seen:
                object_id = self.aliases[track_id] = track_id
            seen.add(object_id)
            self.owners[object_id] = track_id
            known.append((object_id, detection))
        for track_id, detection in ((t, d) for t, d in matched if t not in self.aliases):
            object_id = self._identity(track_id, detection, seen)
            seen.add(object_id)
            self.owners[object_id] = track_id
            known.append((object_id, detection))
        found: list[Detection] = []
        for object_id, detection in known:
            found += self._seen(object_id, detection, image, context)
        found += self._ended(seen, now)
        return found + self._counts(rules) + self._census(now)

    def _census(self, now: float) -> list[Detection]:
        """The objects in view and the zones each is in, every CENSUS_EVERY_S."""
        if self.census_at <= now < self.census_at + CENSUS_EVERY_S:
            return []
        self.census_at = now
        objects = [obj for obj in self.objects.values() if obj.started][:CENSUS_MOST_OBJECTS]
        zones = list(dict.fromkeys(name for obj in objects for name in obj.in_zones()))
        inside = [[obj.id, zones.index(name)] for obj in objects for name in obj.in_zones()]
        census = {"objects": [obj.id for obj in objects], "labels": [obj.label for obj in objects],
                  "zones": zones, "inside": inside[:CENSUS_MOST_INSIDE]}  # fmt: skip
        return [Detection(CENSUS_LABEL, 1.0, None, census, event=True)]

    def _identity(self, track_id: int, detection: Detection, seen: set[int]) -> int:
        """Our object for Norfair's track: a track Norfair started afresh where one of
        ours is still missing (a stationary object missed for longer than Norfair
        keeps a track) is that object again."""
        assert detection.box is not None  # only boxes are tracked
        missing = (
            o for o in self.objects.values() if o.id not in seen and o.label == detection.label
        )
        found = next((o.id for o in missing if self._same(o, detection.box)), track_id)
        self.aliases[track_id] = found
        return found

    @staticmethod
    def _same(obj: TrackedObject, box: Box) -> bool:
        """Whether a box where no track was is a missing object seen again: much the
        same size, its feet within ``REIDENTIFY_REACH`` of its height of where the
        object was last."""
        (x0, y0), (x1, y1) = feet(obj.box), feet(box)
        height = max(obj.box[3], 1)
        similar = 1 / REIDENTIFY_SIZE <= box[3] / height <= REIDENTIFY_SIZE
        return similar and ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 <= REIDENTIFY_REACH * height

    def _seen(
        self, object_id: int, detection: Detection, image: np.ndarray, context: FrameContext
    ) -> list[Detection]:
        assert detection.box is not None
        now, rules = context.captured_at, context.rules
        obj = self.objects.get(object_id)
        if obj is None:
            obj = TrackedObject(
                object_id, detection.label, now, now, detection.box, detection.score,
                still_since=now, anchor=feet(detection.box),
            )  # fmt: skip
            self.objects[object_id] = obj
        obj.last_seen, obj.box, obj.score = now, detection.box, detection.score
        obj.recent.append((*feet(detection.box), detection.box[3]))
        obj.seen_as = detection
        obj.scores.append(detection.score)
        obj.hits += 1
        self._moved(obj, now)
        self._sighting(obj, image, context.scale)
        if now - obj.path_at >= PATH_EVERY_S:
            obj.path_at = now
            obj.path.append(obj.feet())
            if len(obj.path) > PATH_POINTS:
                obj.path = obj.path[::2]
        events = self._zones(obj, now, rules) + self._crossings(obj, now, rules)
        threshold = rules.filter_for(obj.label).threshold
        if not obj.started:
            if obj.hits < self.params.min_frames or statistics.median(obj.scores) < threshold:
                return []
            obj.started = True
            events.append(Detection(obj.label, obj.score, obj.box, self._about(obj, now),
                                    event=True, snapshot=obj.snapshot))  # fmt: skip
        return [*events, self._shown(obj, now)]

    @staticmethod
    def _sighting(obj: TrackedObject, image: np.ndarray, scale: float) -> None:
        """Keep the object's best snapshot: its crop where score x size is highest (a
        person seen whole and near, not a sliver at the edge)."""
        _, _, w, h = obj.box
        quality = obj.score * (w * h) ** 0.5
        if obj.snapshot is not None and quality < obj.best * CROP_BETTER:
            return
        snapshot = crop(image, obj.box, scale)
        if snapshot is not None:
            obj.best, obj.snapshot = quality, snapshot

    def _moved(self, obj: TrackedObject, now: float) -> None:
        """Stationary: its feet stayed within a tenth of its height since ``still_since``."""
        x, y = feet(obj.box)
        reach = max(4.0, 0.1 * obj.box[3])
        if abs(x - obj.anchor[0]) > reach or abs(y - obj.anchor[1]) > reach:
            obj.anchor, obj.still_since = (x, y), now

    def _stationary(self, obj: TrackedObject, now: float) -> bool:
        return now - obj.still_since >= self.params.stationary_s

    def _zones(self, obj: TrackedObject, now: float, rules: SceneRules) -> list[Detection]:
        events = []
        where = feet(obj.box)
        for zone in rules.zones:
            if not zone.wants(obj.label):
                continue
            stay = obj.zones.setdefault(zone.name, ZoneStay())
            if inside(where, zone.points):
                stay.inside_frames, stay.outside_frames = stay.inside_frames + 1, 0
                if stay.entered_at is None and stay.inside_frames >= zone.inertia:
                    stay.entered_at, stay.loitered = now, False
                    if zone.name not in obj.visited:
                        obj.visited.append(zone.name)
                    events += self._passage("entered", obj, zone.name, now)
            else:
                stay.outside_frames, stay.inside_frames = stay.outside_frames + 1, 0
                if stay.entered_at is not None and stay.outside_frames >= zone.inertia:
                    stay.entered_at = None
                    events += self._passage("left", obj, zone.name, now)
            stayed = now - stay.entered_at if stay.entered_at is not None else 0.0
            if (
                zone.loitering_s
                and stayed >= zone.loitering_s
                and not stay.loitered
                and obj.started
            ):
                stay.loitered = True
                extra = {**self._about(obj, now), "zone": zone.name, "stayed_s": round(stayed, 1)}
                events.append(Detection("loitering", obj.score, obj.box, extra, event=True))
        return events

    def _passage(self, what: str, obj: TrackedObject, zone: str, now: float) -> list[Detection]:
        """An object entering or leaving a zone, once it is an object (its start event
        says which zones it is in already)."""
        if not obj.started:
            return []
        extra = {**self._about(obj, now), "label": obj.label, "zone": zone}
        return [Detection(what, obj.score, obj.box, extra, event=True)]

    def _crossings(self, obj: TrackedObject, now: float, rules: SceneRules) -> list[Detection]:
        """Counting lines its feet crossed: from clearly on one side (``Line.side``) to
        clearly on the other, through the line. Counted by direction, with a 'crossed'
        event each, for an object that has started (before that, its side is kept)."""
        if not rules.lines:
            return []
        events = []
        # The middle of its last few feet: a box cut short (a person half hidden) or
        # grown over a second person for a frame or two moves its feet by a fifth of
        # its height or more, across a line and back.
        x, y, height = (statistics.median(values) for values in zip(*obj.recent, strict=True))
        where = (x, y)
        for line in rules.lines:
            if not line.wants(obj.label) or not (side := line.side(where, height)):
                continue
            was = obj.sides.get(line.name)
            obj.sides[line.name] = (side, where)
            if was is None or was[0] == side or not line.passes(was[1], where):
                continue
            if not obj.started:
                continue  # an object that is not one yet crosses nothing
            way = "in" if side > 0 else "out"
            key = (line.name, way)
            self.crossed[key] = self.crossed.get(key, 0) + 1
            extra = {**self._about(obj, now), "label": obj.label, "line": line.name,
                     "direction": way}  # fmt: skip
            events.append(Detection("crossed", obj.score, obj.box, extra, event=True))
        return events

    def _counts(self, rules: SceneRules) -> list[Detection]:
        """Each line's crossings so far (since this worker took the camera), every frame."""
        return [
            Detection("line", 1.0, None, {"line": line.name,
                                          "in": self.crossed.get((line.name, "in"), 0),
                                          "out": self.crossed.get((line.name, "out"), 0)},
                      quiet=True)
            for line in rules.lines
        ]  # fmt: skip

    def _ended(self, seen: set[int], now: float) -> list[Detection]:
        """Objects not seen this frame: shown while they may be back, ended when gone."""
        found = []
        for object_id, obj in list(self.objects.items()):
            if object_id in seen:
                continue
            allowed = self.params.max_missing_s
            stationary = self._stationary(obj, obj.last_seen)
            if stationary:
                allowed *= 10  # a parked car or a sleeper missed by the detector stays
            if now - obj.last_seen <= allowed:
                if obj.started and stationary:  # still there; one that moves is not shown
                    found.append(self._shown(obj, now))  # where it is not
                continue
            del self.objects[object_id]
            self.owners.pop(object_id, None)
            tracks = {t for t, o in self.aliases.items() if o == object_id}
            self.aliases = {t: o for t, o in self.aliases.items() if o != object_id}
            self.tracker.tracked_objects = [
                t for t in self.tracker.tracked_objects if t.id not in tracks
            ]
            if obj.started:
                extra = {**self._about(obj, obj.last_seen), "label": obj.label,
                         "started_at": round(obj.first_seen, 3),
                         "ended_at": round(obj.last_seen, 3),
                         "duration_s": round(obj.last_seen - obj.first_seen, 1),
                         "zones": list(obj.visited), "path": self._path(obj)}  # fmt: skip
                found.append(Detection("gone", obj.score, obj.box, extra, event=True,
                                       snapshot=obj.snapshot))  # fmt: skip
        return found

    @staticmethod
    def _path(obj: TrackedObject) -> list[list[int]]:
        """Where its feet went, ending where it was last seen."""
        last = obj.feet()
        return obj.path if obj.path and obj.path[-1] == last else [*obj.path, last]

    def _about(self, obj: TrackedObject, now: float) -> dict[str, Any]:
        return {"object": obj.id, "zones": obj.in_zones(),
                "stationary": self._stationary(obj, now)}  # fmt: skip

    def _shown(self, obj: TrackedObject, now: float) -> Detection:
        seen = obj.seen_as if obj.seen_as is not None and obj.last_seen == now else None
        if seen is None:  # a stationary object not seen in this frame: where it stood
            return Detection(obj.label, obj.score, obj.box, self._about(obj, now), quiet=True)
        return Detection(obj.label, obj.score, obj.box, {**seen.extra, **self._about(obj, now)},
                         quiet=True, internal=seen.internal)  # fmt: skip


def crop(image: np.ndarray, box: Box, scale: float) -> bytes | None:
    """A JPEG of the box and a margin around it, from the picture the detectors read
    (``scale`` of the frame); None for an empty crop or a picture that is no 8-bit one."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        return None
    x, y, w, h = box
    margin = CROP_MARGIN * max(w, h)
    height, width = image.shape[:2]
    x0, y0 = max(0, int((x - margin) * scale)), max(0, int((y - margin) * scale))
    x1 = min(width, int((x + w + margin) * scale))
    y1 = min(height, int((y + h + margin) * scale))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    piece = image[y0:y1, x0:x1]
    side = max(piece.shape[:2])
    if side > CROP_SIDE:
        factor = CROP_SIDE / side
        size = (max(1, round(piece.shape[1] * factor)), max(1, round(piece.shape[0] * factor)))
        piece = cv2.resize(piece, size, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", piece, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return jpeg.tobytes() if ok else None
