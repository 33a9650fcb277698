"""Smiling or not, per face: the expression signal OpenCV ships a model for."""

from __future__ import annotations

import cv2
import numpy as np

from declared.blocks import setting
from detectors.base import Detection, Detector, FrameContext, Params, register
from detectors.faces import load_cascade


class SmilesParams(Params):
    min_neighbors: int = setting(
        20, "smile cascade strictness (it is eager: keep this high)", 1, 100
    )


@register
class SmilesDetector(Detector):
    name = "smiles"
    labels = ("smiling", "not_smiling")
    description = "per face: 'smiling' or 'not_smiling' (Haar smile cascade on the lower face)"
    Params = SmilesParams
    needs_one_of = ("faces",)

    def __init__(self, params: SmilesParams) -> None:
        super().__init__(params)
        self.cascade = load_cascade("haarcascade_smile.xml")

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        faces = context.labelled("face")
        if not faces:
            return []
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        found = []
        for face in faces:
            x, y, w, h = face.box
            top = y + h // 2
            mouth = gray[max(0, top) : max(0, y + h), max(0, x) : max(0, x + w)]
            smiles = ()
            if mouth.size:
                smiles = self.cascade.detectMultiScale(
                    mouth,
                    scaleFactor=1.5,
                    minNeighbors=self.params.min_neighbors,
                    minSize=(max(8, w // 4), max(4, h // 10)),
                )
            extra = {}
            if len(smiles):
                sx, sy, sw, sh = max(smiles, key=lambda s: s[2] * s[3])
                extra["smile"] = [int(sx + x), int(sy + top), int(sw), int(sh)]
            label = "smiling" if len(smiles) else "not_smiling"
            found.append(Detection(label, 1.0, face.box, extra))
        return found
