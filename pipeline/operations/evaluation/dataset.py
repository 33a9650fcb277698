"""A labelled dataset folder, read and checked before anything runs.

The layout (``docs/accuracy.md`` has it in full; any user can lay out their own
footage this way), each kind optional:

- ``fall/labels.csv``: ``file,label,fall_frame,fall_time_s,fps,frames,...``, one
  video per row; ``label`` is ``fall`` or ``not_fall``; ``fall_time_s`` the
  annotated onset of a fall (seconds from the clip's start), ``fps`` its frame
  rate, ``frames`` (optional) how many frames it holds. Other columns are kept
  as notes.
- ``emotion/labels.csv``: ``file,label``, one face picture per row; labels are
  the seven FER-2013 classes.
- ``people/``: one video and ``gt.txt`` in MOTChallenge format
  (``frame,id,left,top,width,height,conf,...``; frame 1 is the video's first;
  conf 0 marks a box that is neither required nor a false alarm), in the folder
  itself or in each of its subfolders. Only annotated frames are scored.
  Beside them, ``lines.json`` (optional): counting lines, ``[{"name": "door",
  "points": [[x, y], [x, y]]}, ...]`` in the video's pixels (``margin`` as a
  camera's line has it, optional): the ``counting`` kind compares what a chain
  counts across them with the crossings of the true tracks' feet.
- ``headpose/labels.csv``: ``file,yaw,pitch,roll`` in degrees, one picture per row.

Every problem names the file and line; a dataset with any is refused whole.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from declared.problems import key_path, worded
from detectors.scene_rules import Line

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FALL_LABELS = ("fall", "not_fall")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
KINDS = ("fall", "emotion", "people", "counting", "headpose")
MOST_LINES = 32


class DatasetError(ValueError):
    """What is wrong with a dataset folder: every problem, by file and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FallClip:
    path: Path
    label: str  # fall | not_fall
    fps: float
    onset_s: float | None  # annotated start of the fall
    frames: int | None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: str


@dataclass(frozen=True)
class PoseImage:
    path: Path
    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class PeopleClip:
    video: Path
    truth: dict[int, list[tuple[int, tuple[float, float, float, float], bool]]]
    # frame (1-based) → [(id, (left, top, width, height), counts)]
    lines: tuple[Line, ...] = ()  # counting lines, as a camera's


@dataclass
class Dataset:
    root: Path
    falls: list[FallClip] = field(default_factory=list)
    emotions: list[LabelledImage] = field(default_factory=list)
    people: list[PeopleClip] = field(default_factory=list)
    headposes: list[PoseImage] = field(default_factory=list)

    counted: list[PeopleClip] = field(default_factory=list)  # people clips with lines

    def kinds(self) -> list[str]:
        held = {"fall": self.falls, "emotion": self.emotions, "people": self.people,
                "counting": self.counted, "headpose": self.headposes}  # fmt: skip
        return [kind for kind in KINDS if held[kind]]


