"""Detectors that run only where something moves: what it saves, what it misses.

    python -m benchmarks.gating [--json FILE]

On footage of a quiet hallway (OpenCV's pedestrian clip: its empty background
with sensor noise most of the time, its real frames with people walking a
quarter of the time; ``testkit.media.mostly_static_hallway``), ``people`` runs
three ways after ``motion``: on every frame, only when motion found something
(``when = "motion"``), and only on the regions that moved (``region =
"motion"``). Printed: the people detector's CPU per frame (mean over all
frames, in this process, one thread), the motion detector's, and how many of
the frames with people got a ``person`` box.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2

from detectors import FrameContext
from pipeline.core.camera_config import CameraConfig, DetectorSpec, SourceSpec
from pipeline.roles.chain import DetectorChain
from testkit.media import mostly_static_hallway

WAYS = {
    "every frame": {},
    'when = "motion"': {"when": "motion"},
    'region = "motion"': {"when": "motion", "region": "motion"},
}


def measure(footage: list, gate: dict[str, str]) -> dict[str, float]:
    specs = (DetectorSpec("motion"), DetectorSpec("people", {}, **gate))
    camera = CameraConfig(id="bench", source=SourceSpec("synthetic", ""), detectors=specs)
    chain = DetectorChain(camera, lambda name, error: print(f"{name} failed: {error}"))
    people_ms = motion_ms = 0.0
    boxed = with_people = 0
    for n, (frame, has_people) in enumerate(footage):
        timings: dict[str, float] = {}
        context = FrameContext("bench", n, 1_700_000_000 + n / 15)
        outcome = chain.run(frame, context, timings, lambda _name, found: found)
        people_ms += timings.get("detect.people_ms", 0.0)
        motion_ms += timings.get("detect.motion_ms", 0.0)
        if has_people:
            with_people += 1
            boxed += any(d.label == "person" for d in outcome.found)
    return {
        "people_ms_per_frame": round(people_ms / len(footage), 2),
        "motion_ms_per_frame": round(motion_ms / len(footage), 2),
        "frames_with_people": with_people,
        "of_them_with_a_person_box": boxed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    footage = mostly_static_hallway()
    busy = sum(has for _, has in footage)
    print(f"# {len(footage)} frames of a quiet hallway at 640x480, people in {busy}; one thread")
    print(
        f"{'people runs':<20} {'people ms/frame':>16} {'motion ms/frame':>16} {'person boxed':>13}"
    )
    results = {}
    started = time.perf_counter()
    for name, gate in WAYS.items():
        figures = measure(footage, gate)
        results[name] = figures
        boxed = f"{figures['of_them_with_a_person_box']}/{figures['frames_with_people']}"
        print(f"{name:<20} {figures['people_ms_per_frame']:>16.2f} "
              f"{figures['motion_ms_per_frame']:>16.2f} {boxed:>13}")  # fmt: skip
    every = results["every frame"]
    for name in list(WAYS)[1:]:
        ratio = every["people_ms_per_frame"] / max(results[name]["people_ms_per_frame"], 1e-6)
        kept = results[name]["of_them_with_a_person_box"] / max(
            every["of_them_with_a_person_box"], 1
        )
        print(
            f"# {name}: people's CPU {ratio:.1f}x less; person-boxed frames {kept:.0%} of ungated"
        )
    print(f"# measured in {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
