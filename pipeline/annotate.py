"""Drawing detections and the frame's identity onto a picture, in one readable style."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def label_colour(label: str) -> tuple[int, int, int]:
    """A stable, bright BGR colour per label, so 'motion' looks the same everywhere."""
    hue = hashlib.sha1(label.encode()).digest()[0] * 180 // 256
    hsv = np.uint8([[[hue, 220, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def caption(detection: dict[str, Any]) -> str:
    label = detection["label"]
    text = detection.get("extra", {}).get("text")
    if text:
        label = f"{label} {text}"
    score = detection.get("score")
    if score is not None and score < 1.0:
        label = f"{label} {score:.2f}"
    return label[:60]


def _boxed_text(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
) -> None:
    thickness = max(1, round(scale * 1.6))
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    x, y = origin
    x = max(0, min(x, image.shape[1] - width - 4))  # keep the whole caption in the picture
    y = max(y, height + baseline + 2)
    cv2.rectangle(image, (x, y - height - baseline - 2), (x + width + 4, y + 2), colour, -1)
    cv2.putText(
        image, text, (x + 2, y - baseline + 1), FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA
    )


def annotate(
    image: np.ndarray,
    camera: str,
    seq: int,
    captured_at: float,
    detections: list[dict[str, Any]],
) -> np.ndarray:
    """Draw in place: one box and caption per detection, and a banner with the capture time."""
    scale = max(0.4, image.shape[0] / 900)
    line = max(1, round(image.shape[0] / 240))
    for detection in detections:
        box = detection.get("box")
        if not box:
            continue
        x, y, w, h = box
        colour = label_colour(detection["label"])
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, line)
        _boxed_text(image, caption(detection), (x, y - 2), scale, colour)
    stamp = datetime.fromtimestamp(captured_at).strftime("%H:%M:%S.%f")[:-3]
    banner = f"{camera} #{seq} {stamp}"
    if detections:
        banner += f"  {len(detections)} found"
    _boxed_text(image, banner, (0, 0), scale, (255, 255, 255))
    return image
