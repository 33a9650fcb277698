"""What the ``pose`` + ``fall`` chain costs a frame, the fall rule of another commit beside
this one's, in one run on one machine.

    python -m benchmarks.falls [--before REV] [--dataset DIR] [--rounds N]

Each frame goes through ``pose`` once; both fall rules then judge the same
skeletons, in alternating order, so that they see the same machine at the same
moment. Frames: the demo's fall scene at 640x480 (one 12 s cycle), and with
``--dataset`` the clips of a dataset's ``fall/`` folder as well. Prints the median
milliseconds a frame of pose, of each rule, and the chain's ratio after/before.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

import detectors
from detectors import FrameContext
from detectors.base import REGISTRY
from testkit.datasets import fall_scene

ROOT = Path(__file__).resolve().parent.parent
# The rule to compare with: by default the last commit's (a change in the working tree,
# measured beside the code before it). An old rule is loaded beside this tree's
# detectors, so it must speak their interface: revisions before detector parameters
# became declared models (7ca354b) cannot be; ``benchmarks.detectors`` run in a
# checkout of each compares those.
DEFAULT_BEFORE = "HEAD"


def rule_at(revision: str) -> type:
    """The FallDetector class of ``detectors/fall.py`` at a commit, loaded beside this one's."""
    source = subprocess.run(
        ["git", "show", f"{revision}:detectors/fall.py"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    current = REGISTRY.pop("fall")
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
            handle.write(source)
        spec = importlib.util.spec_from_file_location("fall_before", handle.name)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module.FallDetector
    finally:
        REGISTRY["fall"] = current
        Path(handle.name).unlink(missing_ok=True)


def clips(dataset: Path | None) -> list[tuple[str, list, float]]:
    found = [("demo fall scene", fall_scene(0.0, 12.0), 15.0)]
    if dataset is not None:
        from pipeline.operations.evaluation.chains import video_frames
        from pipeline.operations.evaluation.dataset import load

        for clip in load(dataset, ("fall",)).falls:
            _, frames = video_frames(clip.path)
            found.append((clip.name, list(frames), clip.fps))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="commit of the rule to compare")
    parser.add_argument("--dataset", type=Path, help="also the clips of DATASET/fall")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the frames")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    before_class = rule_at(args.before)
    pose_ms, after_ms, before_ms = [], [], []
    frames_seen = 0
    for _round in range(args.rounds):
        for _name, frames, fps in clips(args.dataset):
            pose = detectors.create("pose")
            rules = {"after": detectors.create("fall"),
                     "before": before_class(before_class.Params())}  # fmt: skip
            for index, image in enumerate(frames):
                at = 1_800_000_000 + index / fps
                context = FrameContext("bench", index, at)
                started = time.perf_counter()
                context.found.extend(pose.detect(image, context))
                pose_ms.append((time.perf_counter() - started) * 1000)
                context.ran.append("pose")
                order = ("after", "before") if index % 2 else ("before", "after")
                for name in order:
                    started = time.perf_counter()
                    rules[name].detect(image, context)
                    elapsed = (time.perf_counter() - started) * 1000
                    (after_ms if name == "after" else before_ms).append(elapsed)
                frames_seen += 1
    pose_median = statistics.median(pose_ms)
    after, before = statistics.median(after_ms), statistics.median(before_ms)
    print(f"frames: {frames_seen} ({args.rounds} rounds); fall rule before = {args.before}")
    print(f"pose                 {pose_median:8.3f} ms a frame (median)")
    print(f"fall, this commit    {after:8.3f} ms")
    print(f"fall, {args.before:<13} {before:8.3f} ms")
    ratio = (pose_median + after) / (pose_median + before)
    print(f"chain pose+fall, after / before: {ratio:.3f}x (target <= 1.3x)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
