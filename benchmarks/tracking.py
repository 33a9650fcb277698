"""How well a tracker keeps people's identities, on a clip with MOT ground truth.

    python -m benchmarks.tracking DATASET [--detectors objects] [--every 1]

The chain's ``person`` boxes of every frame of ``DATASET/people`` (the layout of
``rabbitcam eval``) go to each tracker; on the annotated frames, py-motmetrics
counts MOTA, IDF1, identity switches, fragmentations, precision and recall
(IoU >= 0.5; MOT's "ignore" boxes are left out of the truth, and boxes found
on them are not counted as false). Detections are made once and shared, so the
trackers are compared on the very same boxes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import motmetrics
import numpy as np

from detectors.identities import Identities
from pipeline.operations.evaluation.chains import ChainRunner, build_chain, video_frames
from pipeline.operations.evaluation.dataset import load
from pipeline.operations.evaluation.people import iou

Box = tuple[float, float, float, float]


def identities(fps: float) -> Callable[[list[Box], float], list[tuple[int, Box]]]:
    """What fall, blink and eyes follow people by on a camera without ``track``:
    Norfair, by the distance between centres relative to the box's size."""
    tracker = Identities(max_missing_s=2.0, max_jump=1.2)
    return lambda boxes, now: tracker.update([tuple(map(int, b)) for b in boxes], now)


def norfair_iou(fps: float) -> Callable[[list[Box], float], list[tuple[int, Box]]]:
    """Norfair (the maintained fork, norfair-enough): boxes as two corner points, IoU
    distance, a Kalman filter per object; an object lives about a second without hits."""
    from norfair import Detection
    from norfair import Tracker as NorfairTracker

    tracker = NorfairTracker(
        distance_function="iou", distance_threshold=0.7,
        hit_counter_max=max(2, round(fps)), initialization_delay=1,
    )  # fmt: skip

    def update(boxes: list[Box], _now: float) -> list[tuple[int, Box]]:
        found = [Detection(np.array([[x, y], [x + w, y + h]], float)) for x, y, w, h in boxes]
        tracked = []
        for obj in tracker.update(found):
            if obj.last_detection is None or obj.id is None:
                continue
            (x0, y0), (x1, y1) = obj.estimate
            tracked.append((obj.id, (float(x0), float(y0), float(x1 - x0), float(y1 - y0))))
        return tracked

    return update


def track_detector(_fps: float) -> Callable[[list[Box], float], list[tuple[int, Box]]]:
    """The product's ``track`` stage at its defaults: Norfair with rabbitcam's lifecycle
    (min_frames, the median-score threshold, re-identification of missing objects).
    Objects not yet started are not reported, as on the pages."""
    import detectors

    track = detectors.create("track")
    index = iter(range(10**9))

    def update(boxes: list[Box], now: float) -> list[tuple[int, Box]]:
        found = [detectors.Detection("person", score, tuple(map(int, box))) for box, score in boxes]
        context = detectors.FrameContext("bench", next(index), now, found=found)
        return [(d.extra["object"], d.box) for d in track.detect(np.zeros((1, 1, 3)), context)
                if d.label == "person" and d.quiet and d.box is not None]  # fmt: skip

    return update


TRACKERS = {
    "centre distance (detectors.identities)": identities,
    "Norfair, IoU (norfair-enough)": norfair_iou,
    "track (rabbitcam's stage on Norfair)": track_detector,
}
SCORED = {track_detector}  # trackers that take (box, score) pairs


def detections(
    video: Path, chain: list[str], every: int
) -> tuple[float, list[list[tuple[Box, float]]]]:
    runner = ChainRunner(build_chain(chain))
    fps, frames = video_frames(video)
    fps = fps if 0 < fps < 1000 else 10.0
    found = []
    for index, image in enumerate(frames):
        if index % every:
            found.append([])
            continue
        result = runner.run(image, index, index / fps)
        found.append([(d.box, d.score) for d in result.detections if d.label == "person" and d.box])
    return fps, found


def score(truth: dict, tracked: dict[int, list[tuple[int, Box]]]) -> dict[str, float]:
    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    for frame, people in sorted(truth.items()):
        counted = [(ident, box) for ident, box, counts in people if counts]
        ignored = [box for _ident, box, counts in people if not counts]
        mine = [(tid, box) for tid, box in tracked.get(frame, [])
                if not any(iou(box, other) >= 0.5 for other in ignored)]  # fmt: skip
        distances = np.full((len(counted), len(mine)), np.nan)
        for i, (_ident, true_box) in enumerate(counted):
            for j, (_tid, box) in enumerate(mine):
                overlap = iou(true_box, box)
                if overlap >= 0.5:
                    distances[i, j] = 1.0 - overlap
        accumulator.update([i for i, _ in counted], [t for t, _ in mine], distances)
    metrics = motmetrics.metrics.create()
    wanted = ["mota", "idf1", "num_switches", "num_fragmentations", "precision", "recall"]
    summary = metrics.compute(accumulator, metrics=wanted, name="run")
    return {name: float(summary[name].iloc[0]) for name in wanted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--detectors", default="objects")
    parser.add_argument("--every", type=int, default=1, help="run the detectors every Nth frame")
    args = parser.parse_args()
    chain = [name.strip() for name in args.detectors.split(",") if name.strip()]
    for clip in load(args.dataset, ("people",)).people:
        fps, boxes = detections(clip.video, chain, args.every)
        print(f"{clip.video.name}: {len(boxes)} frames, {sum(map(len, boxes))} boxes from "
              f"{', '.join(chain)}; {len(clip.truth)} annotated frames")  # fmt: skip
        print(f"{'tracker':36} {'MOTA':>6} {'IDF1':>6} {'ID sw':>6} {'frag':>6} "
              f"{'prec':>6} {'recall':>6} {'ms/frame':>9}")  # fmt: skip
        for name, make in TRACKERS.items():
            update = make(fps)
            tracked: dict[int, list[tuple[int, Box]]] = {}
            started = time.perf_counter()
            for index, frame_boxes in enumerate(boxes):
                given = frame_boxes if make in SCORED else [box for box, _ in frame_boxes]
                tracked[index + 1] = update(given, index / fps)
            per_frame = (time.perf_counter() - started) * 1000 / max(len(boxes), 1)
            s = score(clip.truth, tracked)
            print(f"{name:36} {s['mota']:6.3f} {s['idf1']:6.3f} {s['num_switches']:6.0f} "
                  f"{s['num_fragmentations']:6.0f} {s['precision']:6.3f} {s['recall']:6.3f} "
                  f"{per_frame:9.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
