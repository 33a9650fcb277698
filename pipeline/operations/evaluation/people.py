"""People: the chain's ``person`` boxes against MOT ground truth, on annotated frames.

A box found matches a true box at IoU >= ``IOU`` (greedily, best overlap first,
each box used once). Precision: matched found boxes / found boxes, less those
that match only a box marked "ignore" (MOT's conf 0); recall: matched true
boxes / true boxes that count.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from pipeline.operations.evaluation.chains import ChainRunner, build_chain, run_clip
from pipeline.operations.evaluation.dataset import PeopleClip

IOU = 0.5
PERSON = "person"
DEFAULT_CHAIN = ("objects",)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = min(ax + aw, bx + bw) - max(ax, bx)
    height = min(ay + ah, by + bh) - max(ay, by)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (aw * ah + bw * bh - inter)


def match_frame(
    found: list[tuple[float, ...]], truth: list[tuple[int, tuple[float, ...], bool]]
) -> tuple[int, int, int, list[float]]:
    """(true positives, false positives, misses, IoU of each match) in one frame."""
    pairs = sorted(
        ((iou(f, t[1]), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)),
        reverse=True,
    )
    used_found: set[int] = set()
    used_truth: set[int] = set()
    overlaps = []
    hits = ignored = 0
    for overlap, i, j in pairs:
        if overlap < IOU:
            break
        if i in used_found or j in used_truth:
            continue
        used_found.add(i)
        used_truth.add(j)
        if truth[j][2]:
            hits += 1
            overlaps.append(overlap)
        else:
            ignored += 1  # a box on someone MOT says not to count: neither right nor wrong
    counted = sum(1 for _, _, counts in truth if counts)
    return hits, len(found) - hits - ignored, counted - hits, overlaps


def evaluate(
    clips: list[PeopleClip], chain_names: list[str], overrides: dict,
    progress: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    rows = []
    for clip in clips:
        runner = ChainRunner(build_chain(chain_names, overrides))
        totals = [0, 0, 0]
        overlaps: list[float] = []
        costs = []
        for index, (_image, result) in enumerate(run_clip(runner, clip.video, hold_s=0.0)):
            truth = clip.truth.get(index + 1)
            if truth is None:
                continue  # not annotated: neither empty nor scored
            costs.append(result.cost_ms)
            found = [d.box for d in result.detections if d.label == PERSON and d.box]
            hits, false, missed, matched = match_frame(found, truth)
            for k, value in enumerate((hits, false, missed)):
                totals[k] += value
            overlaps.extend(matched)
            if len(costs) % 20 == 0:
                progress(f"people: {clip.video.name}: {len(costs)} annotated frames")
        hits, false, missed = totals
        rows.append({
            "clip": clip.video.name, "frames_scored": len(costs), "true_positives": hits,
            "false_positives": false, "misses": missed,
            "precision": round(hits / (hits + false), 3) if hits + false else None,
            "recall": round(hits / (hits + missed), 3) if hits + missed else None,
            "mean_iou": round(statistics.mean(overlaps), 3) if overlaps else None,
            "false_per_frame": round(false / len(costs), 2) if costs else None,
            "median_cost_ms": round(statistics.median(costs), 2) if costs else None,
        })  # fmt: skip
    hits = sum(r["true_positives"] for r in rows)
    false = sum(r["false_positives"] for r in rows)
    missed = sum(r["misses"] for r in rows)
    summary = {
        "iou": IOU,
        "precision": round(hits / (hits + false), 3) if hits + false else None,
        "recall": round(hits / (hits + missed), 3) if hits + missed else None,
    }
    return rows, summary
