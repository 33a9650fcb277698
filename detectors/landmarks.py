"""Face mesh: 468 points per face, from MediaPipe's face landmark model.

Each face is found first: by an earlier detector's ``face`` boxes (``faces``,
Haar), or else by MediaPipe's short-range face detector (BlazeFace, faces
within about two metres). As in MediaPipe's own graph, the face's region is
turned so that the eyes are level (when the detector gives eye keypoints),
enlarged 1.5 times and made square; that crop goes to the landmark model at
192x192, whose points are mapped back to frame pixels.

Later detectors of the frame (``headpose``, ``blink``, ``emotion``) read the
full-precision mesh from the detection (``internal["mesh"]``: 468 x, y, z in
frame pixels); the wire carries it rounded to whole pixels in
``extra.points`` (``send_points``), and the face's box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import model_validator

from declared.blocks import setting
from declared.problems import refuse
from detectors.base import Detection, Detector, FrameContext, Params, register
from detectors.model_crops import (
    Crop,
    Region,
    bounding_box,
    decode_ssd,
    sigmoid,
    ssd_anchors,
    weighted_nms,
)
from detectors.models import Model

FACE_INPUT = 128
MESH_INPUT = 192
# BlazeFace short range: anchors of strides 8, 16, 16, 16 on 128x128 (896 in all).
FACE_ANCHORS = ssd_anchors(FACE_INPUT, [8, 16, 16, 16])
LEFT_EYE_IN_PICTURE, RIGHT_EYE_IN_PICTURE = 0, 1  # BlazeFace's first two keypoints


class LandmarksParams(Params):
    source: str = setting(
        "auto", "where faces come from: auto (earlier face boxes, else the model), faces, model"
    )
    min_score: float = setting(0.5, "face detector's minimum score", 0.05, 1.0)
    min_presence: float = setting(0.5, "landmark model's minimum face presence", 0.05, 1.0)
    max_faces: int = setting(4, "at most this many faces per frame get a mesh", 1, 32)
    send_points: bool = setting(True, "send the 468 points (whole pixels) in extra.points")

    @model_validator(mode="after")
    def _known_source(self) -> LandmarksParams:
        if self.source not in ("auto", "faces", "model"):
            raise refuse(f"must be auto, faces or model, got {self.source!r}", "source")
        return self


@dataclass
class FaceSeed:
    """Where to look for a face: a box, and (from BlazeFace) the line between the eyes."""

    box: tuple[float, float, float, float]  # x, y, w, h
    score: float
    eyes: np.ndarray | None = None  # 2x2: the eye on the picture's left, then the right


def face_seeds_from_model(model: Model, image: np.ndarray, min_score: float) -> list[FaceSeed]:
    """Faces found by BlazeFace on the whole (letterboxed) frame."""
    crop = Crop.cut(image, Region.whole(image.shape[1], image.shape[0]), FACE_INPUT)
    boxes, scores = model(crop.tensor(-1.0, 1.0))
    seeds = []
    for found in weighted_nms(decode_ssd(boxes, scores, FACE_ANCHORS, FACE_INPUT, min_score)):
        (x0, y0), (x1, y1) = crop.to_frame_points(found.box.reshape(2, 2))
        keypoints = crop.to_frame_points(found.keypoints)
        seeds.append(FaceSeed((x0, y0, x1 - x0, y1 - y0), found.score, keypoints[:2]))
    return seeds


def mesh_region(seed: FaceSeed) -> Region:
    x, y, w, h = seed.box
    angle = 0.0
    if seed.eyes is not None:
        angle = Region.rotation(seed.eyes[LEFT_EYE_IN_PICTURE], seed.eyes[RIGHT_EYE_IN_PICTURE], 0)
    return Region(x + w / 2, y + h / 2, w, h, angle).enlarged(1.5)


@register
class LandmarksDetector(Detector):
    name = "landmarks"
    labels = ("face_mesh",)
    description = "face mesh: 468 points per face (MediaPipe face landmarks), label 'face_mesh'"
    Params = LandmarksParams
    models = ("face_detection_short_range", "face_landmark")

    def __init__(self, params: LandmarksParams) -> None:
        super().__init__(params)
        self.finder = Model("face_detection_short_range") if params.source != "faces" else None
        self.mesher = Model("face_landmark")

    def _seeds(self, image: np.ndarray, context: FrameContext) -> list[FaceSeed]:
        faces = context.labelled("face")
        use_boxes = self.params.source == "faces" or (
            self.params.source == "auto" and "faces" in context.ran
        )
        if use_boxes:
            return [FaceSeed(tuple(map(float, f.box)), f.score) for f in faces]
        return face_seeds_from_model(self.finder, image, self.params.min_score)

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        seeds = sorted(self._seeds(image, context), key=lambda s: s.box[2] * s.box[3])
        found = []
        for seed in seeds[::-1][: self.params.max_faces]:
            crop = Crop.cut(image, mesh_region(seed), MESH_INPUT)
            raw, flag = self.mesher(crop.tensor(0.0, 1.0))
            presence = float(sigmoid(flag.ravel()[0]))
            if presence < self.params.min_presence:
                continue
            points = raw.reshape(-1, 3)
            mesh = np.empty_like(points)
            mesh[:, :2] = crop.to_frame_points(points[:, :2])
            mesh[:, 2] = points[:, 2] * crop.scale  # depth, in the same frame pixels
            extra = {}
            if self.params.send_points:
                extra["points"] = np.rint(mesh[:, :2]).astype(int).tolist()
            box = bounding_box(mesh[:, :2], image.shape[1], image.shape[0])
            found.append(Detection("face_mesh", presence, box, extra, internal={"mesh": mesh}))
        return found
