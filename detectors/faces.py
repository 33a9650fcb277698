"""Faces, with OpenCV's shipped Haar cascades (frontal; profile optional)."""

from __future__ import annotations

import cv2
import numpy as np

from declared.blocks import setting
from detectors.base import Box, Detection, Detector, FrameContext, Params, register, scaled


def load_cascade(file_name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + file_name)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's cascade {file_name} is missing (opencv-python-headless<5?)")
    return cascade


def squash(weight: float) -> float:
    """A detector's unbounded confidence as a 0..1 score."""
    return float(1.0 - np.exp(-max(0.0, weight)))


def scaled_gray(image: np.ndarray, scale: float) -> np.ndarray:
    return cv2.equalizeHist(scaled(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), scale))


def unscale(box: np.ndarray | tuple, scale: float) -> Box:
    """A box found on a frame scaled by ``scale``, in full-frame pixels."""
    x, y, w, h = (round(float(v) / scale) for v in box)
    return x, y, w, h


class FacesParams(Params):
    scale: float = setting(
        0.5, "work on a frame scaled by this factor: 0.5 finds faces from ~40 px", 0.2, 1.0
    )
    min_size: int = setting(20, "smallest face, in pixels of the scaled frame", 12, 1000)
    step: float = setting(
        1.2, "size step between cascade scales: smaller is slower, finer", 1.05, 2.0
    )
    min_neighbors: int = setting(5, "cascade strictness: more means fewer false faces", 1, 50)
    profile: bool = setting(False, "also look for faces in profile (slower)")


@register
class FacesDetector(Detector):
    name = "faces"
    labels = ("face",)
    description = "face boxes (Haar cascade; frontal, optionally profile)"
    Params = FacesParams

    def __init__(self, params: FacesParams) -> None:
        super().__init__(params)
        self.frontal = load_cascade("haarcascade_frontalface_default.xml")
        self.side = load_cascade("haarcascade_profileface.xml") if params.profile else None

    def _find(
        self, cascade: cv2.CascadeClassifier, gray: np.ndarray
    ) -> list[tuple[np.ndarray, float]]:
        size = self.params.min_size
        boxes, _levels, weights = cascade.detectMultiScale3(
            gray,
            scaleFactor=self.params.step,
            minNeighbors=self.params.min_neighbors,
            minSize=(size, size),
            outputRejectLevels=True,
        )
        return [(box, float(weight)) for box, weight in zip(boxes, np.ravel(weights), strict=False)]

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        scale = self.params.scale
        gray = scaled_gray(image, scale)
        found = [
            Detection("face", squash(w / 2), unscale(b, scale), {"view": "frontal"})
            for b, w in self._find(self.frontal, gray)
        ]
        if self.side is not None:
            width = gray.shape[1]
            # The profile cascade knows one side; the mirrored frame shows it the other.
            for flipped, frame in ((False, gray), (True, cv2.flip(gray, 1))):
                for (x, y, w, h), weight in self._find(self.side, frame):
                    x = width - x - w if flipped else x
                    box = unscale((x, y, w, h), scale)
                    if not any(_overlaps(box, d.box) for d in found):
                        found.append(
                            Detection("face", squash(weight / 2), box, {"view": "profile"})
                        )
        return found


def _overlaps(a: Box, b: Box | None) -> bool:
    if b is None:
        return False
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = min(ax + aw, bx + bw) - max(ax, bx)
    height = min(ay + ah, by + bh) - max(ay, by)
    return width > 0 and height > 0 and width * height > 0.3 * min(aw * ah, bw * bh)
