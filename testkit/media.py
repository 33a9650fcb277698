"""Real pictures for detector tests: nothing here is generated."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.media import media_dir, media_file

__all__ = ["media_dir", "media_file"]


def astronaut() -> np.ndarray:
    """NASA's public-domain portrait of Eileen Collins, as shipped by scikit-image (BGR)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image (a test dependency) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "data" / "astronaut.png"
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def cameraman() -> np.ndarray:
    """scikit-image's cameraman (public domain): a man whose head is turned towards his
    camera, to the right of the picture (to his own left), by about 45 degrees."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image (a test dependency) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "data" / "camera.png"
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


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
