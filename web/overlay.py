"""What a page draws over a camera's own picture (``annotate = "page"``).

The worker then sends the camera's JPEG untouched, with its detections beside
it; the streamer puts them in each MJPEG part as one ``X-Overlay`` header, so
that a page draws exactly the boxes of the frame it shows (the part carries
both). The header is JSON with ASCII escapes: no byte of a label or a code's
text can end the header line, and the page puts every string in as text.

Only what a picture would show is sent, in frame pixels, bounded in number
for the whole frame (a header stays under about 40 KB whatever a detector or a
publisher sends): boxes with their caption and colour, and the shapes
``annotate`` draws from a detection's ``extra`` (``points`` of a face mesh,
``lines`` of a skeleton, ``axes`` of a head's pose).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pipeline.core.label_style import caption, label_colour
from pipeline.core.text import is_number

# For one frame, all detections together: four face meshes, sixteen skeletons.
MAX_ITEMS = 64
MAX_POINTS = 2048
MAX_LINES = 256


def _hex(label: str) -> str:
    b, g, r = label_colour(label)
    return f"#{r:02x}{g:02x}{b:02x}"


def _ints(values: Any, count: int) -> list[int] | None:
    """``count`` finite numbers as ints, or None if they are not that."""
    if not isinstance(values, list | tuple) or len(values) != count:
        return None
    out = []
    for value in values:
        if not is_number(value) or not math.isfinite(value) or abs(value) > 1_000_000:
            return None
        out.append(round(value))
    return out


def _shapes(extra: dict[str, Any], budget: dict[str, int]) -> dict[str, list[list[int]]]:
    """The drawable shapes of a detection's ``extra``, within what is left of the
    frame's ``budget`` (which they use up); what does not fit is left out."""
    shapes: dict[str, list[list[int]]] = {}
    for key, size in (("points", 2), ("lines", 4), ("axes", 2)):
        raw = extra.get(key)
        if not isinstance(raw, list) or not raw:
            continue
        if key == "points" and not isinstance(raw[0], list | tuple):
            raw = [raw[i : i + 2] for i in range(0, len(raw), 2)]  # a flat x, y, x, y list
        limit = 4 if key == "axes" else budget[key]
        kept = [shape for item in raw[:limit] if (shape := _ints(item, size)) is not None]
        if key == "axes" and len(kept) != 4:
            continue  # an origin and three tips, or nothing
        if kept:
            shapes[key] = kept
            if key in budget:
                budget[key] -= len(kept)
    return shapes


def overlay_items(detections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each detection as the page draws it: label, caption, colour, box, shapes."""
    items = []
    budget = {"points": MAX_POINTS, "lines": MAX_LINES}
    for detection in detections[:MAX_ITEMS]:
        label = detection["label"]
        item: dict[str, Any] = {
            "label": label,
            "caption": caption(detection),
            "colour": _hex(label),
        }
        box = _ints(detection.get("box"), 4)
        if box is not None:
            item["box"] = box
        extra = detection.get("extra")
        if isinstance(extra, dict):
            item.update(_shapes(extra, budget))
        items.append(item)
    return items


def overlay_header(detections: list[dict[str, Any]], width: int, height: int) -> str:
    """The ``X-Overlay`` header's value: one line of ASCII JSON."""
    body = {"width": width, "height": height, "items": overlay_items(detections)}
    return json.dumps(body, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
