"""Facial emotion per face, from ``fer``'s quantised emotion model (7 classes).

The model takes a 64x64 grey picture of one face, values from -1 to 1, and
answers a probability for each of angry, disgust, fear, happy, sad, surprise
and neutral. As ``fer`` itself does, the face's box is made square and padded
(``padding``, a fraction of its side here, 10 px at fer's usual face size)
before it is cut out. Faces come from an earlier detector: ``faces`` boxes or
``landmarks`` meshes.

Each face gets a detection labelled with its most likely emotion (``happy``),
the probability as its score, and every class's probability in ``extra``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detectors.base import Box, Detection, Detector, FrameContext, param, register
from detectors.models import Model

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT = 64


@dataclass
class EmotionParams:
    padding: float = param(
        0.1, "added around the square face box, as a fraction of its side", 0.0, 1.0
    )
    min_score: float = param(
        0.0, "report a face only when its top emotion is this likely", 0.0, 1.0
    )


def face_boxes(context: FrameContext) -> list[Detection]:
    """One detection per face: meshes when ``landmarks`` ran, else ``face`` boxes."""
    meshes = context.carrying("mesh")
    return meshes if meshes else context.labelled("face")


def square_crop(gray: np.ndarray, box: Box, padding: float) -> np.ndarray | None:
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * padding)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(gray.shape[1], cx + side / 2)), int(min(gray.shape[0], cy + side / 2))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return cv2.resize(gray[y0:y1, x0:x1], (INPUT, INPUT), interpolation=cv2.INTER_AREA)


@register
class EmotionDetector(Detector):
    name = "emotion"
    labels = EMOTIONS
    description = "per face: the most likely of 7 emotions, every probability in extra (fer)"
    Params = EmotionParams
    needs_one_of = ("faces", "landmarks")
    models = ("emotion",)

    def __init__(self, params: EmotionParams) -> None:
        super().__init__(params)
        self.model = Model("emotion")

    def classify(self, face: np.ndarray) -> np.ndarray:
        tensor = (face.astype(np.float32) / 255.0 - 0.5) * 2.0
        (probabilities,) = self.model(tensor[np.newaxis, :, :, np.newaxis])
        return probabilities.reshape(-1)

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        faces = face_boxes(context)
        if not faces:
            return []
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = []
        for face in faces:
            crop = square_crop(gray, face.box, self.params.padding)
            if crop is None:
                continue
            probabilities = self.classify(crop)
            top = int(np.argmax(probabilities))
            score = float(probabilities[top])
            if score < self.params.min_score:
                continue
            extra = {
                name: round(float(p), 3) for name, p in zip(EMOTIONS, probabilities, strict=True)
            }
            found.append(Detection(EMOTIONS[top], score, face.box, extra))
        return found
