"""The picture shown while a camera has no fresh frame: "waiting" or "offline"."""

from __future__ import annotations

import functools

import cv2
import numpy as np

MESSAGES = {
    "waiting": ("waiting for frames", (90, 90, 90)),
    "stale": ("no fresh frames", (40, 110, 160)),
    "offline": ("camera offline", (40, 40, 150)),
}


@functools.lru_cache(maxsize=256)
def placeholder_jpeg(title: str, state: str, width: int, height: int) -> bytes:
    message, colour = MESSAGES.get(state, MESSAGES["waiting"])
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (30, 30, 30)
    scale = max(0.5, height / 480)
    for text, y, size in ((title, 0.42, 1.1), (message, 0.58, 0.9)):
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, size * scale, 2)
        origin = (max(4, (width - w) // 2), int(height * y) + h // 2)
        cv2.putText(
            image,
            text,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            size * scale,
            (230, 230, 230) if text == title else colour,
            2,
            cv2.LINE_AA,
        )
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
    if not ok:
        raise RuntimeError("could not encode the placeholder frame")
    return encoded.tobytes()
