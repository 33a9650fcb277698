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

from pipeline.core.camera_config import CameraConfig, SourceSpec
from pipeline.core.synthetic_scenes import FALL_CYCLE_S
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


# The counting clip: the fall scene's first 3.8 s, the player walking left to right.
COUNT_CLIP_S = 3.8
GATE_X = 300  # a line across his way: crossed once, "out" (its left is x > 300)
FLOOR_Y = 400  # a line along his way, below his feet: never crossed


def make_counting_dataset(root: Path) -> Path:
    """``people/`` with the walking player, his true box in every frame (``gt.txt``,
    from the scene's own geometry) and two counting lines (``lines.json``)."""
    import json

    from pipeline.core import synthetic_scenes as scenes

    folder = root / "people"
    folder.mkdir(parents=True, exist_ok=True)
    frames = fall_scene(0.0, COUNT_CLIP_S)
    write_video(folder / "walk.mp4", frames)
    width, height = SIZE
    scale = height * 0.6 / 460
    tall, wide = cv2.resize(scenes._player(), None, fx=scale, fy=scale).shape[:2]
    rows = []
    for index in range(len(frames)):
        t = index / FPS
        cx, cy = width * (0.25 + 0.1 * t), height * 0.42 + 4 * (int(t * 4) % 2)
        rows.append(
            f"{index + 1},1,{cx - wide / 2:.1f},{cy - tall / 2:.1f},{wide},{tall},1,-1,-1,-1"
        )
    (folder / "gt.txt").write_text("\n".join(rows) + "\n")
    lines = [{"name": "gate", "points": [[GATE_X, 60], [GATE_X, 470]]},
             {"name": "floor", "points": [[0, FLOOR_Y], [640, FLOOR_Y]]}]  # fmt: skip
    (folder / "lines.json").write_text(json.dumps(lines))
    return root
