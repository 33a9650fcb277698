"""Falls, from a skeleton when ``pose`` ran before, else from the shape of a box.

**From a skeleton** (``pose`` earlier in the camera's list), per tracked person:

1. The torso is the line from the centre of the hips to the centre of the
   shoulders (keypoints 23/24 and 11/12, each at least ``min_visibility``).
   Its angle from vertical is 0 degrees standing or sitting, 90 lying.
2. The person is *upright* below ``upright_deg`` and *down* above ``down_deg``.
3. A fall: the person is down, was upright within the last ``window_s``
   seconds, and since then the hip centre has dropped by at least
   ``hip_drop`` torso lengths, at an average speed of at least ``min_speed`` torso lengths
   per second (a fall is quick; lying down on a bed is not). If the person is
   still down ``confirm_s`` later, one ``fall`` event is reported, with the
   torso angle and the drop's speed; ``person_down`` is then reported every
   frame while they stay down, and they can fall again once upright.

Sitting down lowers the hips but keeps the torso upright; walking and
bending keep the hips up: neither is a fall.

**From boxes** (no ``pose``; the heuristic of before, for cameras without the models):

1. Boxes come from an earlier detector: ``person`` boxes when ``people`` ran,
   otherwise ``motion`` boxes larger than ``min_area`` of the frame.
2. Each box is tracked across frames (nearest box, relative to its size).
3. A box is *upright* when height/width >= ``upright_ratio`` and *lying* when
   width/height >= ``lying_ratio``.
4. A track falls when it is lying, was upright within the last ``window_s``
   seconds, its centre has dropped by at least ``drop`` of its upright height
   since, and it is still lying ``confirm_s`` seconds later.

The box rule catches the common case (someone collapses in view of a side-on
camera) and misses falls towards the camera, where the box does not change
shape; the skeleton rule sees the torso turn whatever the box does.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from detectors.base import Box, Detection, Detector, FrameContext, param, register
from detectors.tracking import Tracker


@dataclass
class FallParams:
    upright_ratio: float = param(1.3, "height/width at or above which a box is upright", 1.0, 5.0)
    lying_ratio: float = param(1.3, "width/height at or above which a box is lying", 1.0, 5.0)
    window_s: float = param(2.0, "how recently the box must have been upright", 0.2, 30.0)
    drop: float = param(0.15, "centre drop needed, as a fraction of the upright height", 0.0, 2.0)
    confirm_s: float = param(
        0.5, "how long it must stay lying before a fall is reported", 0.0, 30.0
    )
    min_area: float = param(0.01, "smallest motion box used, as a fraction of the frame", 0.0, 1.0)
    upright_deg: float = param(
        30.0, "skeleton: torso closer to vertical than this is upright", 0.0, 90.0
    )
    down_deg: float = param(
        60.0, "skeleton: torso further from vertical than this is down", 0.0, 90.0
    )
    min_speed: float = param(
        0.8, "skeleton: the hips' drop, in torso lengths per second, at least", 0.0, 20.0
    )
    min_visibility: float = param(
        0.5, "skeleton: shoulders and hips at least this visible", 0.0, 1.0
    )
    hip_drop: float = param(0.5, "skeleton: the hips' drop needed, in torso lengths", 0.0, 5.0)


@dataclass
class Pose:
    """One person in one frame, as the rule sees it. ``centre_y`` is the hip centre
    (skeleton) or the box centre; ``height`` the torso length or the box height."""

    at: float
    upright: bool
    lying: bool
    centre_y: float
    height: float
    angle: float | None = None  # torso from vertical, degrees (skeleton only)


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


@dataclass
class TrackState:
    history: deque = field(default_factory=lambda: deque(maxlen=256))
    lying_since: float | None = None
    fall_candidate: bool = False
    fallen: bool = False


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
        self.tracker = Tracker(max_missing_s=max(1.0, params.window_s), max_jump=1.2)
        self.states: dict[int, TrackState] = {}

    def _boxes(self, image: np.ndarray, context: FrameContext) -> list[Box]:
        people = context.labelled("person")
        if people:
            return [d.box for d in people]
        frame_area = image.shape[0] * image.shape[1]
        return [
            d.box
            for d in context.labelled("motion")
            if d.box[2] * d.box[3] >= self.params.min_area * frame_area
        ]

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        if "pose" in context.ran:
            return self._from_skeletons(context)
        now = context.captured_at
        found = []
        for track_id, box in self.tracker.update(self._boxes(image, context), now):
            state = self.states.setdefault(track_id, TrackState())
            _, y, w, h = box
            pose = Pose(
                now,
                upright=h >= self.params.upright_ratio * w,
                lying=w >= self.params.lying_ratio * h,
                centre_y=y + h / 2,
                height=h,
            )
            state.history.append(pose)
            found.extend(self._judge(track_id, box, state, pose))
        self.states = {tid: s for tid, s in self.states.items() if tid in self.tracker.tracks}
        return found

    def _from_skeletons(self, context: FrameContext) -> list[Detection]:
        params = self.params
        now = context.captured_at
        people = []
        for person in context.carrying("keypoints"):
            measured = torso(person.internal["keypoints"], params.min_visibility)
            if measured is not None:
                people.append((person, measured))
        found = []
        tracked = self.tracker.update([person.box for person, _ in people], now)
        for (track_id, box), (_person, (angle, hips, length)) in zip(tracked, people, strict=True):
            state = self.states.setdefault(track_id, TrackState())
            pose = Pose(
                now,
                upright=angle <= params.upright_deg,
                lying=angle >= params.down_deg,
                centre_y=float(hips[1]),
                height=length,
                angle=angle,
            )
            state.history.append(pose)
            found.extend(self._judge(track_id, box, state, pose))
        self.states = {tid: s for tid, s in self.states.items() if tid in self.tracker.tracks}
        return found

    def _fell(self, pose: Pose, upright: Pose) -> bool:
        """Did the hips (or the box) drop far enough, fast enough, since ``upright``?"""
        dropped = pose.centre_y - upright.centre_y
        if pose.angle is None:  # the box rule: a drop, no speed test
            return dropped >= self.params.drop * upright.height
        if dropped < self.params.hip_drop * upright.height:
            return False
        speed = dropped / upright.height / max(pose.at - upright.at, 1e-3)
        return speed >= self.params.min_speed

    def _judge(self, track_id: int, box: Box, state: TrackState, pose: Pose) -> list[Detection]:
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
        if pose.angle is not None:
            extra["torso_deg"] = round(pose.angle, 1)
        if state.fall_candidate and not state.fallen and down_for >= params.confirm_s:
            state.fallen = True
            return [Detection("fall", 1.0, box, extra, True)]
        if state.fallen:
            return [Detection("person_down", 1.0, box, extra)]
        return []
