"""People, with OpenCV's shipped HOG + linear SVM pedestrian detector."""

from __future__ import annotations

import cv2
import numpy as np

from declared.blocks import setting
from detectors.base import Detection, Detector, FrameContext, Params, register, scaled
from detectors.faces import squash, unscale

# HOG looks through a 64x128 window: on a frame scaled by ``scale`` it finds people
# from about 128 / scale pixels tall. The defaults (scale 1.25, pyramid 1.1) were
# chosen by measurement: ``python -m benchmarks.detectors`` on OpenCV's pedestrian
# clip and its photograph of a player close up (the figures: docs/benchmarks.md,
# "people (HOG)").


# The share of a HOG window's width left and right of the person, and of its height
# above and below them (16 of 128 px).
WINDOW_SIDE_MARGIN = 0.25
WINDOW_END_MARGIN = 0.125


class PeopleParams(Params):
    scale: float = setting(
        1.25,
        "work on a frame scaled by this factor; finds people from about 128/scale px tall "
        "(0.5: 256 px, 1.0: 128 px, 1.25: 102 px, 2.0: 64 px); larger is slower",
        0.2,
        2.0,
    )
    min_score: float = setting(0.3, "lowest score reported (0..1)", 0.0, 1.0)
    stride: int = setting(8, "window stride in pixels: larger is faster, coarser", 4, 32)
    pyramid: float = setting(
        1.1, "scale step between pyramid levels: larger is faster, misses sizes", 1.01, 1.5
    )


@register
class PeopleDetector(Detector):
    name = "people"
    labels = ("person",)
    description = "person boxes (HOG pedestrian detector; people from about 100 px tall by default)"
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
            Detection("person", round(scores[i], 4), person_in_window(unscale(boxes[i], scale)))
            for i in np.ravel(keep)
        ]


def person_in_window(window: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The person inside a HOG detection window. The people detector was trained on
    64x128 windows holding a person about 96 px tall and half as wide, centred: the
    window's margins are not the person, and a zone must see where the feet are."""
    x, y, w, h = window
    side, end = w * WINDOW_SIDE_MARGIN, h * WINDOW_END_MARGIN
    return round(x + side), round(y + end), round(w - 2 * side), round(h - 2 * end)
