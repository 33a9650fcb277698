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

import cv2
import numpy as np

from declared.blocks import setting
from detectors.base import Box, Detection, Detector, FrameContext, Params, register
from detectors.models import Model

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT = 64
# The centre of the face at these fractions of its side, for ``views`` beyond 2.
ZOOMS = (1.0, 0.92, 0.85)


class EmotionParams(Params):
    padding: float = setting(
        0.1, "added around the square face box, as a fraction of its side", 0.0, 1.0
    )
    min_score: float = setting(
        0.0, "report a face only when its top emotion is this likely", 0.0, 1.0
    )
    views: int = setting(
        2,  # chosen on half the labelled faces, checked on the rest: docs/accuracy.md
        "1: the face as cut; 2: and mirrored; 6: at three zooms, each mirrored "
        "(the mean of the views: more accurate, a model run each)",
        1,
        6,
    )


def face_boxes(context: FrameContext) -> list[Detection]:
    """One detection per face: meshes when ``landmarks`` ran, else ``face`` boxes."""
    meshes = context.carrying("mesh")
    return meshes if meshes else context.labelled("face")


def square_crop(gray: np.ndarray, box: Box, padding: float) -> np.ndarray | None:
    """The square around a face box, padded, as cut from the picture (not resized)."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * padding)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(gray.shape[1], cx + side / 2)), int(min(gray.shape[0], cy + side / 2))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return gray[y0:y1, x0:x1]


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
        """Each emotion's probability for one grey face (any size): the mean over the
        views (test-time augmentation: an expression has no side and no exact
        framing, the model's errors partly do)."""
        views = []
        for zoom in ZOOMS[: max(1, self.params.views // 2)]:
            height, width = face.shape[:2]
            cut_h, cut_w = max(1, round(height * zoom)), max(1, round(width * zoom))
            top, left = (height - cut_h) // 2, (width - cut_w) // 2
            view = cv2.resize(face[top : top + cut_h, left : left + cut_w], (INPUT, INPUT),
                              interpolation=cv2.INTER_AREA)  # fmt: skip
            views.append(view)
            if self.params.views > 1:
                views.append(view[:, ::-1])
        return np.mean([self._probabilities(view) for view in views], axis=0)

    def _probabilities(self, face: np.ndarray) -> np.ndarray:
        tensor = (face.astype(np.float32) / 255.0 - 0.5) * 2.0
        (probabilities,) = self.model(np.ascontiguousarray(tensor[np.newaxis, :, :, np.newaxis]))
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
