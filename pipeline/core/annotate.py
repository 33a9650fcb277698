"""Drawing detections and the frame's identity onto a picture, in one readable style."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import cv2
import numpy as np

from pipeline.core.label_style import caption, label_colour

FONT = cv2.FONT_HERSHEY_SIMPLEX


def _boxed_text(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
) -> None:
    thickness = max(1, round(scale * 1.6))
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    x, y = origin
    x = max(0, min(x, image.shape[1] - width - 4))  # keep the whole caption in the picture
    y = max(y, height + baseline + 2)
    cv2.rectangle(image, (x, y - height - baseline - 2), (x + width + 4, y + 2), colour, -1)
    cv2.putText(
        image, text, (x + 2, y - baseline + 1), FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA
    )


AXIS_COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0))  # BGR: x red, y green, z blue


def _draw_shapes(image: np.ndarray, detection: dict[str, Any], line: int) -> None:
    """What a detection draws besides its box, from its ``extra``: ``points`` (a face
    mesh) as dots, ``lines`` (a skeleton's bones, each x1, y1, x2, y2) as segments,
    ``axes`` (an origin and three axis tips: a head's pose) in red, green, blue."""
    extra = detection.get("extra") or {}
    colour = label_colour(detection["label"])
    try:  # a plugin's shapes that do not fit are not drawn, and cost nothing else
        if points := extra.get("points"):
            xy = np.asarray(points, dtype=np.int64).reshape(-1, 2)
            height, width = image.shape[:2]
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
            image[xy[inside, 1], xy[inside, 0]] = colour
        for x1, y1, x2, y2 in extra.get("lines") or ():
            cv2.line(image, (int(x1), int(y1)), (int(x2), int(y2)), colour, line, cv2.LINE_AA)
        axes = extra.get("axes")
        if axes and len(axes) == 4:
            origin = tuple(int(v) for v in axes[0])
            for tip, axis_colour in zip(axes[1:], AXIS_COLOURS, strict=True):
                end = tuple(int(v) for v in tip)
                cv2.line(image, origin, end, axis_colour, line + 1, cv2.LINE_AA)
    except (TypeError, ValueError, cv2.error):
        return


def annotate(
    image: np.ndarray,
    camera: str,
    seq: int,
    captured_at: float,
    detections: list[dict[str, Any]],
) -> np.ndarray:
    """Draw in place: one box and caption per detection, and a banner with the capture time."""
    scale = max(0.4, image.shape[0] / 900)
    line = max(1, round(image.shape[0] / 240))
    captions_at: dict[tuple[int, ...], int] = {}  # detections sharing a box stack their captions
    caption_height = cv2.getTextSize("Ag", FONT, scale, max(1, round(scale * 1.6)))[0][1] + 8
    for detection in detections:
        _draw_shapes(image, detection, line)
        box = detection.get("box")
        if not box:
            continue
        x, y, w, h = box
        colour = label_colour(detection["label"])
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, line)
        stacked = captions_at.get(tuple(box), 0)
        captions_at[tuple(box)] = stacked + 1
        top = y - 2 - stacked * caption_height
        if top < caption_height:  # no room above the box: stack down inside it
            top = y + (stacked + 1) * caption_height
        _boxed_text(image, caption(detection), (x, top), scale, colour)
    stamp = datetime.fromtimestamp(captured_at).strftime("%H:%M:%S.%f")[:-3]
    banner = f"{camera} #{seq} {stamp}"
    if detections:
        banner += f"  {len(detections)} found"
    _boxed_text(image, banner, (0, 0), scale, (255, 255, 255))
    return image


def drawn_jpeg(
    jpeg: bytes,
    camera: str,
    seq: int,
    captured_at: float,
    detections: list[dict[str, Any]],
    quality: int,
) -> bytes | None:
    """A page-drawn camera's picture (``annotate = "page"``) with its detections
    drawn in, for whoever watches it away from the page (clips, snapshots); None if
    it does not decode. A decode and an encode: for the frames asked for only. The
    JPEG's header size must have been checked against its envelope already."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    annotate(image, camera, seq, captured_at, detections)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return encoded.tobytes() if ok else None
