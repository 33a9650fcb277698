"""Counting: what a camera's chain counts across its lines, against the true tracks.

The truth: each MOT track's feet (the bottom centre of its boxes, on the annotated
frames, boxes marked "ignore" left out) and a crossing wherever two of its
successive feet lie on either side of a line, through it (``Line.crossed``), by
direction. What is counted: the chain (by default ``objects`` then ``track``)
run on every frame of the clip with the lines as a camera's ``[[cameras.lines]]``,
adding up its ``crossed`` events. Per line and direction: truth, counted, and
the error as a share of the truth.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from typing import Any

from detectors.scene_rules import SceneRules, feet
from pipeline.operations.evaluation.chains import ChainRunner, build_chain, run_clip
from pipeline.operations.evaluation.dataset import PeopleClip

DEFAULT_CHAIN = ("objects", "track")
WAYS = ("in", "out")


def true_crossings(clip: PeopleClip) -> dict[tuple[str, str], int]:
    """(line, direction) -> how often the true tracks' feet cross it."""
    tracks: dict[int, list[tuple[float, float]]] = {}
    for frame in sorted(clip.truth):
        for ident, box, counts in clip.truth[frame]:
            if counts:
                tracks.setdefault(ident, []).append(feet(box))  # type: ignore[arg-type]
    crossings = {(line.name, way): 0 for line in clip.lines for way in WAYS}
    for path in tracks.values():
        for before, after in itertools.pairwise(path):
            for line in clip.lines:
                if way := line.crossed(before, after):
                    crossings[(line.name, way)] += 1
    return crossings


def counted_crossings(
    clip: PeopleClip, chain_names: list[str], overrides: dict, progress: Callable[[str], None]
) -> tuple[dict[tuple[str, str], int], float | None]:
    """(line, direction) -> the chain's 'crossed' events; and its median ms a frame."""
    runner = ChainRunner(build_chain(chain_names, overrides), rules=SceneRules(lines=clip.lines))
    counted = {(line.name, way): 0 for line in clip.lines for way in WAYS}
    costs = []
    for index, (_image, result) in enumerate(run_clip(runner, clip.video, hold_s=0.0)):
        costs.append(result.cost_ms)
        for detection in result.detections:
            if detection.label == "crossed" and detection.event:
                key = (str(detection.extra.get("line")), str(detection.extra.get("direction")))
                if key in counted:
                    counted[key] += 1
        if index and index % 100 == 0:
            progress(f"counting: {clip.video.name}: {index} frames")
    return counted, (round(statistics.median(costs), 2) if costs else None)


def evaluate(
    clips: list[PeopleClip], chain_names: list[str], overrides: dict,
    progress: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    rows = []
    for clip in clips:
        truth = true_crossings(clip)
        counted, cost = counted_crossings(clip, chain_names, overrides, progress)
        for line in clip.lines:
            row: dict[str, Any] = {"clip": clip.video.name, "line": line.name,
                                   "margin": line.margin,
                                   "median_cost_ms": cost}  # fmt: skip
            for way in (*WAYS, "total"):
                true = sum(truth[(line.name, w)] for w in WAYS) if way == "total" else (
                    truth[(line.name, way)])  # fmt: skip
                seen = sum(counted[(line.name, w)] for w in WAYS) if way == "total" else (
                    counted[(line.name, way)])  # fmt: skip
                row[way] = {"truth": true, "counted": seen, "error": _error(seen, true)}
            rows.append(row)
    totals = [row["total"]["error"] for row in rows if row["total"]["error"] is not None]
    ways = [row[w]["error"] for row in rows for w in WAYS if row[w]["error"] is not None]
    summary = {
        "lines": len(rows),
        "worst_total_error": max(map(abs, totals)) if totals else None,
        "worst_direction_error": max(map(abs, ways)) if ways else None,
        "truth": sum(row["total"]["truth"] for row in rows),
        "counted": sum(row["total"]["counted"] for row in rows),
    }
    return rows, summary


def _error(counted: int, truth: int) -> float | None:
    """The count's error as a share of the truth (None when the truth is 0)."""
    return round((counted - truth) / truth, 3) if truth else None
