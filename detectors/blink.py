"""Blinks from the face mesh: the eye aspect ratio, judged against each face's own.

The eye aspect ratio (EAR) of an eye is the mean of its two vertical lid
distances over its width (Soukupová and Čech, 2016), from six points of the
mesh per eye; both eyes are averaged. Eyes differ from face to face, so the
threshold adapts: each tracked face keeps its own open-eye level (a slow
average of its EAR while open), and its eyes count as closed below
``closed_ratio`` of that level and as open again above ``open_ratio`` of it.
A closure that ends within ``blink_min_ms`` .. ``blink_max_ms`` is a blink:
one ``blink`` event with its duration and the face's blinks per minute;
``eyes_closed`` is reported for every frame the eyes stay shut.

Timing uses the frames' capture times. Stateful: the camera's frames must
come in order (an ordered camera). The Haar-cascade ``eyes`` detector is
still there for cameras without the models.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from declared.blocks import setting
from detectors.base import Detection, Detector, FrameContext, Params, register
from detectors.identities import Identities

# Six mesh points per eye: outer corner, two on the upper lid, inner corner, two on the lower.
EYES = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380))
LEARN_FRAMES = 5  # frames of open eyes before a face's level is trusted
PER_MINUTE_WINDOW_S = 60.0


def eye_aspect_ratio(mesh: np.ndarray) -> float:
    ratios = []
    for p1, p2, p3, p4, p5, p6 in EYES:
        points = mesh[:, :2]
        vertical = np.linalg.norm(points[p2] - points[p6]) + np.linalg.norm(points[p3] - points[p5])
        width = np.linalg.norm(points[p1] - points[p4])
        ratios.append(vertical / (2.0 * width) if width > 0 else 0.0)
    return float(np.mean(ratios))


class BlinkParams(Params):
    closed_ratio: float = setting(
        0.7, "eyes closed below this fraction of the face's open level", 0.1, 0.95
    )
    open_ratio: float = setting(0.8, "open again above this fraction of it", 0.2, 1.0)
    blink_min_ms: int = setting(40, "shortest closure that counts (filters flicker)", 0, 1000)
    blink_max_ms: int = setting(700, "longest closure that is still a blink", 50, 5000)
    adapt: float = setting(0.1, "how fast a face's open level follows it (per frame)", 0.01, 1.0)


@dataclass
class FaceEyes:
    open_level: float = 0.0
    seen_open: int = 0
    closed_since: float | None = None
    blinks: deque = field(default_factory=lambda: deque(maxlen=512))
    seen_at: float = 0.0


@register
class BlinkDetector(Detector):
    name = "blink"
    labels = ("blink", "eyes_closed")
    description = "blinks from the face mesh's eye aspect ratio, adaptive per face; 'blink' events"
    Params = BlinkParams
    stateful = True
    needs_one_of = ("landmarks",)

    def __init__(self, params: BlinkParams) -> None:
        super().__init__(params)
        self.tracker = Identities(max_missing_s=1.0, max_jump=0.5)
        self.faces: dict[int, FaceEyes] = {}

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        meshes = [m for m in context.carrying("mesh") if m.box is not None]
        now = context.captured_at
        found = []
        for (track, box), face in zip(self.tracker.of(meshes, now), meshes, strict=True):
            eyes = self.faces.setdefault(track, FaceEyes())
            eyes.seen_at = now
            found += self._judge(eyes, eye_aspect_ratio(face.internal["mesh"]), now, box)
        keep_s = self.tracker.max_missing_s
        self.faces = {t: e for t, e in self.faces.items() if now - e.seen_at <= keep_s}
        return found

    def _judge(self, eyes: FaceEyes, ear: float, now: float, box) -> list[Detection]:
        params = self.params
        if eyes.seen_open < LEARN_FRAMES:  # learning this face's open eyes
            eyes.open_level = max(eyes.open_level, ear) if eyes.seen_open else ear
            eyes.seen_open += 1
            return []
        if eyes.closed_since is None:
            if ear < params.closed_ratio * eyes.open_level:
                eyes.closed_since = now
                return [Detection("eyes_closed", 1.0, box, {"ear": round(ear, 3)})]
            eyes.open_level += params.adapt * (ear - eyes.open_level)
            return []
        if ear < params.open_ratio * eyes.open_level:
            return [Detection("eyes_closed", 1.0, box, {"ear": round(ear, 3)})]
        closed_ms = (now - eyes.closed_since) * 1000
        eyes.closed_since = None
        if not params.blink_min_ms <= closed_ms <= params.blink_max_ms:
            return []
        eyes.blinks.append(now)
        recent = [t for t in eyes.blinks if now - t <= PER_MINUTE_WINDOW_S]
        extra = {
            "duration_ms": round(closed_ms),
            "blinks_per_minute": len(recent),
            "ear": round(ear, 3),
            "open_level": round(eyes.open_level, 3),
            "text": f"{closed_ms:.0f} ms, {len(recent)}/min",
        }
        return [Detection("blink", 1.0, box, extra, event=True)]
