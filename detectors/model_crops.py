"""The shared machinery of the model-backed detectors: crops in, geometry out.

MediaPipe's models take a square picture of a fixed size cut from the frame
(the whole frame letterboxed, or a rotated square around a face or a body) and
answer in that picture's pixels. ``Crop`` cuts one with a single affine warp
and maps the model's points back to frame pixels. The two SSD detectors
(faces, people) answer with boxes relative to fixed anchors, which
``ssd_anchors`` builds and ``decode_ssd`` turns into boxes and keypoints, with
MediaPipe's weighted non-maximum suppression (``weighted_nms``).

What follows MediaPipe's graph configs (``*.pbtxt`` in its source, the same
settings compiled into the ``*.binarypb`` files of its wheel): anchor layout
(SsdAnchorsCalculator), decoding (TensorsToDetectionsCalculator), the rotation
of a region (DetectionsToRectsCalculator: ``target - atan2(-(y1-y0), x1-x0)``)
and its enlargement (RectTransformationCalculator: scale, then square on the
long side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Region:
    """A rotated rectangle in frame pixels; ``angle`` in radians, clockwise on screen."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float = 0.0

    def enlarged(self, scale: float) -> Region:
        """Scaled about its centre and made square on its longer side."""
        side = max(self.width, self.height) * scale
        return Region(self.cx, self.cy, side, side, self.angle)

    @staticmethod
    def rotation(start: np.ndarray, end: np.ndarray, target_degrees: float) -> float:
        """The angle that turns the line start → end to ``target_degrees`` (MediaPipe's rule)."""
        angle = math.radians(target_degrees) - math.atan2(-(end[1] - start[1]), end[0] - start[0])
        return (angle + math.pi) % (2 * math.pi) - math.pi

    @staticmethod
    def whole(width: int, height: int) -> Region:
        """The whole frame, as a square around it: letterboxed, aspect kept."""
        side = float(max(width, height))
        return Region(width / 2, height / 2, side, side)


@dataclass
class Crop:
    """A square model input cut from a frame, and the way back to frame pixels."""

    pixels: np.ndarray  # size x size x 3, RGB, uint8
    to_frame: np.ndarray  # 2x3 affine: crop pixels -> frame pixels

    @classmethod
    def cut(cls, image_bgr: np.ndarray, region: Region, size: int) -> Crop:
        cos, sin = math.cos(region.angle), math.sin(region.angle)
        across = np.array([cos, sin]) * region.width / 2  # the region's x axis, half width
        down = np.array([-sin, cos]) * region.height / 2  # its y axis, half height
        centre = np.array([region.cx, region.cy])
        corners = np.float32(
            [centre - across - down, centre + across - down, centre - across + down]
        )
        target = np.float32([[0, 0], [size, 0], [0, size]])
        to_crop = cv2.getAffineTransform(corners, target)
        pixels = cv2.warpAffine(
            image_bgr, to_crop, (size, size), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
        )  # fmt: skip
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
        return cls(pixels, cv2.invertAffineTransform(to_crop))

    def tensor(self, low: float, high: float) -> np.ndarray:
        """The crop as a 1xHxWx3 float32 batch with values from ``low`` to ``high``."""
        scaled = self.pixels.astype(np.float32) * ((high - low) / 255.0) + low
        return scaled[np.newaxis]

    def to_frame_points(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) crop pixels -> (N, 2) frame pixels."""
        return points @ self.to_frame[:, :2].T + self.to_frame[:, 2]

    @property
    def scale(self) -> float:
        """Frame pixels per crop pixel."""
        return float(math.hypot(*self.to_frame[:, 0]))


def ssd_anchors(size: int, strides: list[int], per_layer: int = 2) -> np.ndarray:
    """Anchor centres (N, 2) in 0..1, in the order the SSD models emit their boxes.

    Consecutive layers of the same stride share one feature map, with
    ``per_layer`` anchors each (aspect ratio 1 plus the interpolated scale);
    anchors of a fixed size (all that MediaPipe's detectors use) are 1x1, so
    only the centres matter.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 1
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        cells = math.ceil(size / stride)
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * (per_layer * same)
        layer += same
    return np.array(centres, dtype=np.float32)


@dataclass
class SsdDetection:
    score: float
    box: np.ndarray  # xmin, ymin, xmax, ymax in crop pixels
    keypoints: np.ndarray  # (K, 2) in crop pixels


def decode_ssd(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    size: int,
    min_score: float,
) -> list[SsdDetection]:
    """Boxes and keypoints from an SSD head: offsets in input pixels from each anchor's
    centre (x, y order), scores as logits clipped to ±100 (MediaPipe's settings)."""
    scores = sigmoid(raw_scores.reshape(-1))
    keep = np.flatnonzero(scores >= min_score)
    found = []
    for index in keep:
        raw = raw_boxes.reshape(len(anchors), -1)[index]
        centre = anchors[index] * size
        cx, cy = raw[0] + centre[0], raw[1] + centre[1]
        w, h = raw[2], raw[3]
        keypoints = raw[4:].reshape(-1, 2) + centre
        box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)
        found.append(SsdDetection(float(scores[index]), box, keypoints.astype(np.float32)))
    return found


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def weighted_nms(found: list[SsdDetection], threshold: float = 0.3) -> list[SsdDetection]:
    """MediaPipe's WEIGHTED suppression: each kept detection is the score-weighted mean
    of the detections that overlap it, which steadies boxes from frame to frame."""
    remaining = sorted(found, key=lambda d: d.score, reverse=True)
    kept = []
    while remaining:
        best = remaining[0]
        group = [d for d in remaining if _iou(best.box, d.box) > threshold]
        remaining = [d for d in remaining if _iou(best.box, d.box) <= threshold]
        weights = np.array([d.score for d in group], dtype=np.float32)[:, None]
        total = float(weights.sum())
        box = (np.stack([d.box for d in group]) * weights).sum(axis=0) / total
        keypoints = (np.stack([d.keypoints for d in group]) * weights[:, :, None]).sum(axis=0)
        kept.append(SsdDetection(best.score, box, keypoints / total))
    return kept


def bounding_box(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The (x, y, w, h) box around points, clipped to the frame."""
    x0, y0 = np.clip(points.min(axis=0), 0, [width - 1, height - 1])
    x1, y1 = np.clip(points.max(axis=0), 0, [width - 1, height - 1])
    return int(x0), int(y0), int(np.rint(x1 - x0)), int(np.rint(y1 - y0))


def sigmoid(value: np.ndarray | float) -> np.ndarray | float:
    """The logistic function, on logits clipped to ±80 (no overflow in float32)."""
    return 1.0 / (1.0 + np.exp(-np.clip(value, -80.0, 80.0)))
