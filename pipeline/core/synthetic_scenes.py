"""What a synthetic camera shows besides its clock: ``scene`` in the camera's config.

- ``shapes`` (default): moving shapes, for motion;
- ``portrait``: real photographs of faces that tilt and turn, for the face
  detectors (``landmarks``, ``headpose``, ``emotion``): NASA's portrait of
  Eileen Collins, smiling at the camera and tilting her head from side to
  side, then the cameraman, his head turned to his left, and the same picture
  mirrored. Both are public domain and ship with scikit-image;
- ``fall``: a real person (the basketball player from OpenCV's sample
  photograph, in the test media cache that setup fills) who stands, walks,
  falls, lies still and gets up again, every 12 seconds, for ``pose`` and
  ``fall``.

A scene is a function of time only, so any number of cameras show it and a
frame at a given moment is the same on every run.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

SCENES = ("shapes", "portrait", "fall")
PORTRAIT_CYCLE_S = 15.0
FALL_CYCLE_S = 12.0
BACKDROP = 110  # grey behind the cut-out person


def scene_problem(name: object) -> str | None:
    """Why ``name`` cannot be a scene here, or None (checked when a config loads)."""
    if name not in SCENES:
        return f"must be one of {', '.join(SCENES)}, got {name!r}"
    try:
        if name == "portrait":
            scikit_image_picture("astronaut.png")
        elif name == "fall":
            _player()
    except FileNotFoundError as error:
        return str(error)
    return None


def scikit_image_picture(name: str) -> np.ndarray:
    """One of the public-domain sample photographs scikit-image ships (BGR)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the portrait scene shows scikit-image's sample photographs: pip install scikit-image"
        )
    picture = cv2.imread(str(Path(spec.submodule_search_locations[0]) / "data" / name))
    if picture is None:
        raise FileNotFoundError(f"scikit-image's {name} is missing")
    return picture


def _player() -> np.ndarray:
    """The left player of OpenCV's basketball photograph, head to feet."""
    from pipeline.core.media import media_file

    picture = cv2.imread(str(media_file("basketball1.png")))
    if picture is None:
        raise FileNotFoundError("basketball1.png could not be read")
    return picture[20:480, 15:200]


def _paste(frame: np.ndarray, picture: np.ndarray, angle: float, cx: float, cy: float) -> None:
    """``picture`` turned by ``angle`` degrees (counter-clockwise) with its centre at (cx, cy)."""
    ph, pw = picture.shape[:2]
    height, width = frame.shape[:2]
    matrix = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, 1.0)
    matrix[:, 2] += (cx - pw / 2, cy - ph / 2)
    placed = cv2.warpAffine(picture, matrix, (width, height))
    where = cv2.warpAffine(np.full((ph, pw), 255, np.uint8), matrix, (width, height)) > 0
    frame[where] = placed[where]


def portrait(width: int, height: int) -> Callable[[np.ndarray, float], None]:
    side = int(min(width * 0.6, height * 0.8))
    astronaut = cv2.resize(scikit_image_picture("astronaut.png")[20:400, 70:450], (side, side))
    camera = scikit_image_picture("camera.png")[50:300, 130:380]  # his head and shoulders
    cameraman = cv2.resize(camera, (side, side))
    mirrored = cv2.flip(cameraman, 1)
    cx, cy = width * 0.35, height * 0.45

    def draw(frame: np.ndarray, now: float) -> None:
        t = now % PORTRAIT_CYCLE_S
        if t < 7.0:  # tilting from side to side, 25 degrees each way
            _paste(frame, astronaut, 25 * math.sin(t / 7.0 * 2 * math.pi), cx, cy)
        else:
            _paste(frame, cameraman if t < 11.0 else mirrored, 0.0, cx, cy)

    return draw


def fall(width: int, height: int) -> Callable[[np.ndarray, float], None]:
    scale = height * 0.6 / 460
    person = cv2.resize(_player(), None, fx=scale, fy=scale)
    standing_y = height * 0.42
    lying_y = height * 0.82
    span = person.shape[0]

    def draw(frame: np.ndarray, now: float) -> None:
        frame[:] = np.clip(frame.astype(np.int16) // 2 + BACKDROP // 2, 0, 255).astype(np.uint8)
        t = now % FALL_CYCLE_S
        if t < 4.0:  # walking across
            _paste(frame, person, 0.0, width * (0.25 + 0.1 * t), standing_y + 4 * (int(t * 4) % 2))
        elif t < 4.5:  # falling: half a second from upright to lying, dropping
            k = (t - 4.0) / 0.5
            _paste(
                frame,
                person,
                90 * k,
                width * 0.65 + k * span * 0.3,
                standing_y + k * (lying_y - standing_y),
            )
        elif t < 9.0:  # lying still
            _paste(frame, person, 90.0, width * 0.65 + span * 0.3, lying_y)
        else:  # getting up slowly, then standing
            k = min(1.0, (t - 9.0) / 2.0)
            _paste(frame, person, 90 * (1 - k), width * 0.65 + (1 - k) * span * 0.3,
                   lying_y - k * (lying_y - standing_y))  # fmt: skip

    return draw


def scene_painter(name: str, width: int, height: int) -> Callable[[np.ndarray, float], None] | None:
    """A function that draws scene ``name`` into a frame at a moment; None for ``shapes``."""
    if name == "portrait":
        return portrait(width, height)
    if name == "fall":
        return fall(width, height)
    return None
