"""Real pictures for detector tests: nothing here is generated."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.core.label_style import label_colour
from pipeline.core.media import media_dir, media_file
from pipeline.core.synthetic_scenes import scikit_image_picture

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


def pedestrian_frames(count: int, every: int = 1, start: int = 0) -> list[np.ndarray]:
    """Frames of OpenCV's pedestrian clip (vtest.avi: a hallway, people walking),
    at 640x480."""
    capture = cv2.VideoCapture(str(media_file("vtest.avi")))
    frames, index = [], 0
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        if index >= start and (index - start) % every == 0:
            frames.append(cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA))
        index += 1
    return frames


def mostly_static_hallway(
    quiet: int = 60, busy: int = 20, rounds: int = 2
) -> list[tuple[np.ndarray, bool]]:
    """Footage of the pedestrian clip's hallway that is empty most of the time, as a
    camera over a quiet corridor sees it: (frame, people in it) per frame.

    The empty hallway is the clip's own background (the median of frames spread
    over the clip: each spot is empty more often than not), with a camera's sensor
    noise added frame by frame; people pass in ``busy`` real frames of the clip
    after every ``quiet`` empty ones.
    """
    rng = np.random.default_rng(1)
    empty = np.median(np.stack(pedestrian_frames(60, every=13)), axis=0).astype(np.uint8)
    walking = pedestrian_frames(busy * rounds, every=2, start=100)
    footage = []
    for round_index in range(rounds):
        for _ in range(quiet):
            noise = rng.normal(0, 2.0, empty.shape)
            footage.append((np.clip(empty + noise, 0, 255).astype(np.uint8), False))
        footage += [
            (frame, True) for frame in walking[round_index * busy : (round_index + 1) * busy]
        ]
    return footage


CODE_AT = (460, 20)  # where pedestrians_with_a_code holds its QR code up: x, y
CODE_SIDE = 160


def code_picture(text: str) -> np.ndarray:
    """A QR code reading ``text``, CODE_SIDE pixels square, grey."""
    import segno

    matrix = np.asarray(segno.make_qr(text, error="m").matrix, dtype=np.uint8)
    code = np.where(matrix == 1, 0, 255).astype(np.uint8)
    code = cv2.copyMakeBorder(code, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=255)
    return cv2.resize(code, (CODE_SIDE, CODE_SIDE), interpolation=cv2.INTER_NEAREST)


def pedestrians_with_a_code(
    path, text: str, quiet_s: float = 4.0, shown_s: float = 4.0, fps: float = 10.0
):
    """A video file of the pedestrian clip in which a QR code reading ``text`` is held
    up after ``quiet_s`` seconds, for ``shown_s`` (MJPEG in AVI: OpenCV writes it with
    no codec library). A camera looping it sees the code appear every loop, at a
    known moment: an event with real footage before it."""
    frames = pedestrian_frames(int((quiet_s + shown_s) * fps), every=2, start=10)
    code = code_picture(text)
    x, y = CODE_AT
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for index, frame in enumerate(frames):
        if index >= quiet_s * fps:
            frame = frame.copy()
            frame[y : y + CODE_SIDE, x : x + CODE_SIDE] = code[..., None]
        writer.write(frame)
    writer.release()
    return path


def shows_code(image: np.ndarray, text: str) -> bool:
    """Whether a frame (annotated, compressed) shows the code pedestrians_with_a_code
    holds up, where it holds it: the patch there matches the code's picture."""
    x, y = CODE_AT
    patch = cv2.cvtColor(image[y : y + CODE_SIDE, x : x + CODE_SIDE], cv2.COLOR_BGR2GRAY)
    score = cv2.matchTemplate(patch, code_picture(text), cv2.TM_CCOEFF_NORMED)[0, 0]
    return bool(score > 0.7)


def box_is_drawn(picture: np.ndarray, box: list[int], label: str) -> bool:
    """The box's left side, at mid-height, has the label's colour."""
    x, y, _, h = box
    side = picture[y + h // 2, max(0, x - 1) : x + 3].astype(int)
    return int(np.abs(side - np.array(label_colour(label))).max(axis=1).min()) < 60
