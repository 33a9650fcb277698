"""A small labelled dataset the project makes itself, in the layout ``rabbitcam eval``
reads: clips of the synthetic fall scene (a real person, OpenCV's basketball
player, who falls 4 s into every 12 s cycle) and faces from NASA's astronaut
portrait. Some labels are deliberately wrong, so that a test knows what each
figure must count: a fall labelled where nobody falls is a known miss, a fall
labelled as a daily activity a known false alarm.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.config import CameraConfig, SourceSpec
from pipeline.core.scenes import FALL_CYCLE_S
from pipeline.roles.sources import SyntheticSource
from testkit.media import astronaut

FPS = 15.0
SIZE = (640, 480)
FALL_AT_S = 4.0  # in the scene's cycle
# name: (label, the scene's seconds from, to, onset from the clip's start or None)
CLIPS = {
    "falls.mp4": ("fall", 2.0, 7.0, FALL_AT_S - 2.0),  # caught
    "walks.mp4": ("fall", 0.0, 3.5, 1.0),  # labelled a fall, nobody falls: a known miss
    "lies_down.mp4": ("not_fall", 2.0, 7.0, None),  # a fall labelled not one: a false alarm
    "walks_only.mp4": ("not_fall", 0.0, 3.5, None),  # nothing: no alarm
}
CYCLE_BASE = 1_800_000_000.0
FACE = (150, 50, 250, 250)  # x, y, w, h: the astronaut's face in the 512x512 portrait


def fall_scene(start_s: float, end_s: float) -> list[np.ndarray]:
    """The demo's hallway camera (``scene = "fall"``) from ``start_s`` to ``end_s`` of its cycle."""
    camera = CameraConfig(
        id="hallway", source=SourceSpec("synthetic", ""), name="Hallway", qr=False,
        scene="fall", width=SIZE[0], height=SIZE[1], fps=FPS,
    )  # fmt: skip
    source = SyntheticSource(camera)
    cycle_start = CYCLE_BASE - CYCLE_BASE % FALL_CYCLE_S
    frames = []
    for index in range(round((end_s - start_s) * FPS)):
        frames.append(source.render(index, cycle_start + start_s + index / FPS))
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = FPS) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def face() -> np.ndarray:
    x, y, w, h = FACE
    return cv2.cvtColor(cv2.resize(astronaut()[y : y + h, x : x + w], (48, 48)),
                        cv2.COLOR_BGR2GRAY)  # fmt: skip


def make_dataset(root: Path, face_labels: tuple[str, ...] = ("happy", "angry")) -> Path:
    """The dataset under ``root``; returns ``root``."""
    falls = root / "fall"
    falls.mkdir(parents=True)
    with (falls / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "fall_frame", "fall_time_s", "fps", "frames", "activity"])
        for name, (label, start, end, onset) in CLIPS.items():
            frames = fall_scene(start, end)
            write_video(falls / name, frames)
            fall_frame = "" if onset is None else round(onset * FPS)
            writer.writerow([name, label, fall_frame, "" if onset is None else onset, FPS,
                             len(frames), "synthetic"])  # fmt: skip
    faces = root / "emotion"
    (faces / "images").mkdir(parents=True)
    with (faces / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label"])
        for index, label in enumerate(face_labels):
            name = f"images/face_{index}.jpg"
            cv2.imwrite(str(faces / name), face())
            writer.writerow([name, label])
    return root
