"""Alarms on a clip where people stay in view: boxes alone against tracked objects.

    python -m benchmarks.object_alarms VIDEO [--fps 7]

The same frames go through ``objects`` alone and through ``objects`` then
``track``. Without tracking, a worker sends a ``person`` event at most once
per ``[detect] event_interval_s`` (1 s) while anyone is in view, and each is
an alarm; with it, each object sends one when it comes (``person``) and one
when it goes (``gone``). Printed: events per hour of footage for each, the
objects seen, and what ``track`` costs per frame beside ``objects`` (same run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import detectors
from pipeline.core.config import DetectConfig
from pipeline.operations.evaluation.chains import EPOCH, build_chain, video_frames


def run(video: Path, names: list[str], fps: float) -> dict:
    chain = build_chain(names, {})
    _, frames = video_frames(video)
    interval = DetectConfig().event_interval_s
    last_event_at: dict[str, float] = {}
    events: dict[str, int] = {}
    objects: set[int] = set()
    costs: dict[str, list[float]] = {name: [] for name in names}
    seconds = 0.0
    for index, image in enumerate(frames):
        at = index / fps
        seconds = at + 1 / fps
        context = detectors.FrameContext("bench", index, EPOCH + at)
        timings: dict[str, float] = {}
        outcome = chain.run(image, context, timings, lambda _name, found: found)
        for name in names:
            costs[name].append(timings[f"detect.{name}_ms"])
        for detection in outcome.found:
            if "object" in detection.extra:
                objects.add(detection.extra["object"])
            if detection.quiet:
                continue
            # The worker's rule: occurrences always, other labels once an interval.
            if not detection.event:
                if at - last_event_at.get(detection.label, -1e9) < interval:
                    continue
                last_event_at[detection.label] = at
            events[detection.label] = events.get(detection.label, 0) + 1
    return {
        "seconds": round(seconds, 1),
        "events": events,
        "per_hour": {k: round(v * 3600 / seconds) for k, v in events.items()},
        "objects": len(objects),
        "median_ms": {k: round(statistics.median(v), 2) for k, v in costs.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--fps", type=float, default=7.0, help="the clip's frame rate")
    args = parser.parse_args(argv)
    boxes = run(args.video, ["objects"], args.fps)
    tracked = run(args.video, ["objects", "track"], args.fps)
    print(f"{args.video.name}: {boxes['seconds']} s of footage")
    print(f"  objects alone:     events {boxes['events']}  per hour {boxes['per_hour']}")
    print(f"  objects + track:   events {tracked['events']}  per hour {tracked['per_hour']}"
          f"  ({tracked['objects']} objects)")  # fmt: skip
    ms = tracked["median_ms"]
    print(f"  per frame: objects {ms['objects']} ms, track {ms['track']} ms "
          f"(x{(ms['objects'] + ms['track']) / ms['objects']:.3f} of objects alone)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
