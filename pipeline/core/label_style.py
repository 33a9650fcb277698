"""How a detection is named and coloured: the same drawn into a picture or on a page."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import cv2
import numpy as np


# Asked for every detection of every frame drawn, of a handful of labels; bounded,
# since labels come from plugins and the wire.
@functools.lru_cache(maxsize=1024)
def label_colour(label: str) -> tuple[int, int, int]:
    """A stable, bright BGR colour per label, so 'motion' looks the same everywhere."""
    hue = hashlib.sha1(label.encode()).digest()[0] * 180 // 256
    hsv = np.uint8([[[hue, 220, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def caption(detection: dict[str, Any]) -> str:
    """A detection's label, its text (a code's) and its score below 1, in 60 characters."""
    label = detection["label"]
    text = detection.get("extra", {}).get("text")
    if text:
        label = f"{label} {text}"
    score = detection.get("score")
    if score is not None and score < 1.0:
        label = f"{label} {score:.2f}"
    return label[:60]
