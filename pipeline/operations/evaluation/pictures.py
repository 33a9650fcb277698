"""Pictures a person would rather look at than read: a timeline per clip, and a
confusion matrix. Drawn with OpenCV (already a dependency), written as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

WHITE, GREY, BLACK = (255, 255, 255), (200, 200, 200), (40, 40, 40)
# One colour per series, in order (BGR).
COLOURS = [(40, 40, 220), (200, 120, 0), (0, 150, 0), (160, 0, 160), (0, 140, 200), (90, 90, 90)]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def timeline(
    title: str,
    series: dict[str, list[tuple[float, float | None]]],
    duration_s: float,
    marks: Sequence[tuple[float, str, tuple[int, int, int]]] = (),
    spans: Sequence[tuple[float, float, tuple[int, int, int]]] = (),
    size: tuple[int, int] = (640, 240),
) -> np.ndarray:
    """One panel: each series (values 0..1, None for "not seen") a line over time,
    vertical marks (time, text, colour) and shaded spans (from, to, colour)."""
    width, height = size
    left, right, top, bottom = 8, 8, 34, 22
    panel = np.full((height, width, 3), 255, np.uint8)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(t: float) -> int:
        return left + int(plot_w * min(max(t / max(duration_s, 1e-6), 0.0), 1.0))

    def y_of(v: float) -> int:
        return top + int(plot_h * (1.0 - min(max(v, 0.0), 1.0)))

    for start, end, colour in spans:
        cv2.rectangle(panel, (x_of(start), top), (x_of(end), top + plot_h), colour, -1)
    for fraction in (0.0, 0.5, 1.0):
        cv2.line(panel, (left, y_of(fraction)), (left + plot_w, y_of(fraction)), GREY, 1)
    for second in range(int(duration_s) + 1):
        x = x_of(second)
        cv2.line(panel, (x, top + plot_h), (x, top + plot_h + 4), BLACK, 1)
        cv2.putText(panel, str(second), (x - 3, height - 6), FONT, 0.35, BLACK, 1, cv2.LINE_AA)
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        previous = None
        for t, value in points:
            point = None if value is None else (x_of(t), y_of(value))
            if point is not None and previous is not None:
                cv2.line(panel, previous, point, colour, 2, cv2.LINE_AA)
            elif point is not None:
                cv2.circle(panel, point, 1, colour, -1)
            previous = point
        cv2.putText(panel, name, (left + 4 + index * 110, top - 6), FONT, 0.4, colour, 1,
                    cv2.LINE_AA)  # fmt: skip
    for t, text, colour in marks:
        x = x_of(t)
        cv2.line(panel, (x, top), (x, top + plot_h), colour, 2)
        cv2.putText(panel, text, (min(x + 3, width - 60), top + 12), FONT, 0.4, colour, 1,
                    cv2.LINE_AA)  # fmt: skip
    cv2.putText(panel, title, (left, 14), FONT, 0.45, BLACK, 1, cv2.LINE_AA)
    return panel


def stack(panels: list[np.ndarray], columns: int = 2) -> np.ndarray:
    """Panels of one size in a grid, row by row."""
    if not panels:
        return np.full((10, 10, 3), 255, np.uint8)
    blank = np.full_like(panels[0], 255)
    padded = panels + [blank] * (-len(panels) % columns)
    rows = [np.hstack(padded[i : i + columns]) for i in range(0, len(padded), columns)]
    return np.vstack(rows)


def confusion_matrix(title: str, classes: Sequence[str], counts: np.ndarray) -> np.ndarray:
    """Rows: the true class; columns: the predicted one. Each cell shaded by the share
    of its row, with its count."""
    cell, label_w, top = 64, 90, 90
    size = len(classes)
    picture = np.full((top + cell * size + 20, label_w + cell * size + 20, 3), 255, np.uint8)
    for row in range(size):
        total = max(int(counts[row].sum()), 1)
        for column in range(size):
            share = counts[row, column] / total
            shade = int(255 - 200 * share)
            colour = (255, shade, shade) if row != column else (shade, 255, shade)
            x0, y0 = label_w + column * cell, top + row * cell
            cv2.rectangle(picture, (x0, y0), (x0 + cell, y0 + cell), colour, -1)
            cv2.rectangle(picture, (x0, y0), (x0 + cell, y0 + cell), GREY, 1)
            text = str(int(counts[row, column]))
            cv2.putText(picture, text, (x0 + 8, y0 + 38), FONT, 0.55, BLACK, 1, cv2.LINE_AA)
        cv2.putText(picture, classes[row], (4, top + row * cell + 38), FONT, 0.45, BLACK, 1,
                    cv2.LINE_AA)  # fmt: skip
    for column, name in enumerate(classes):
        x = label_w + column * cell + 4
        cv2.putText(picture, name[:8], (x, top - 8), FONT, 0.4, BLACK, 1, cv2.LINE_AA)
    cv2.putText(picture, title, (4, 18), FONT, 0.5, BLACK, 1, cv2.LINE_AA)
    cv2.putText(picture, "rows: true class; columns: predicted", (4, 40), FONT, 0.4, BLACK, 1,
                cv2.LINE_AA)  # fmt: skip
    return picture


def write_png(path: Path, picture: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", picture)
    if not ok:
        raise ValueError(f"{path}: could not be encoded")
    path.write_bytes(encoded.tobytes())
