"""Per-frame cost of every detector at 640x480, on pictures it is meant for.

    python -m benchmarks.detectors [--frames N] [--json FILE]

Prints the median and 90th-percentile milliseconds per frame for each
detector, measured in this process on this machine, one detector at a time
(the face and person scenes hold one face and one person: per frame is per
face or per person there). Then, on OpenCV's pedestrian clip (vtest.avi at
640x480, people 50-100 px tall), how often ``people`` finds a person at each
setting and what it costs: how its defaults were chosen.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

import detectors
from detectors import Detection, FrameContext
from pipeline.core.camera_config import CameraConfig, SourceSpec
from pipeline.roles.sources import SyntheticSource

SIZE = (640, 480)


def fit(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA)


def scenes() -> dict[str, Callable[[int], np.ndarray]]:
    """A frame source per kind of picture, by frame number."""
    from testkit.media import astronaut, basketball

    synthetic = SyntheticSource(CameraConfig(id="bench", source=SourceSpec("synthetic", "")))
    face = fit(cv2.resize(astronaut(), (640, 640))[80:560])
    people = fit(basketball())
    markers = np.full((480, 640, 3), 230, np.uint8)
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    for index, (x, y) in enumerate(((40, 60), (260, 200), (470, 90))):
        markers[y : y + 110, x : x + 110] = cv2.aruco.generateImageMarker(dictionary, index, 110)[
            ..., None
        ]
    return {
        "synthetic": lambda n: synthetic.render(1_795_000_000_000 + n, 1_700_000_000 + n / 15),
        "face": lambda n: face,
        "people": lambda n: people,
        "markers": lambda n: markers,
    }


# detector → (scene, detectors that run before it, untimed)
CASES = {
    "motion": ("synthetic", []),
    "codes": ("synthetic", []),
    "markers": ("markers", []),
    "faces": ("face", []),
    "eyes": ("face", ["faces"]),
    "smiles": ("face", ["faces"]),
    "people": ("people", []),
    "fall": ("synthetic", ["motion"]),
    "landmarks": ("face", []),
    "headpose": ("face", ["landmarks"]),
    "blink": ("face", ["landmarks"]),
    "emotion": ("face", ["faces"]),
    "pose": ("people", []),
    "objects": ("people", []),
    "fall+pose": ("people", ["pose"]),
    "track": ("people", ["objects"]),
}
# HOG settings compared on the pedestrian clip: (scale, pyramid step)
PEOPLE_SETTINGS = [(0.5, 1.05), (1.0, 1.05), (1.0, 1.2), (1.25, 1.1), (1.5, 1.2), (2.0, 1.2)]


def measure(name: str, frames: int) -> dict[str, float]:
    scene_name, before = CASES[name]
    scene = scenes()[scene_name]
    prior = [detectors.create(n) for n in before]
    detector = detectors.create(name.split("+")[0])
    times = []
    found_total = 0
    for n in range(frames + 5):
        image = scene(n)
        context = FrameContext("bench", n, 1_700_000_000 + n / 15)
        for earlier in prior:
            context.found.extend(earlier.detect(image, context))
            context.ran.append(earlier.name)
        started = time.perf_counter()
        found: list[Detection] = detector.detect(image, context)
        elapsed = (time.perf_counter() - started) * 1000
        if n >= 5:  # the first frames warm caches and seed background models
            times.append(elapsed)
            found_total += len(found)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
        "found_per_frame": round(found_total / frames, 2),
        "scene": scene_name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # what a worker gets on a busy box; also steadier figures
    print(f"# detectors at {SIZE[0]}x{SIZE[1]}, {args.frames} frames each, 1 OpenCV thread")
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"OpenCV {cv2.__version__}")  # fmt: skip
    print(f"{'detector':<10} {'scene':<10} {'median ms':>10} {'p90 ms':>8} {'found/frame':>12}")
    print("# (the face and people scenes hold one face, one person: per frame = per face)")
    results = {}
    for name in CASES:
        figures = measure(name, args.frames)
        results[name] = figures
        print(
            f"{name:<10} {figures['scene']:<10} {figures['median_ms']:>10.2f} "
            f"{figures['p90_ms']:>8.2f} {figures['found_per_frame']:>12.2f}"
        )
    print("\n# people on vtest.avi at 640x480 (people 50-100 px tall), 30 frames")
    print(f"{'detector':<10} {'scale':>6} {'pyramid':>8} {'frames with a person':>21} "
          f"{'people/frame':>13} {'median ms':>10}")  # fmt: skip
    for scale, pyramid in PEOPLE_SETTINGS:
        figures = pedestrians("people", {"scale": scale, "pyramid": pyramid})
        results[f"people scale={scale} pyramid={pyramid}"] = figures
        print(f"{'people':<10} {scale:>6} {pyramid:>8} {figures['frames_with_person']:>20.0%} "
              f"{figures['people_per_frame']:>13.2f} {figures['median_ms']:>10.1f}")  # fmt: skip
    figures = pedestrians("pose", {})
    results["pose on vtest"] = figures
    print(f"{'pose':<10} {'':>6} {'':>8} {figures['frames_with_person']:>20.0%} "
          f"{figures['people_per_frame']:>13.2f} {figures['median_ms']:>10.1f}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


def pedestrians(name: str, params: dict, frames: int = 30) -> dict[str, float]:
    """How often a person detector finds someone in the pedestrian clip, and its cost."""
    from testkit.media import media_file

    capture = cv2.VideoCapture(str(media_file("vtest.avi")))
    pictures = []
    index = 0
    while len(pictures) < frames:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 8 == 0:  # every 8th frame: people have moved on between samples
            pictures.append(fit(frame))
        index += 1
    detector = detectors.create(name, params)
    times, hits, people = [], 0, 0
    for n, picture in enumerate(pictures):
        context = FrameContext("bench", n, 1_700_000_000 + n * 8 / 10)
        started = time.perf_counter()
        found = [d for d in detector.detect(picture, context) if d.label == "person"]
        times.append((time.perf_counter() - started) * 1000)
        hits += bool(found)
        people += len(found)
    return {
        "frames_with_person": hits / len(pictures),
        "people_per_frame": round(people / len(pictures), 2),
        "median_ms": round(statistics.median(times), 1),
    }


if __name__ == "__main__":
    main()
