"""Alarms on a clip where people stay in view: boxes alone against tracked objects.

    python -m benchmarks.object_alarms VIDEO [--fps 7]

The same frames go through ``objects`` alone and through ``objects`` then
``track``. Without tracking, a worker sends a ``person`` event at most once
per ``[detect] event_interval_s`` (1 s) while anyone is in view, and each is
an alarm; with it, each object sends one when it comes (``person``) and one
when it goes (``gone``). Printed: events per hour of footage for each, the
objects seen, and what ``track`` costs per frame beside ``objects`` (same run).

Then ``--cameras`` cameras (16) as a worker holds them, each its own chain and
its own stretch of the clip: ``objects`` alone against ``objects`` + ``track``
with three zones and a counting line on each, in rounds that alternate the two
(so that both see the machine in the same state); printed, the process's CPU
per frame of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import detectors
from detectors.scene_rules import Line, SceneRules, Zone
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


def scene_rules(width: int, height: int) -> SceneRules:
    """Three zones (the left half, the right half, the bottom third) and a line across."""
    w, h = width - 1, height - 1
    return SceneRules(
        zones=(
            Zone(name="left", points=((0, 0), (w // 2, 0), (w // 2, h), (0, h))),
            Zone(name="right", points=((w // 2, 0), (w, 0), (w, h), (w // 2, h)), loitering_s=10),
            Zone(name="near", points=((0, 2 * h // 3), (w, 2 * h // 3), (w, h), (0, h))),
        ),
        lines=(Line(name="across", points=((0, h // 2), (w, h // 2))),),
    )


def cameras_cpu(video: Path, cameras: int, frames: int, rounds: int = 4) -> dict:
    """CPU per frame of ``cameras`` cameras' chains: objects alone, then with tracking,
    zones and a line, alternating in ``rounds``."""
    _, reader = video_frames(video)
    clip = [image for _, image in zip(range(cameras * 8 + frames), reader, strict=False)]
    height, width = clip[0].shape[:2]
    arms: dict[str, list] = {
        "objects": [build_chain(["objects"], {}) for _ in range(cameras)],
        "objects + track + zones": [build_chain(["objects", "track"], {}) for _ in range(cameras)],
    }
    for chain in arms["objects + track + zones"]:
        chain.rules = scene_rules(width, height)
    cpu = dict.fromkeys(arms, 0.0)
    runs = dict.fromkeys(arms, 0)
    per_round = frames // rounds
    for round_index in range(rounds):
        for name, chains in arms.items():
            started = time.process_time()
            for step in range(round_index * per_round, (round_index + 1) * per_round):
                for camera, chain in enumerate(chains):
                    at = step / 7.0
                    context = detectors.FrameContext(f"cam{camera}", step, EPOCH + at)
                    chain.run(clip[camera * 8 + step], context, {}, lambda _n, found: found)
                    runs[name] += 1
            cpu[name] += time.process_time() - started
    return {name: cpu[name] * 1000 / runs[name] for name in arms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--fps", type=float, default=7.0, help="the clip's frame rate")
    parser.add_argument("--cameras", type=int, default=16, help="cameras for the CPU figure")
    parser.add_argument("--frames", type=int, default=40, help="frames per camera for it")
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
    cpu = cameras_cpu(args.video, args.cameras, args.frames)
    alone, tracked_ms = cpu["objects"], cpu["objects + track + zones"]
    print(f"  {args.cameras} cameras, {args.frames} frames each, CPU per frame: objects "
          f"{alone:.2f} ms, objects + track + 3 zones + a line {tracked_ms:.2f} ms "
          f"(x{tracked_ms / alone:.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
