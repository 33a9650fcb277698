"""``rabbitcam replay VIDEO --detectors pose,fall``: one video through a chain.

What a user does after an alarm that never came (or one that should not have):
every frame goes through the camera's chain, as a detector worker would run it,
timed by the video's frame rate; each detection is printed as a JSON line, and
with ``--out`` the frames are written as an MP4 with what was found drawn in.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import cv2

from pipeline.core.annotate import annotate
from pipeline.operations.evaluation.chains import (
    EPOCH,
    ChainRunner,
    VideoError,
    run_clip,
)
from pipeline.roles.chain import DetectorChain
from pipeline.roles.clips import ClipWriter

JPEG_QUALITY = 90


def replay(
    video: Path,
    chain: DetectorChain,
    out: Path | None = None,
    fps: float | None = None,
    hold_s: float = 0.0,
    stream: TextIO = sys.stdout,
    events_only: bool = False,
) -> dict[str, int]:
    """Run ``chain`` (``build_chain``'s, or a camera's own with ``camera_chain``) over
    ``video``; print a JSON line per detection (per event, with ``events_only``); write
    ``out``. Returns how many frames and detections (and events) there were."""
    runner = ChainRunner(chain)
    scratch = _scratch_beside(out) if out is not None else None
    writer = ClipWriter(scratch) if scratch is not None else None
    counts = {"frames": 0, "detections": 0, "events": 0}
    try:
        for image, result in run_clip(runner, video, fps, hold_s):
            counts["frames"] += 1
            found = [d.to_dict() for d in result.detections]
            for detection in found:
                if events_only and not detection.get("event"):
                    continue
                line = {"frame": result.index, "time_s": round(result.at, 3), **detection}
                if result.held:
                    line["held"] = True
                stream.write(json.dumps(line, allow_nan=False) + "\n")
                counts["detections"] += 1
                counts["events"] += bool(detection.get("event"))
            if writer is not None:
                if min(image.shape[:2]) < 2:
                    size = f"{image.shape[1]}x{image.shape[0]}"
                    raise VideoError(f"{video.name} is {size}: an MP4 needs at least 2x2 "
                                     "pixels (replay it without --out)")  # fmt: skip
                drawn = annotate(image.copy(), video.stem, result.index + 1, EPOCH + result.at,
                                 found)  # fmt: skip
                ok, jpeg = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if ok:
                    writer.add(jpeg.tobytes(), EPOCH + result.at)
        if writer is not None and scratch is not None and out is not None:
            writer.close()
            scratch.replace(out)
    except BaseException:
        if writer is not None:
            writer.abandon()
        if scratch is not None:
            scratch.unlink(missing_ok=True)
        raise
    for error in sorted(set(runner.errors)):
        print(f"rabbitcam: replay: detector error: {error}", file=sys.stderr)
    return counts


def _scratch_beside(out: Path) -> Path:
    """A new file of our own beside ``out`` (never one someone put there: a link
    planted at a fixed scratch name would be written through)."""
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial.mp4", dir=out.parent)
    os.close(fd)
    return Path(name)
