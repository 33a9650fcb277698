"""A testing aid: a detector that only takes time (overload benchmarks, fault tests)."""

from __future__ import annotations

import time

import numpy as np

from declared.blocks import setting
from detectors.base import Detection, Detector, FrameContext, Params, register


class SlowParams(Params):
    ms: int = setting(100, "how long each frame takes", 0, 600_000)


@register
class SlowDetector(Detector):
    name = "slow"
    labels = ()
    description = "testing aid: finds nothing and takes `ms` per frame"
    Params = SlowParams

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        time.sleep(self.params.ms / 1000)
        return []