def load(root: Path, kinds: tuple[str, ...] = KINDS, lines: Path | None = None) -> Dataset:
    """Read every kind present under ``root`` (of those asked for); DatasetError
    listing every problem when anything is wrong. ``lines``: a lines.json for every
    people clip, in place of their own."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError([f"{root}: no such folder"])
    problems: list[str] = []
    dataset = Dataset(root)
    if "fall" in kinds and (root / "fall" / "labels.csv").is_file():
        dataset.falls = _falls(root / "fall", problems)
    if "emotion" in kinds and (root / "emotion" / "labels.csv").is_file():
        dataset.emotions = _emotions(root / "emotion", problems)
    if {"people", "counting"} & set(kinds) and (root / "people").is_dir():
        clips = _people(root / "people", problems, lines)
        dataset.people = clips if "people" in kinds else []
        dataset.counted = [c for c in clips if c.lines] if "counting" in kinds else []
    if "headpose" in kinds and (root / "headpose" / "labels.csv").is_file():
        dataset.headposes = _headposes(root / "headpose", problems)
    if problems:
        raise DatasetError(problems)
    if not dataset.kinds():
        raise DatasetError([f"{root}: no labelled data found (fall/labels.csv, "
                            "emotion/labels.csv, people/gt.txt, headpose/labels.csv)"])  # fmt: skip
    return dataset


def _rows(path: Path, required: tuple[str, ...], problems: list[str]) -> list[tuple[int, dict]]:
    """(line number, row) of a CSV file with a header naming at least ``required``."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in required if name not in (reader.fieldnames or [])]
            if missing:
                problems.append(f"{path}:1: the header lacks {', '.join(missing)}")
                return []
            return [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        problems.append(f"{path}: cannot be read: {error}")
        return []


def _file(folder: Path, name: str, where: str, problems: list[str]) -> Path | None:
    relative = Path(name or "")
    if not name or relative.is_absolute() or ".." in relative.parts:
        problems.append(f"{where}: file must be a path inside {folder}, got {name!r}")
        return None
    path = folder / relative
    if not path.is_file():
        problems.append(f"{where}: {name} is missing")
        return None
    return path


def _number(text: str | None, where: str, what: str, problems: list[str]) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        problems.append(f"{where}: {what} must be a number, got {text!r}")
        return None
    if not math.isfinite(value):
        problems.append(f"{where}: {what} must be finite, got {text!r}")
        return None
    return value


def _falls(folder: Path, problems: list[str]) -> list[FallClip]:
    labels = folder / "labels.csv"
    clips = []
    for line, row in _rows(labels, ("file", "label", "fall_time_s", "fps"), problems):
        where = f"{labels}:{line}"
        path = _file(folder, row["file"], where, problems)
        label = row["label"]
        if label not in FALL_LABELS:
            problems.append(f"{where}: label must be fall or not_fall, got {label!r}")
            continue
        fps = _number(row["fps"], where, "fps", problems)
        if fps is not None and not 0.5 <= fps <= 240:
            problems.append(f"{where}: fps must be between 0.5 and 240, got {fps}")
            continue
        onset = None
        if label == "fall":
            onset = _number(row["fall_time_s"], where, "fall_time_s", problems)
            if onset is not None and onset < 0:
                problems.append(f"{where}: fall_time_s must be >= 0, got {onset}")
        elif (row.get("fall_time_s") or "").strip():
            problems.append(f"{where}: a not_fall clip has no fall_time_s")
        frames = None
        if (row.get("frames") or "").strip():
            count = _number(row["frames"], where, "frames", problems)
            frames = int(count) if count is not None and count >= 1 else None
        if path is None or fps is None or (label == "fall" and onset is None):
            continue
        if not _opens(path):
            problems.append(f"{where}: {row['file']} cannot be opened as a video")
            continue
        notes = {k: v for k, v in row.items() if k not in ("file", "label") and v}
        clips.append(FallClip(path, label, fps, onset, frames, notes))
    return clips


def _opens(video: Path) -> bool:
    """Does OpenCV open the video and read a first frame from it?"""
    import cv2

    capture = cv2.VideoCapture(str(video))
    try:
        return capture.isOpened() and capture.read()[0]
    finally:
        capture.release()


def _emotions(folder: Path, problems: list[str]) -> list[LabelledImage]:
    labels = folder / "labels.csv"
    images = []
    for line, row in _rows(labels, ("file", "label"), problems):
        where = f"{labels}:{line}"
        path = _file(folder, row["file"], where, problems)
        if row["label"] not in EMOTIONS:
            problems.append(f"{where}: label must be one of {', '.join(EMOTIONS)}, "
                            f"got {row['label']!r}")  # fmt: skip
            continue
        if path is not None:
            images.append(LabelledImage(path, row["label"]))
    return images


def _headposes(folder: Path, problems: list[str]) -> list[PoseImage]:
    labels = folder / "labels.csv"
    images = []
    for line, row in _rows(labels, ("file", "yaw", "pitch", "roll"), problems):
        where = f"{labels}:{line}"
        path = _file(folder, row["file"], where, problems)
        angles = [_number(row[key], where, key, problems) for key in ("yaw", "pitch", "roll")]
        if path is not None and None not in angles:
            images.append(PoseImage(path, *angles))  # type: ignore[arg-type]
    return images


def _people(folder: Path, problems: list[str], lines: Path | None = None) -> list[PeopleClip]:
    clips = []
    for place in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        truth_file = place / "gt.txt"
        if not truth_file.is_file():
            continue
        videos = sorted(p for p in place.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if len(videos) != 1:
            problems.append(f"{place}: holds gt.txt and {len(videos)} videos, not one")
            continue
        truth = _mot(truth_file, problems)
        lines_file = lines or place / "lines.json"
        found = _lines(lines_file, problems) if lines_file.is_file() else ()
        if truth:
            clips.append(PeopleClip(videos[0], truth, found))
    if not clips and not problems:
        problems.append(f"{folder}: no gt.txt beside a video")
    return clips


def _mot(path: Path, problems: list[str]) -> dict[int, list]:
    truth: dict[int, list] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{path}: cannot be read: {error}")
        return {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{path}:{number}"
        fields = text.split(",")
        if len(fields) < 7:
            problems.append(f"{where}: needs frame,id,left,top,width,height,conf")
            continue
        values = [_number(f, where, "a field", problems) for f in fields[:7]]
        if None in values:
            continue
        frame, ident, left, top, width, height, conf = values
        if frame < 1 or width <= 0 or height <= 0:
            problems.append(f"{where}: frame must be >= 1 and the box's size positive")
            continue
        truth.setdefault(int(frame), []).append((int(ident), (left, top, width, height), conf != 0))
    return truth


def _lines(path: Path, problems: list[str]) -> tuple[Line, ...]:
    """The counting lines of a lines.json; every problem named by file and index."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problems.append(f"{path}: cannot be read as JSON: {error}")
        return ()
    if not isinstance(data, list) or not 0 < len(data) <= MOST_LINES:
        problems.append(f"{path}: must be a list of 1 to {MOST_LINES} lines")
        return ()
    lines = []
    for index, item in enumerate(data):  # each as a camera's [[cameras.lines]] table is
        try:
            lines.append(Line.model_validate(item))
        except ValidationError as error:
            problems += [f"{path}: {key_path([index], key)}: {message}"
                         for key, message in worded(error, Line)]  # fmt: skip
    return tuple(lines)
