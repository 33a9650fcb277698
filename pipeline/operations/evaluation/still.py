"""Kinds judged on single pictures: facial emotion (one face a picture, labelled with
its class) and head pose (yaw, pitch and roll in degrees).

Dataset pictures of faces are the face already cut out (FER-2013's 48x48 crops):
the chain is given the whole picture as the face a ``faces`` detector would
have found, and runs from the detector under test on.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from detectors import Detection
from pipeline.operations.evaluation.chains import ChainRunner, build_chain
from pipeline.operations.evaluation.dataset import EMOTIONS, LabelledImage, PoseImage

# Pictures smaller than this are enlarged first: the face detectors and mesh need room.
MIN_SIDE = 192


def _picture(path: Any) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: cannot be read as a picture")
    return image


def _whole_face(image: np.ndarray) -> Detection:
    height, width = image.shape[:2]
    return Detection("face", 1.0, (0, 0, width, height))


def evaluate_emotions(
    images: list[LabelledImage], overrides: dict, progress: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any], np.ndarray]:
    """Per picture (file, truth, predicted, probabilities); accuracy, balanced
    accuracy and per-class recall; the confusion matrix (rows: truth)."""
    runner = ChainRunner(build_chain(["emotion"], overrides, given=("faces",)))
    index = {name: i for i, name in enumerate(EMOTIONS)}
    confusion = np.zeros((len(EMOTIONS), len(EMOTIONS)), np.int64)
    rows, costs = [], []
    for number, item in enumerate(images, start=1):
        image = _picture(item.path)
        result = runner.run(image, number - 1, number - 1.0, seed=[_whole_face(image)])
        costs.append(result.cost_ms)
        said = [d for d in result.detections if d.label in index]
        predicted = said[0].label if said else None
        if predicted is not None:
            confusion[index[item.label], index[predicted]] += 1
        rows.append({"file": item.path.name, "label": item.label, "predicted": predicted})
        if number % 100 == 0 or number == len(images):
            progress(f"emotion: {number}/{len(images)}")
    per_class = {
        name: round(confusion[i, i] / confusion[i].sum(), 3) if confusion[i].sum() else None
        for name, i in index.items()
    }
    recalls = [value for value in per_class.values() if value is not None]
    summary = {
        "pictures": len(images),
        "accuracy": round(float(np.trace(confusion)) / max(len(images), 1), 3),
        "balanced_accuracy": round(statistics.mean(recalls), 3) if recalls else None,
        "recall_per_class": per_class,
        "no_answer": sum(1 for row in rows if row["predicted"] is None),
        "median_cost_ms": round(statistics.median(costs), 3) if costs else None,
    }
    return rows, summary, confusion


def evaluate_headposes(
    images: list[PoseImage], chain: list[str], overrides: dict, progress: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Mean absolute error of yaw, pitch and roll, over the pictures where a face was read."""
    runner = ChainRunner(build_chain(chain, overrides))
    rows = []
    for number, item in enumerate(images, start=1):
        image = _picture(item.path)
        if min(image.shape[:2]) < MIN_SIDE:
            scale = MIN_SIDE / min(image.shape[:2])
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        result = runner.run(image, number - 1, number - 1.0)
        poses = [d for d in result.detections if "yaw" in d.extra]
        row: dict[str, Any] = {"file": item.path.name, "truth": [item.yaw, item.pitch, item.roll]}
        if poses:
            found = poses[0].extra
            row["read"] = [found["yaw"], found["pitch"], found["roll"]]
        rows.append(row)
        if number % 50 == 0 or number == len(images):
            progress(f"headpose: {number}/{len(images)}")
    read = [row for row in rows if "read" in row]
    errors = {
        angle: round(statistics.mean(abs(r["read"][i] - r["truth"][i]) for r in read), 2)
        if read else None
        for i, angle in enumerate(("yaw", "pitch", "roll"))
    }  # fmt: skip
    return rows, {"pictures": len(images), "faces_read": len(read), "mae_deg": errors}
