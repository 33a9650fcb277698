"""Moving regions by background subtraction (MOG2) and contours."""

from __future__ import annotations

import cv2
import numpy as np

from declared.blocks import setting
from detectors.base import Detection, Detector, FrameContext, Params, register, scaled
from detectors.scene_rules import mask_image


class MotionParams(Params):
    scale: float = setting(0.25, "work on a frame scaled by this factor (speed)", 0.1, 1.0)
    min_area: float = setting(
        0.002, "smallest region reported, as a fraction of the frame", 0.0, 1.0
    )
    sensitivity: float = setting(
        25.0, "MOG2 variance threshold; lower finds fainter motion", 1.0, 500.0
    )
    history: int = setting(200, "frames the background model remembers", 2, 10_000)


@register
class MotionDetector(Detector):
    name = "motion"
    labels = ("motion",)
    description = "moving regions (boxes) and the fraction of the frame in motion"
    Params = MotionParams
    stateful = True

    def __init__(self, params: MotionParams) -> None:
        super().__init__(params)
        self.subtractor = cv2.createBackgroundSubtractorMOG2(
            history=params.history, varThreshold=params.sensitivity, detectShadows=False
        )
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.frames_seen = 0
        self.mask: np.ndarray | None = None
        self.mask_key: tuple | None = None

    def reads_at(self) -> float:
        return self.params.scale

    def _ignored(self, context: FrameContext, image: np.ndarray, small: np.ndarray) -> np.ndarray:
        """0 where the camera's motion mask says motion does not count (made once a size)."""
        key = (small.shape, context.rules.motion_mask)
        if self.mask is None or self.mask_key != key:
            height, width = (round(side / context.scale) for side in image.shape[:2])
            picture = (small.shape[1], small.shape[0])
            self.mask = mask_image(context.rules.motion_mask, (width, height), picture)
            self.mask_key = key
        return self.mask

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        scale = self.params.scale  # of the frame; the picture may come at context.scale
        small = scaled(image, min(1.0, scale / context.scale))
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        mask = self.subtractor.apply(gray)
        if context.rules.motion_mask:
            mask = cv2.bitwise_and(mask, self._ignored(context, image, small))
        self.frames_seen += 1
        if self.frames_seen == 1:
            return []  # the first frame only seeds the background: all of it looks "new"
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.kernel)
        mask = cv2.dilate(mask, self.kernel, iterations=2)
        fraction = float(np.count_nonzero(mask)) / mask.size
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_pixels = self.params.min_area * mask.size
        detections = []
        for contour in contours:
            area = cv2.contourArea(contour)
            if area < max(min_pixels, 1.0):
                continue
            x, y, w, h = cv2.boundingRect(contour)
            box = (round(x / scale), round(y / scale), round(w / scale), round(h / scale))
            detections.append(
                Detection(
                    "motion",
                    score=min(1.0, area / (w * h)),
                    box=box,
                    extra={"fraction": round(fraction, 4)},
                )
            )
        return detections
