"""A camera's detectors, run in order on each frame, some only where something moved.

Heavy detectors need not look at every frame. An entry may run only when an
earlier detector found something (``{ name = "people", when = "motion" }``),
and only on the picture around it (``region = "motion"``): the earlier
detector's boxes, padded by ``REGION_PAD`` of their size on each side and at
least ``REGION_MIN_SIDE`` pixels across (HOG's window must fit), merged where
they overlap, are cut out; the detector runs on each crop, and what it finds is
moved back to frame coordinates. That is how camera NVRs run person detectors
on small boxes: on a mostly static view, most frames cost only the motion
detector.

A region suits detectors that look at the picture alone (``people``,
``faces``, ``codes``, ``markers``, ``pose`` on one crop); one that reads earlier
detections (``eyes`` on ``faces``) sees them in frame coordinates, so gate it
with ``when`` only. Every result says which detectors ran and which were
skipped (``ran``, ``skipped``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import detectors
from detectors import Detection, FrameContext
from pipeline.core.camera_config import CameraConfig, DetectorSpec

LOGGER = logging.getLogger(__name__)

REGION_PAD = 0.25
REGION_MIN_SIDE = 160
Crop = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


def regions(boxes: list[tuple[int, int, int, int]], width: int, height: int) -> list[Crop]:
    """Padded boxes, grown to ``REGION_MIN_SIDE``, merged while any two overlap."""
    crops = []
    for x, y, w, h in boxes:
        pad_x, pad_y = REGION_PAD * w, REGION_PAD * h
        grow_x = max(0.0, (REGION_MIN_SIDE - w - 2 * pad_x) / 2)
        grow_y = max(0.0, (REGION_MIN_SIDE - h - 2 * pad_y) / 2)
        crops.append(
            [
                max(0, int(x - pad_x - grow_x)),
                max(0, int(y - pad_y - grow_y)),
                min(width, int(x + w + pad_x + grow_x)),
                min(height, int(y + h + pad_y + grow_y)),
            ]
        )
    merged = True
    while merged:
        merged = False
        for i in range(len(crops)):
            for j in range(i + 1, len(crops)):
                a, b = crops[i], crops[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    crops[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del crops[j]
                    merged = True
                    break
            if merged:
                break
    return [tuple(crop) for crop in crops if crop[2] > crop[0] and crop[3] > crop[1]]


def shifted(detection: Detection, dx: int, dy: int) -> Detection:
    """A detection found in a crop, moved to frame coordinates (its box and the
    shapes it draws: points, bones, axes, and its in-process arrays)."""
    if detection.box is not None:
        x, y, w, h = detection.box
        detection.box = (x + dx, y + dy, w, h)
    extra = detection.extra
    for key in ("points", "keypoints", "axes"):
        if key in extra:
            extra[key] = [[p[0] + dx, p[1] + dy, *p[2:]] for p in extra[key]]
    if "lines" in extra:
        extra["lines"] = [[a + dx, b + dy, c + dx, d + dy] for a, b, c, d in extra["lines"]]
    for key in ("mesh", "keypoints"):
        if key in detection.internal:
            moved = np.array(detection.internal[key], copy=True)
            moved[:, 0] += dx
            moved[:, 1] += dy
            detection.internal[key] = moved
    return detection


@dataclass
class ChainRun:
    found: list[Detection] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class DetectorChain:
    """One camera's detectors, built once for its config (stateful ones keep state)."""

    def __init__(self, camera: CameraConfig, on_error: Callable[[str, Exception], None]) -> None:
        self.camera = camera
        self.on_error = on_error
        self.rules = camera.scene_rules()
        self.links: list[tuple[DetectorSpec, detectors.Detector]] = []
        for spec in camera.detectors:
            try:
                self.links.append((spec, detectors.create(spec.name, spec.params)))
            except Exception as error:  # a model gone since the config was checked
                on_error(spec.name, error)

    def reduction(self) -> int:
        """How many times smaller the picture may be decoded for every detector here:
        8, 4 or 2 when each reads at that fraction of the frame or less, else 1.
        Never for a chain that cuts regions: its crops are in frame pixels."""
        if any(spec.region is not None for spec, _ in self.links):
            return 1
        finest = max((detector.reads_at() for _, detector in self.links), default=1.0)
        for factor in (8, 4, 2):
            if finest <= 1 / factor:
                return factor
        return 1

    def run(
        self,
        image: np.ndarray,
        context: FrameContext,
        timings: dict[str, float],
        check: Callable[[str, list[Detection]], list[Detection]],
    ) -> ChainRun:
        """Run every detector whose gate is open; ``check`` keeps what fits the wire."""
        outcome = ChainRun()
        context.rules = self.rules
        found_by: dict[str, list[Detection]] = {}
        for spec, detector in self.links:
            if spec.when is not None and not found_by.get(spec.when):
                outcome.skipped.append(spec.name)
                continue
            started = time.perf_counter()
            try:
                found = self._detect(spec, detector, image, context, found_by)
                found_by[spec.name] = check(spec.name, found)
                if replaced := detector.replaces():
                    context.found[:] = [d for d in context.found if d.label not in replaced]
                context.found.extend(found_by[spec.name])
            except Exception as error:
                # One detector's bug costs its own detections for this frame, not the frame.
                self.on_error(spec.name, error)
            timings[f"detect.{spec.name}_ms"] = round((time.perf_counter() - started) * 1000, 3)
            context.ran.append(spec.name)
            outcome.ran.append(spec.name)
        outcome.found = context.found
        return outcome

    @staticmethod
    def _detect(
        spec: DetectorSpec,
        detector: detectors.Detector,
        image: np.ndarray,
        context: FrameContext,
        found_by: dict[str, list[Detection]],
    ) -> list[Detection]:
        if spec.region is None:
            return detector.detect(image, context)
        height, width = image.shape[:2]
        boxes = [d.box for d in found_by[spec.region] if d.box is not None]
        found = []
        for x0, y0, x1, y1 in regions(boxes, width, height):
            crop = image[y0:y1, x0:x1]
            found += [shifted(d, x0, y0) for d in detector.detect(crop, context)]
        return found
