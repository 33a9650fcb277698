"""The detections a page draws over a camera's own picture (``annotate = "page"``)."""

from __future__ import annotations

import json
import math
import time

import cv2
import numpy as np

from pipeline.core.annotate import drawn_jpeg
from pipeline.core.label_style import label_colour
from pipeline.core.messages import Result
from tests.conftest import make_config
from web.feed import CameraFeed
from web.overlay import MAX_ITEMS, MAX_LINES, MAX_POINTS, overlay_header

SCRIPT = "</script><script>alert(1)</script>\r\nX-Injected: yes"


def test_the_header_is_one_line_of_ascii_json_whatever_the_labels_say():
    detections = [
        {"label": "qr", "score": 1.0, "box": [10, 20, 30, 40], "extra": {"text": SCRIPT}},
        {"label": "person", "score": 0.8765, "box": [1, 2, 3, 4]},
        {"label": "bärchen ☃", "score": 1.0},
    ]
    header = overlay_header(detections, 640, 480)
    assert header.isascii() and "\r" not in header and "\n" not in header
    overlay = json.loads(header)
    assert (overlay["width"], overlay["height"]) == (640, 480)
    first, second, third = overlay["items"]
    assert first["box"] == [10, 20, 30, 40] and first["caption"] == f"qr {SCRIPT}"[:60]
    assert second["caption"] == "person 0.88"
    b, g, r = label_colour("person")
    assert second["colour"] == f"#{r:02x}{g:02x}{b:02x}", "the colour the picture would use"
    assert third["label"] == "bärchen ☃" and "box" not in third


def test_shapes_are_sent_in_frame_pixels_bounded_and_only_when_they_fit():
    mesh = [[x, x + 1] for x in range(478)]  # a face mesh
    detections = [
        {"label": "face-mesh", "extra": {"points": mesh}},
        {
            "label": "pose",
            "extra": {"lines": [[0, 0, 10, 10], [1, 2, 3], "x", [math.nan, 0, 1, 1]]},
        },
        {"label": "head-pose", "extra": {"axes": [[5, 5], [9, 5], [5, 1]]}},  # a tip short
        {"label": "flat", "extra": {"points": [1, 2, 3.6, 4.4]}},
    ]
    items = json.loads(overlay_header(detections, 64, 48))["items"]
    assert len(items[0]["points"]) == 478 and items[0]["points"][3] == [3, 4]
    assert items[1]["lines"] == [[0, 0, 10, 10]], "malformed segments are left out"
    assert "axes" not in items[2]
    assert items[3]["points"] == [[1, 2], [4, 4]]
    many = [{"label": "motion", "box": [i, i, 1, 1]} for i in range(MAX_ITEMS + 10)]
    assert len(json.loads(overlay_header(many, 64, 48))["items"]) == MAX_ITEMS
    # The bounds hold for the frame, not per detection: a flood of meshes and
    # skeletons (as a hostile publisher could send) stays a small header.
    flood = [
        {"label": "mesh", "extra": {"points": [[1000, 1000]] * 1000, "lines": [[1, 2, 3, 4]] * 200}}
        for _ in range(MAX_ITEMS)
    ]
    header = overlay_header(flood, 64, 48)
    items = json.loads(header)["items"]
    assert sum(len(item.get("points", [])) for item in items) == MAX_POINTS
    assert sum(len(item.get("lines", [])) for item in items) == MAX_LINES
    assert len(header) < 40_000, len(header)


def result(overlay: bool, detections: list) -> Result:
    jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 60, np.uint8))[1].tobytes()
    return Result("cam1", 9, 1.5, 640, 480, jpeg, detections, {}, "w", overlay=overlay)


def test_only_a_page_drawn_camera_s_parts_carry_the_overlay():
    camera = make_config([{"id": "cam1", "source": "synthetic"}]).cameras[0]
    box = [{"label": "motion", "score": 1.0, "box": [100, 100, 50, 50]}]
    for overlay in (False, True):
        feed = CameraFeed(camera)
        got = result(overlay, box)
        got.captured_at = time.time()
        assert feed.offer(got)
        head = feed.latest.part.split(b"\r\n\r\n", 1)[0]
        assert (b"X-Overlay: " in head) is overlay


def drawn(result: Result, quality: int) -> bytes | None:
    return drawn_jpeg(
        result.data, result.camera, result.seq, result.captured_at, result.detections, quality
    )


def test_clips_and_snapshots_of_a_page_drawn_camera_have_the_boxes_drawn_in():
    picture = drawn(
        result(True, [{"label": "motion", "score": 1.0, "box": [100, 100, 200, 150]}]), 90
    )
    image = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR)
    edge = image[175, 99:103].astype(int)  # the box's left side, at mid-height
    expected = np.array(label_colour("motion"))
    assert np.abs(edge - expected).max(axis=1).min() < 40, edge
    assert np.abs(image[175, 200].astype(int) - 60).max() < 8, "inside the box: the picture"
    assert (
        drawn(Result("cam1", 1, 1.5, 4, 4, b"\xff\xd8nope", [], {}, "w", overlay=True), 80) is None
    )
