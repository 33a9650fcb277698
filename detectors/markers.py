"""ArUco (and AprilTag) fiducial markers with their ids."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import model_validator

from declared.blocks import setting
from declared.problems import refuse
from detectors.base import Detection, Detector, FrameContext, Params, register

DICTIONARIES = sorted(
    name.removeprefix("DICT_") for name in dir(cv2.aruco) if name.startswith("DICT_")
)


class MarkersParams(Params):
    dictionary: str = setting("4X4_50", "marker family, e.g. 4X4_50, 6X6_250, APRILTAG_36h11")

    @model_validator(mode="after")
    def _known_dictionary(self) -> MarkersParams:
        if self.dictionary not in DICTIONARIES:
            raise refuse(
                f"unknown marker dictionary {self.dictionary!r} (e.g. 4X4_50, 5X5_100, 6X6_250)",
                "dictionary",
            )
        return self


@register
class MarkersDetector(Detector):
    name = "markers"
    labels = ("marker",)
    description = "ArUco markers with their ids (label 'marker', id in extra.id)"
    Params = MarkersParams

    def __init__(self, params: MarkersParams) -> None:
        super().__init__(params)
        dictionary = cv2.aruco.getPredefinedDictionary(
            getattr(cv2.aruco, f"DICT_{params.dictionary}")
        )
        self.detector = cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters())

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        corners, ids, _rejected = self.detector.detectMarkers(gray)
        if ids is None:
            return []
        found = []
        for quad, marker_id in zip(corners, np.ravel(ids), strict=True):
            x, y, w, h = cv2.boundingRect(quad.astype(np.int32))
            found.append(
                Detection(
                    "marker", 1.0, (x, y, w, h), {"id": int(marker_id), "text": f"#{marker_id}"}
                )
            )
        return found
