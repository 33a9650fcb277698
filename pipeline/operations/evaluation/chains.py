"""A camera's detector chain run offline: the worker's own chain code, fed frames
from a file instead of a queue, timed by the clip's frame rate instead of a clock.

``rabbitcam eval`` and ``rabbitcam replay`` both run chains this way, so what
they report is what a detector worker would have found in the same frames.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import detectors
from detectors import build_params
from detectors.scene_rules import NO_RULES, SceneRules
from pipeline.core.camera_config import CameraConfig, DetectorSpec, SourceSpec
from pipeline.core.messages import MessageError, check_detection
from pipeline.roles.chain import DetectorChain

# Frame times start here (any fixed time: stateful detectors only look at differences).
EPOCH = 1_800_000_000.0
# Past the end of a clip its last frame is shown this long: a live camera keeps
# showing a person who stays where they fell, and many clips end a second after.
DEFAULT_HOLD_S = 3.0
# The frame rate of a video file that does not say its own.
FALLBACK_FPS = 10.0


class ChainError(ValueError):
    """A chain that cannot be built: an unknown detector, a bad parameter."""


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["fall.confirm_s=1.5", "pose.max_people=1"]`` → ``{"fall": {"confirm_s": 1.5}, ...}``;
    values are TOML-ish: numbers, true/false, else text."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        name, dot, rest = item.partition(".")
        key, equals, text = rest.partition("=")
        if not (dot and equals and name and key):
            raise ChainError(f"--param takes DETECTOR.NAME=VALUE, got {item!r}")
        overrides.setdefault(name, {})[key] = _value(text)
    return overrides


def _value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def build_chain(
    names: list[str],
    overrides: dict[str, dict[str, Any]] | None = None,
    given: tuple[str, ...] = (),
) -> DetectorChain:
    """The chain a camera with ``detectors = names`` would run (parameters checked as
    the config checks them); ChainError naming what is wrong. ``given``: detectors
    whose findings the caller hands in (``ChainRunner.run(seed=...)``) instead of
    running them."""
    overrides = overrides or {}
    unknown = set(overrides) - set(names)
    if unknown:
        raise ChainError(f"--param names detectors not in the chain: {', '.join(sorted(unknown))}")
    specs = []
    for name in names:
        if name not in detectors.REGISTRY:
            known = ", ".join(sorted(detectors.REGISTRY))
            raise ChainError(f"unknown detector {name!r} (known: {known})")
        if reason := detectors.unavailable(name):
            raise ChainError(f"detector {name!r} cannot run here: {reason}")
        try:
            params = build_params(name, overrides.get(name, {}))
        except ValueError as error:
            raise ChainError(f"detector {name!r}: {error}") from None
        specs.append(DetectorSpec(name, params))
    problems = [(i, m) for i, m in detectors.check_order([*given, *names]) if i >= len(given)]
    if problems:
        raise ChainError("; ".join(message for _index, message in problems))
    camera = CameraConfig(id="eval", source=SourceSpec("file", ""), detectors=tuple(specs))
    errors: list[str] = []
    chain = DetectorChain(camera, lambda name, error: errors.append(f"{name}: {error}"))
    if errors:
        raise ChainError("; ".join(errors))
    return chain


def camera_chain(camera: CameraConfig) -> DetectorChain:
    """A configured camera's whole chain: its detectors with their parameters, its
    zones, lines, masks and filters, as its detector worker runs them."""
    for spec in camera.detectors:
        if reason := detectors.unavailable(spec.name):
            raise ChainError(f"detector {spec.name!r} cannot run here: {reason}")
    errors: list[str] = []
    chain = DetectorChain(camera, lambda name, error: errors.append(f"{name}: {error}"))
    if errors:
        raise ChainError("; ".join(errors))
    return chain


@dataclass
class FrameResult:
    index: int  # the frame's number in the clip (held frames repeat the last one's)
    at: float  # seconds from the clip's start
    detections: list[detectors.Detection]
    cost_ms: float
    held: bool = False


@dataclass
class ChainRunner:
    """Runs one chain over one clip's frames; a detector's exception is counted, as
    the worker counts it, and costs that detector's detections for the frame."""

    chain: DetectorChain
    rules: SceneRules = NO_RULES  # zones, lines, masks and filters; default: the chain's camera's
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chain.on_error = lambda name, error: self.errors.append(
            f"{name}: {type(error).__name__}: {error}"
        )
        if self.rules is not NO_RULES:  # the chain hands its camera's rules to the detectors
            self.chain.rules = self.rules

    def run(
        self,
        image: np.ndarray,
        index: int,
        at: float,
        held: bool = False,
        seed: list[detectors.Detection] | None = None,
    ) -> FrameResult:
        context = detectors.FrameContext("eval", index + 1, EPOCH + at, found=list(seed or []))
        started = time.perf_counter()
        outcome = self.chain.run(image, context, {}, _checked)
        cost = (time.perf_counter() - started) * 1000
        return FrameResult(index, at, list(outcome.found), cost, held)


def _checked(_name: str, found: list[detectors.Detection]) -> list[detectors.Detection]:
    """What fits the wire, as the worker keeps it."""
    kept = []
    for detection in found:
        try:
            check_detection(detection.to_dict())
        except (MessageError, TypeError, ValueError):
            continue
        kept.append(detection)
    return kept


class VideoError(ValueError):
    """A video that will not open or holds no frame."""


def video_frames(path: Path) -> tuple[float, Iterator[np.ndarray]]:
    """(frames per second from the file, its frames). VideoError if it will not open."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(f"{path}: cannot be opened as a video")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, image = capture.read()
                if not ok:
                    return
                yield image
        finally:
            capture.release()

    return fps, frames()


def run_clip(
    runner: ChainRunner,
    path: Path,
    fps: float | None = None,
    hold_s: float = DEFAULT_HOLD_S,
    expected_frames: int | None = None,
) -> Iterator[tuple[np.ndarray, FrameResult]]:
    """Every frame of the clip through the chain at ``fps`` (by default the file's own
    rate), then the last frame held for ``hold_s``. VideoError if the clip will not
    open or has no frame."""
    file_fps, frames = video_frames(path)
    fps = fps or (file_fps if 0 < file_fps < 1000 else FALLBACK_FPS)
    last: np.ndarray | None = None
    count = 0
    for index, image in enumerate(frames):
        last, count = image, index + 1
        yield image, runner.run(image, index, index / fps)
    if last is None:
        raise VideoError(f"{path}: no frame could be read")
    if expected_frames is not None and count != expected_frames:
        raise VideoError(f"{path}: {count} frames read, the labels say {expected_frames}")
    for extra in range(round(hold_s * fps)):
        at = (count + extra) / fps
        yield last, runner.run(last, count - 1, at, held=True)
