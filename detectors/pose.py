"""Body pose: 33 keypoints per person with their visibility, from MediaPipe's pose models.

Two models, as in MediaPipe's own graph: the pose detector (224x224, the whole
frame letterboxed) finds each person by a face box and two keypoints, the
centre of the hips and a point whose distance from it gives the body's size
and whose direction its rotation; the landmark model (256x256) then reads 33
keypoints from a square crop around the body, turned upright (hips to that
point made vertical), enlarged 1.25 times. A lying person is turned upright
for the landmark model too, which is what lets ``fall`` see the fall.

Each person is a ``person`` detection: a box around the visible keypoints,
``extra.keypoints`` (33 of x, y in frame pixels and visibility 0..1, in
MediaPipe's order: 0 nose … 11/12 shoulders, 23/24 hips, 27/28 ankles) and
the skeleton's visible bones in ``extra.lines``, drawn on the frame.

Like MediaPipe, it follows people rather than looking for them afresh in
every frame: a person's keypoints give the region where they will be in the
next frame (two auxiliary keypoints, placed like the detector's), and the
detector runs only when nobody is followed, or every ``redetect_s`` seconds
to find newcomers. That halves the cost per frame, and keeps a person who
has fallen, whom the detector finds less readily lying down than standing.
It needs the camera's frames in order (stateful: an ordered camera).

People far from the camera (under about 120 px tall in a 640x480 frame) are
too small for the detector's 224x224 view: for distant CCTV views ``people``
(HOG) finds more; pose is for people near the camera.
"""

from __future__ import annotations

import math

import numpy as np

from declared.blocks import setting
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

DETECT_INPUT = 224
LANDMARK_INPUT = 256
ANCHORS = ssd_anchors(DETECT_INPUT, [8, 16, 32, 32, 32])
HIP_CENTRE, BODY_POINT = 0, 1  # the detector's keypoints used for the body's region
KEYPOINTS = 33
# MediaPipe's skeleton: pairs of keypoints joined by a bone.
BONES = (
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24),
    (23, 25), (25, 27), (24, 26), (26, 28), (27, 29), (29, 31), (27, 31), (28, 30),
    (30, 32), (28, 32), (15, 17), (15, 19), (17, 19), (16, 18), (16, 20), (18, 20),
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
)  # fmt: skip
# After the 33 keypoints: the body's centre and a point giving its size and rotation,
# placed as the detector places its own two, for following the body to the next frame.
AUXILIARY = [33, 34]
FOLLOW_GAP_S = 1.0  # frames further apart than this are not followed from one to the next


class PoseParams(Params):
    min_score: float = setting(0.5, "pose detector's minimum score", 0.05, 1.0)
    min_presence: float = setting(0.5, "landmark model's minimum pose presence", 0.05, 1.0)
    min_visibility: float = setting(
        0.5, "keypoints less visible than this are not drawn or boxed", 0.0, 1.0
    )
    max_people: int = setting(2, "at most this many people per frame get keypoints", 1, 16)
    redetect_s: float = setting(
        1.0, "while following people, look for newcomers this often", 0.0, 60.0
    )


def body_region(hip_centre: np.ndarray, body_point: np.ndarray) -> Region:
    """The square around a body, turned so that hips → body point is vertical."""
    size = 2.0 * math.dist(hip_centre, body_point)
    angle = Region.rotation(hip_centre, body_point, 90)
    return Region(float(hip_centre[0]), float(hip_centre[1]), size, size, angle).enlarged(1.25)


@register
class PoseDetector(Detector):
    name = "pose"
    labels = ("person",)
    description = "33 body keypoints per person with visibility, skeleton drawn; 'person' boxes"
    Params = PoseParams
    stateful = True  # follows people from one frame to the next
    models = ("pose_detection", "pose_landmark_full")

    def __init__(self, params: PoseParams) -> None:
        super().__init__(params)
        self.detector = Model("pose_detection")
        self.landmarker = Model("pose_landmark_full")
        self.followed: list[Region] = []  # where the people of the last frame will be
        self.followed_at = float("-inf")
        self.detected_at = float("-inf")

    def regions(self, image: np.ndarray, now: float) -> list[Region]:
        """Where to read keypoints in this frame: followed people, and the detector's
        finds when nobody is followed or it is time to look for newcomers."""
        if now - self.followed_at > FOLLOW_GAP_S or now < self.followed_at:
            self.followed = []  # a gap, or frames from the past: start afresh
        regions = list(self.followed)
        if not regions or now - self.detected_at >= self.params.redetect_s:
            self.detected_at = now
            for _score, region in self.people(image):
                if not any(_near(region, known) for known in regions):
                    regions.append(region)
        return regions[: self.params.max_people]

    def people(self, image: np.ndarray) -> list[tuple[float, Region]]:
        """(score, body region) per person the detector finds, best first."""
        crop = Crop.cut(image, Region.whole(image.shape[1], image.shape[0]), DETECT_INPUT)
        boxes, scores = self.detector(crop.tensor(-1.0, 1.0))
        found = weighted_nms(
            decode_ssd(boxes, scores, ANCHORS, DETECT_INPUT, self.params.min_score)
        )
        regions = []
        for person in found[: self.params.max_people]:
            keypoints = crop.to_frame_points(person.keypoints)
            regions.append(
                (person.score, body_region(keypoints[HIP_CENTRE], keypoints[BODY_POINT]))
            )
        return regions

    def keypoints(self, image: np.ndarray, region: Region) -> tuple[float, np.ndarray, Region]:
        """(presence, 33x3 of x, y in frame pixels and visibility, the region to read
        in the next frame) for one body."""
        crop = Crop.cut(image, region, LANDMARK_INPUT)
        outputs = self.landmarker(crop.tensor(0.0, 1.0))
        raw, presence = outputs[0].reshape(-1, 5), float(outputs[1].ravel()[0])
        points = np.empty((KEYPOINTS, 3), dtype=np.float32)
        points[:, :2] = crop.to_frame_points(raw[:KEYPOINTS, :2])
        points[:, 2] = sigmoid(raw[:KEYPOINTS, 3])
        centre, body_point = crop.to_frame_points(raw[AUXILIARY, :2])
        return presence, points, body_region(centre, body_point)

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        found = []
        height, width = image.shape[:2]
        followed = []
        for region in self.regions(image, context.captured_at):
            presence, points, next_region = self.keypoints(image, region)
            if presence < self.params.min_presence:
                continue
            if any(_near(next_region, known) for known in followed):
                continue  # two regions on one person
            followed.append(next_region)
            visible = points[:, 2] >= self.params.min_visibility
            if visible.sum() < 4:
                continue
            box = bounding_box(points[visible, :2], width, height)
            lines = [
                [
                    *np.rint(points[a, :2]).astype(int).tolist(),
                    *np.rint(points[b, :2]).astype(int).tolist(),
                ]
                for a, b in BONES
                if visible[a] and visible[b]
            ]
            extra = {
                "keypoints": [
                    [round(float(x), 1), round(float(y), 1), round(float(v), 2)]
                    for x, y, v in points
                ],
                "lines": lines,
                "source": "pose",
            }
            found.append(Detection("person", presence, box, extra, internal={"keypoints": points}))
        self.followed, self.followed_at = followed, context.captured_at
        return found


def _near(a: Region, b: Region) -> bool:
    """Two regions on the same person: centres closer than a quarter of the smaller side."""
    return math.dist((a.cx, a.cy), (b.cx, b.cy)) < 0.25 * min(a.width, b.width)
