"""Real pictures for detector tests: nothing here is generated."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.core.media import media_dir, media_file
from pipeline.core.scenes import scikit_image_picture

__all__ = ["media_dir", "media_file"]


def astronaut() -> np.ndarray:
    """NASA's public-domain portrait of Eileen Collins, as shipped by scikit-image (BGR)."""
    return scikit_image_picture("astronaut.png")


def cameraman() -> np.ndarray:
    """scikit-image's cameraman (public domain): a man whose head is turned towards his
    camera, to the right of the picture (to his own left), by about 45 degrees."""
    return scikit_image_picture("camera.png")


def basketball() -> np.ndarray:
    """OpenCV's sample photograph of two people playing basketball (640x480)."""
    return cv2.imread(str(media_file("basketball1.png")), cv2.IMREAD_COLOR)


# Where the people are, read off the pictures by eye (x, y, width, height).
ASTRONAUT_FACE = (180, 70, 90, 100)
BASKETBALL_LEFT_PLAYER = (35, 80, 130, 395)


def overlap(found: tuple, truth: tuple) -> float:
    """The fraction of ``truth`` that ``found`` covers."""
    ax, ay, aw, ah = found
    bx, by, bw, bh = truth
    width = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0, min(ay + ah, by + bh) - max(ay, by))
    return width * height / float(bw * bh)
