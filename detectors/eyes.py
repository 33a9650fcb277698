"""Eyes open or closed per face, and blinks (open → closed → open, quickly).

A face whose upper half shows no eye to the eye cascade counts as closed. A
blink is reported, as an event, when a face's eyes reopen within
``blink_max_ms`` of closing; longer closures are not blinks. Timing uses the
frames' capture times, so it holds however late the frames are processed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from declared.blocks import setting
from detectors.base import Detection, Detector, FrameContext, Params, register
from detectors.faces import load_cascade
from detectors.identities import Identities


class EyesParams(Params):
    min_neighbors: int = setting(5, "eye cascade strictness", 1, 50)
    blink_max_ms: int = setting(600, "longest closure that still counts as a blink", 50, 5000)
    blink_min_ms: int = setting(30, "shortest closure that counts (filters flicker)", 0, 1000)


@dataclass
class FaceEyes:
    state: str = "unknown"
    closed_since: float = 0.0
    seen_at: float = 0.0


@register
class EyesDetector(Detector):
    name = "eyes"
    labels = ("eyes_open", "eyes_closed", "blink")
    description = "per face: eyes open or closed; a 'blink' event on open → closed → open"
    Params = EyesParams
    stateful = True
    needs_one_of = ("faces",)

    def __init__(self, params: EyesParams) -> None:
        super().__init__(params)
        self.cascade = load_cascade("haarcascade_eye.xml")
        self.tracker = Identities(max_missing_s=1.0)
        self.faces: dict[int, FaceEyes] = {}

    def find_eyes(self, gray: np.ndarray, face: tuple[int, int, int, int]) -> list[tuple]:
        x, y, w, h = face
        # Eyes sit in the upper part of a face box; searching only there avoids
        # nostrils and mouth corners that the eye cascade likes too.
        top, bottom = y + h // 5, y + int(h * 0.6)
        region = gray[max(0, top) : max(0, bottom), max(0, x) : max(0, x + w)]
        if region.size == 0:
            return []
        side = max(6, w // 8)
        eyes = self.cascade.detectMultiScale(
            region,
            scaleFactor=1.1,
            minNeighbors=self.params.min_neighbors,
            minSize=(side, side),
            maxSize=(w // 2, w // 2),
        )
        return [(int(ex + x), int(ey + top), int(ew), int(eh)) for ex, ey, ew, eh in eyes]

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        faces = context.labelled("face")
        if not faces:
            self.tracker.update([], context.captured_at)
            self._forget(context.captured_at)
            return []
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        now = context.captured_at
        found = []
        for track_id, box in self.tracker.of(faces, now):
            eyes = self.find_eyes(gray, box)
            state = "open" if eyes else "closed"
            memory = self.faces.setdefault(track_id, FaceEyes())
            if state == "closed" and memory.state != "closed":
                memory.closed_since = now
            elif state == "open" and memory.state == "closed":
                closed_ms = (now - memory.closed_since) * 1000
                if self.params.blink_min_ms <= closed_ms <= self.params.blink_max_ms:
                    found.append(
                        Detection(
                            "blink",
                            1.0,
                            box,
                            {"face": track_id, "closed_ms": round(closed_ms)},
                            True,
                        )
                    )
            memory.state, memory.seen_at = state, now
            found.append(
                Detection(
                    f"eyes_{state}",
                    1.0,
                    box,
                    {"face": track_id, "eyes": [list(e) for e in eyes]},
                )
            )
        self._forget(now)
        return found

    def _forget(self, now: float) -> None:
        keep_s = self.tracker.max_missing_s
        self.faces = {tid: m for tid, m in self.faces.items() if now - m.seen_at <= keep_s}
