"""People, with OpenCV's shipped HOG + linear SVM pedestrian detector."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detectors.base import Detection, Detector, FrameContext, param, register, scaled
from detectors.faces import squash, unscale


@dataclass
class PeopleParams:
    scale: float = param(0.5, "work on a frame scaled by this factor (HOG is slow)", 0.2, 1.0)
    min_score: float = param(0.3, "lowest score reported (0..1)", 0.0, 1.0)
    stride: int = param(8, "window stride in pixels: larger is faster, coarser", 4, 32)
    pyramid: float = param(1.05, "scale step between pyramid levels: larger is faster", 1.01, 1.5)


@register
class PeopleDetector(Detector):
    name = "people"
    description = "person boxes (HOG pedestrian detector, on a downscaled frame)"
    Params = PeopleParams

    def __init__(self, params: PeopleParams) -> None:
        super().__init__(params)
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        scale = self.params.scale
        small = scaled(image, scale)
        stride = (self.params.stride, self.params.stride)
        boxes, weights = self.hog.detectMultiScale(
            small, winStride=stride, padding=(8, 8), scale=self.params.pyramid
        )
        if len(boxes) == 0:
            return []
        scores = [squash(float(w)) for w in np.ravel(weights)]
        keep = cv2.dnn.NMSBoxes(
            [list(map(int, b)) for b in boxes], scores, self.params.min_score, 0.4
        )
        return [
            Detection("person", round(scores[i], 4), unscale(boxes[i], scale))
            for i in np.ravel(keep)
        ]
