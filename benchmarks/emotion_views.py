"""Choosing ``emotion``'s settings on one half of the labelled faces, confirmed on the other.

    python -m benchmarks.emotion_views DATASET [--views 1,2,4,6]

``DATASET/emotion`` (the layout of ``rabbitcam eval``) is split in two halves,
every other picture of each class (so both halves hold each class alike, in the
order of ``labels.csv``). Every combination of settings is measured on both; the
one with the best accuracy on the **tuning** half is the choice, and its figure
on the **checking** half is the one to believe (a gain that only the tuning half
shows belonged to those pictures). Then the halves swap roles, for a second
opinion. (``padding`` is not tried: the dataset's pictures are the face already
cut out, so there is nothing around it to add.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.operations.evaluation.dataset import LabelledImage, load
from pipeline.operations.evaluation.still import evaluate_emotions


def halves(images: list[LabelledImage]) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(tuning, checking): every other picture of each class."""
    tuning, checking = [], []
    seen: dict[str, int] = {}
    for image in images:
        place = seen.get(image.label, 0)
        seen[image.label] = place + 1
        (tuning if place % 2 == 0 else checking).append(image)
    return tuning, checking


def numbers(text: str, kind: type) -> list:
    return [kind(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--views", default="1,2,4,6", help="comma-separated view counts")
    args = parser.parse_args()
    tuning, checking = halves(load(args.dataset, ("emotion",)).emotions)
    print(f"faces: {len(tuning)} to tune on, {len(checking)} to check on")
    print(f"{'views':>5} {'tuning':>7} {'checking':>8} {'balanced (checking)':>20}")
    rows = []
    for views in numbers(args.views, int):
        overrides = {"emotion": {"views": views}}
        figures = [evaluate_emotions(part, overrides, lambda _line: None)[1]
                   for part in (tuning, checking)]  # fmt: skip
        rows.append((views, figures[0]["accuracy"], figures[1]["accuracy"]))
        print(f"{views:>5} {figures[0]['accuracy']:>7} {figures[1]['accuracy']:>8} "
              f"{figures[1]['balanced_accuracy']:>20}", flush=True)  # fmt: skip
    for tune, check, name in ((1, 2, "tuning"), (2, 1, "checking")):
        best = max(rows, key=lambda row: (row[tune], -row[0]))  # ties: fewer model runs
        print(f"chosen on the {name} half: views {best[0]} ({best[tune]}); on the other: "
              f"{best[check]}, where views 1 has {rows[0][check]}")  # fmt: skip


if __name__ == "__main__":
    main()
