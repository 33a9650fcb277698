"""Falls, from a skeleton when ``pose`` ran before, else from the shape of a box.

**From a skeleton** (``pose`` earlier in the camera's list), per tracked person.
A fall is a quick descent from upright to the floor, and not getting up:

1. While the person is *upright* (torso, hips to shoulders, within
   ``upright_deg`` of vertical: standing or sitting), the rule keeps their
   reference: the head's highest point, the hips' and the body's height
   (the box's) over the last ``window_s``. It is frozen while they are down.
2. The **drop** is how far the head (the highest visible face point, else the
   shoulders) is below that reference, in body heights; the hips' drop likewise.
   The head is what falls furthest whichever way a person falls: sideways the
   torso turns, towards or away from the camera it does not, and the skeleton
   of a person on the floor is often wrong or lost, while the head's height
   still says where they are.
3. A **candidate**: the drop reaches ``down_drop`` within ``max_descent_s`` of
   the last moment the person stood or sat high (drop below ``high_drop``). A
   fall is quick; lying down on purpose passes through kneeling or sitting and
   takes longer.
4. A **fall** is reported when the person stays down (drop above ``stay_drop``)
   for ``confirm_s`` after the candidate, and the hips dropped at least
   ``hip_drop`` on the way (bending over keeps the hips up; a crouch comes back
   up within a second). A person lost from view while down counts as staying
   down (the skeleton of a person on the floor is often lost) for up to
   ``lost_s``. One ``fall`` event, then ``person_down`` every frame while they
   stay down; they can fall again once upright.
5. **Down on purpose is not a fall.** A fall lands: the head gets near where
   it comes to rest (``settle_share`` of its deepest drop) within about a
   second of leaving its height. Someone getting down on purpose (onto the
   knees, onto the hands, then lying) keeps going down for longer. A candidate
   whose head took more than ``max_fall_s`` is no fall; if the person stays
   down ``down_s`` they are ``person_down`` (every frame, as after a fall), a
   label an operator may alarm on apart from ``fall``.

**From boxes** (no ``pose``; for cameras without the models):

1. Boxes come from an earlier detector: ``person`` boxes when ``people`` ran,
   otherwise ``motion`` boxes larger than ``min_area`` of the frame.
2. Each box is tracked across frames (nearest box, relative to its size).
3. A box is *upright* when height/width >= ``upright_ratio`` and *lying* when
   width/height >= ``lying_ratio``.
4. A track falls when it is lying, was upright within the last ``window_s``
   seconds, its centre has dropped by at least ``drop`` of its upright height
   since, and it is still lying ``box_confirm_s`` seconds later.

The box rule catches the common case (someone collapses in view of a side-on
camera) and misses falls towards the camera, where the box does not change
shape. How the skeleton rule's defaults were chosen, and what it catches on
real footage: ``docs/accuracy.md`` (``rabbitcam eval``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from declared.blocks import setting
from detectors.base import Box, Detection, Detector, FrameContext, Params, register
from detectors.identities import Identities


class FallParams(Params):
    upright_ratio: float = setting(1.3, "boxes: height/width at or above which a box is upright",
                                 1.0, 5.0)  # fmt: skip
    lying_ratio: float = setting(
        1.3, "boxes: width/height at or above which a box is lying", 1.0, 5.0
    )
    window_s: float = setting(2.0, "how far back the upright reference reaches", 0.2, 30.0)
    drop: float = setting(
        0.15, "boxes: centre drop needed, as a fraction of the upright height", 0.0, 2.0
    )
    confirm_s: float = setting(
        1.0, "skeleton: how long the person must stay down before a fall is reported", 0.0, 30.0
    )
    box_confirm_s: float = setting(
        0.5, "boxes: how long a box must stay lying before a fall is reported", 0.0, 30.0
    )
    min_area: float = setting(
        0.01, "smallest motion box used, as a fraction of the frame", 0.0, 1.0
    )
    upright_deg: float = setting(
        35.0, "skeleton: torso closer to vertical than this is upright", 0.0, 90.0
    )
    high_drop: float = setting(
        0.15, "skeleton: head drop (body heights) below which the person is still high", 0.0, 1.0
    )
    down_drop: float = setting(
        0.55, "skeleton: head drop (body heights) that makes a fall candidate", 0.1, 2.0
    )
    stay_drop: float = setting(
        0.4, "skeleton: head drop the person must stay below while confirming", 0.0, 2.0
    )
    max_descent_s: float = setting(
        1.5, "skeleton: from high to down_drop within this: a fall is quick", 0.1, 10.0
    )
    hip_drop: float = setting(0.2, "skeleton: the hips' drop (body heights) a fall needs", 0.0, 2.0)
    lost_s: float = setting(
        3.0, "skeleton: a person lost while down counts as down this long", 0.0, 30.0
    )
    min_visibility: float = setting(
        0.5, "skeleton: keypoints at least this visible are used", 0.0, 1.0
    )
    max_fall_s: float = setting(
        1.2, "skeleton: from high to nearly where the head comes to rest within this: "
        "a fall; slower is getting down on purpose", 0.1, 10.0,
    )  # fmt: skip
    settle_share: float = setting(
        0.7, "skeleton: 'nearly where the head comes to rest': this share of its deepest drop",
        0.1, 1.0,
    )  # fmt: skip
    down_s: float = setting(
        10.0, "skeleton: a person who got down on purpose is 'person_down' after this long",
        1.0, 3600.0,
    )  # fmt: skip


@dataclass
class BoxShape:
    """One box in one frame, as the box rule sees it."""

    at: float
    upright: bool
    lying: bool
    centre_y: float
    height: float


SHOULDERS, HIPS = (11, 12), (23, 24)


def torso(keypoints: np.ndarray, min_visibility: float) -> tuple[float, np.ndarray, float] | None:
    """(angle from vertical in degrees, hip centre, torso length) from a skeleton,
    or None when the shoulders or hips are not visible enough."""
    if keypoints[[*SHOULDERS, *HIPS], 2].min() < min_visibility:
        return None
    shoulders = keypoints[list(SHOULDERS), :2].mean(axis=0)
    hips = keypoints[list(HIPS), :2].mean(axis=0)
    dx, dy = shoulders - hips
    length = float(math.hypot(dx, dy))
    if length < 1.0:
        return None
    return math.degrees(math.atan2(abs(dx), -dy)), hips, length


FACE = tuple(range(11))  # nose, eyes, ears, mouth: the top of a standing person


def head_y(keypoints: np.ndarray, min_visibility: float) -> float | None:
    """The head's height in the frame: the highest visible face point, else the
    higher shoulder; None when neither is visible."""
    for points in (FACE, SHOULDERS):
        visible = keypoints[list(points), 2] >= min_visibility
        if visible.any():
            return float(keypoints[list(points), 1][visible].min())
    return None


@dataclass
class TrackState:
    history: deque = field(default_factory=lambda: deque(maxlen=256))
    lying_since: float | None = None
    fall_candidate: bool = False
    fallen: bool = False


@dataclass
class Reference:
    """A person while last upright: where the head and hips were, how tall they were."""

    head: float
    hips: float
    size: float


@dataclass
class Descent:
    """The skeleton rule's view of one tracked person."""

    upright: deque = field(default_factory=lambda: deque(maxlen=512))  # (at, head, hips, size)
    reference: Reference | None = None
    high_at: float | None = None  # the last moment the head was high
    candidate_at: float | None = None
    hips_dropped: float = 0.0  # the most the hips dropped since the candidate began
    fallen: bool = False
    deliberate: bool = False  # down, but got there too slowly for a fall
    path: deque = field(default_factory=lambda: deque(maxlen=512))  # (at, drop) since high
    seen_at: float = 0.0
    box: Box = (0, 0, 0, 0)
    drop: float = 0.0

    def observe(self, at: float, head: float, hips: float, size: float, upright: bool,
                window_s: float) -> tuple[float, float] | None:  # fmt: skip
        """(head drop, hip drop) in body heights, or None before any reference."""
        if upright:
            self.upright.append((at, head, hips, size))
        while self.upright and at - self.upright[0][0] > window_s:
            self.upright.popleft()
        if self.upright and self.candidate_at is None and not self.fallen:
            self.reference = Reference(
                head=min(u[1] for u in self.upright),
                hips=min(u[2] for u in self.upright),
                size=max(u[3] for u in self.upright),
            )
        if self.reference is None:
            return None
        reference = self.reference
        return (head - reference.head) / reference.size, (hips - reference.hips) / reference.size


