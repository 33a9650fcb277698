"""Falls: a tracked person (or moving) box goes from upright to lying and stays down.

The heuristic, documented because it is one:

1. Boxes come from an earlier detector: ``person`` boxes when ``people`` ran,
   otherwise ``motion`` boxes larger than ``min_area`` of the frame.
2. Each box is tracked across frames (nearest box, relative to its size).
3. A box is *upright* when height/width >= ``upright_ratio`` and *lying* when
   width/height >= ``lying_ratio``.
4. A track falls when it is lying, was upright within the last ``window_s``
   seconds, its centre has dropped by at least ``drop`` of its upright height
   since, and it is still lying ``confirm_s`` seconds later. Then one ``fall``
   event is reported; ``person_down`` is reported every frame while it stays
   down, and the track can fall again once it has been upright.

It catches the common case (someone collapses in view of a side-on camera) and
misses falls towards the camera, where the box does not change shape.
"""

from __future__ import annotations

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


@dataclass
class Pose:
    at: float
    upright: bool
    lying: bool
    centre_y: float
    height: float


@dataclass
class TrackState:
    history: deque = field(default_factory=lambda: deque(maxlen=256))
    lying_since: float | None = None
    fall_candidate: bool = False
    fallen: bool = False


@register
class FallDetector(Detector):
    name = "fall"
    description = "a 'fall' event when a tracked person goes from upright to lying and stays down"
    Params = FallParams
    stateful = True
    needs_one_of = ("people", "motion")

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
            state.fall_candidate = any(
                pose.centre_y - p.centre_y >= params.drop * p.height for p in recent_upright
            )
        down_for = pose.at - state.lying_since
        if state.fall_candidate and not state.fallen and down_for >= params.confirm_s:
            state.fallen = True
            return [
                Detection("fall", 1.0, box, {"track": track_id, "down_s": round(down_for, 2)}, True)
            ]
        if state.fallen:
            return [
                Detection(
                    "person_down", 1.0, box, {"track": track_id, "down_s": round(down_for, 2)}
                )
            ]
        return []