@register
class FallDetector(Detector):
    name = "fall"
    labels = ("fall", "person_down")
    description = (
        "a 'fall' event when a tracked person goes from upright to down and stays down "
        "(skeleton from pose, else box shape)"
    )
    Params = FallParams
    stateful = True
    needs_one_of = ("pose", "people", "motion")

    def __init__(self, params: FallParams) -> None:
        super().__init__(params)
        self.tracker = Identities(max(1.0, params.window_s, params.lost_s), max_jump=1.2)
        self.states: dict[int, TrackState] = {}  # the box rule's tracks
        self.descents: dict[int, Descent] = {}  # the skeleton rule's
        # Set to a list, it gets what the skeleton rule saw each frame (``rabbitcam eval``).
        self.trace: list[dict] | None = None

    def _boxed(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        people = context.labelled("person")
        if people:
            return people
        frame_area = image.shape[0] * image.shape[1]
        return [
            d for d in context.labelled("motion")
            if d.box is not None and d.box[2] * d.box[3] >= self.params.min_area * frame_area
        ]  # fmt: skip

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        if "pose" in context.ran:
            return self._from_skeletons(context)
        now = context.captured_at
        found = []
        for track_id, box in self.tracker.of(self._boxed(image, context), now):
            state = self.states.setdefault(track_id, TrackState())
            _, y, w, h = box
            pose = BoxShape(
                now,
                upright=h >= self.params.upright_ratio * w,
                lying=w >= self.params.lying_ratio * h,
                centre_y=y + h / 2,
                height=h,
            )
            state.history.append(pose)
            found.extend(self._judge(track_id, box, state, pose))
        keep_s = self.tracker.max_missing_s  # a person not seen this long is forgotten
        self.states = {tid: s for tid, s in self.states.items()
                       if now - s.history[-1].at <= keep_s}  # fmt: skip
        return found

    def _from_skeletons(self, context: FrameContext) -> list[Detection]:
        params = self.params
        now = context.captured_at
        people = []
        for person in context.carrying("keypoints"):
            keypoints = person.internal["keypoints"]
            measured = torso(keypoints, params.min_visibility)
            head = head_y(keypoints, params.min_visibility)
            if measured is not None and head is not None and person.box is not None:
                people.append((person, measured, head))
        found = []
        tracked = self.tracker.of([person for person, _, _ in people], now)
        for (track_id, box), (_, (angle, hips, _length), head) in zip(tracked, people, strict=True):
            descent = self.descents.setdefault(track_id, Descent())
            descent.seen_at, descent.box = now, box
            drops = descent.observe(now, head, float(hips[1]), float(box[3]),
                                    angle <= params.upright_deg, params.window_s)  # fmt: skip
            if drops is not None:
                descent.drop = drops[0]
                found.extend(self._follow(track_id, descent, now, *drops, angle))
        for track_id, descent in self.descents.items():
            if descent.seen_at < now:  # not seen in this frame: lost while down?
                found.extend(self._follow_lost(track_id, descent, now))
        self.descents = {
            tid: d for tid, d in self.descents.items() if now - d.seen_at <= params.lost_s
        }
        return found

    def _follow(self, track_id: int, descent: Descent, now: float, drop: float,
                hips: float, angle: float) -> list[Detection]:  # fmt: skip
        params = self.params
        if self.trace is not None:
            self.trace.append({"at": round(now, 3), "track": track_id, "drop": round(drop, 3),
                               "hips": round(hips, 3), "angle": round(angle, 1),
                               "candidate": descent.candidate_at is not None,
                               "fallen": descent.fallen})  # fmt: skip
        if drop < params.high_drop:
            descent.high_at, descent.candidate_at = now, None
            descent.fallen = descent.deliberate = False
            descent.path.clear()
            return []
        descent.path.append((now, drop))
        if descent.fallen:
            return [self._down(track_id, descent, now)]
        if descent.candidate_at is None:
            quick = descent.high_at is not None and now - descent.high_at <= params.max_descent_s
            if drop >= params.down_drop and quick:
                descent.candidate_at, descent.hips_dropped = now, hips
            return []
        descent.hips_dropped = max(descent.hips_dropped, hips)
        if drop < params.stay_drop:  # back up: a crouch, not a fall
            descent.candidate_at, descent.deliberate = None, False
            return []
        return self._confirm(track_id, descent, now)

    def _follow_lost(self, track_id: int, descent: Descent, now: float) -> list[Detection]:
        """A person not seen in this frame stays where they were last seen."""
        if descent.fallen or (descent.deliberate and self._down_long(descent, now)):
            return [self._down(track_id, descent, now)]
        if descent.candidate_at is None:
            return []
        return self._confirm(track_id, descent, now)

    def _confirm(self, track_id: int, descent: Descent, now: float) -> list[Detection]:
        params = self.params
        assert descent.candidate_at is not None
        if descent.deliberate:
            return [self._down(track_id, descent, now)] if self._down_long(descent, now) else []
        if now - descent.candidate_at < params.confirm_s or descent.hips_dropped < params.hip_drop:
            return []
        if self._descent_s(descent) > params.max_fall_s:
            descent.deliberate = True  # down on purpose: ``person_down`` if they stay there
            return []
        descent.fallen = True
        extra = {"track": track_id, "drop": round(descent.drop, 2),
                 "down_s": round(now - descent.candidate_at, 2)}  # fmt: skip
        return [Detection("fall", 1.0, descent.box, extra, True)]

    def _descent_s(self, descent: Descent) -> float:
        """How long the head took from high to nearly where it came to rest: a fall
        lands within about a second, someone getting down on purpose stops on the way
        (on the knees, on all fours) and goes on down. The resting place is the
        deepest drop so far, each frame's the middle of three (one wrong skeleton
        makes no depth)."""
        drops = [drop for _at, drop in descent.path]
        if descent.high_at is None or len(drops) < 3:
            return 0.0
        deepest = max(sorted(drops[i : i + 3])[1] for i in range(len(drops) - 2))
        near = self.params.settle_share * deepest
        reached = next(at for at, drop in descent.path if drop >= near)
        return reached - descent.high_at

    def _down_long(self, descent: Descent, now: float) -> bool:
        assert descent.candidate_at is not None
        return now - descent.candidate_at >= self.params.down_s

    def _down(self, track_id: int, descent: Descent, now: float) -> Detection:
        assert descent.candidate_at is not None
        extra = {"track": track_id, "down_s": round(now - descent.candidate_at, 2)}
        return Detection("person_down", 1.0, descent.box, extra)

    def _fell(self, pose: BoxShape, upright: BoxShape) -> bool:
        """Did the box's centre drop far enough since ``upright``?"""
        return pose.centre_y - upright.centre_y >= self.params.drop * upright.height

    def _judge(self, track_id: int, box: Box, state: TrackState, pose: BoxShape) -> list[Detection]:
        params = self.params
        if pose.upright:
            state.lying_since, state.fall_candidate, state.fallen = None, False, False
            return []
        if not pose.lying:
            return []
        if state.lying_since is None:
            state.lying_since = pose.at
            recent_upright = [
                p for p in state.history if p.upright and pose.at - p.at <= params.window_s
            ]
            state.fall_candidate = any(self._fell(pose, p) for p in recent_upright)
        down_for = pose.at - state.lying_since
        extra = {"track": track_id, "down_s": round(down_for, 2)}
        if state.fall_candidate and not state.fallen and down_for >= params.box_confirm_s:
            state.fallen = True
            return [Detection("fall", 1.0, box, extra, True)]
        if state.fallen:
            return [Detection("person_down", 1.0, box, extra)]
        return []
