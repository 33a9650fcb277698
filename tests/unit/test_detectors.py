import cv2
import numpy as np
import pytest

import detectors
from detectors.base import ParamError
from pipeline.sources import SyntheticSource
from tests.conftest import make_config


def synthetic(camera_id: str = "cam1", width: int = 640, height: int = 480) -> SyntheticSource:
    config = make_config(
        [{"id": camera_id, "source": "synthetic", "width": width, "height": height}]
    )
    return SyntheticSource(config.cameras[0])


def jpeg_round_trip(image: np.ndarray, quality: int = 80) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


@pytest.mark.parametrize("camera_id", ["cam1", "front-door", "a" * 64])
def test_codes_reads_the_seq_the_synthetic_source_encoded(camera_id: str):
    source = synthetic(camera_id)
    codes = detectors.create("codes")
    for seq in (0, 17, 1795457993242):
        image = jpeg_round_trip(source.render(seq, 1_700_000_000.0 + seq % 1000))
        found = codes.detect(image)
        assert [d.extra["text"] for d in found] == [f"{camera_id}:{seq}"]
        _, _, w, h = found[0].box
        assert w >= 120 and h >= 120, "the code must be at least 120 px at 640x480"


def test_qr_still_decodes_from_a_half_size_thumbnail():
    source = synthetic("front-door")
    codes = detectors.create("codes")
    for seq in range(1795457993242, 1795457993252):
        image = jpeg_round_trip(source.render(seq, 1_700_000_000.0 + seq % 97))
        thumbnail = cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)
        assert [d.extra["text"] for d in codes.detect(thumbnail)] == [f"front-door:{seq}"]


def test_codes_finds_nothing_on_a_blank_picture():
    assert detectors.create("codes").detect(np.zeros((240, 320, 3), np.uint8)) == []


def moving_square(step: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    image = np.full((240, 320, 3), 60, np.uint8)
    x, y = 20 + step * 6, 100
    cv2.rectangle(image, (x, y), (x + 40, y + 40), (255, 255, 255), -1)
    return image, (x, y, 40, 40)


def overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0, min(ay + ah, by + bh) - max(ay, by))
    return width * height / float(bw * bh)


def test_motion_boxes_the_moving_square_and_not_the_still_background():
    motion = detectors.create("motion", {"scale": 1.0})
    still = np.full((240, 320, 3), 60, np.uint8)
    for _ in range(20):
        assert motion.detect(still) == []
    for step in range(1, 15):
        image, truth = moving_square(step)
        found = motion.detect(image)
    assert found, "the moving square was not detected"
    best = max(overlap(d.box, truth) for d in found)
    assert best > 0.5, (found, truth)
    assert 0 < found[0].extra["fraction"] < 0.2


def test_registry_errors_are_clear():
    with pytest.raises(ParamError, match=r"unknown detector 'nope'.*available: codes, motion"):
        detectors.create("nope")
    with pytest.raises(ParamError, match="unknown parameter") as raised:
        detectors.create("motion", {"speed": 2})
    assert raised.value.key == "speed"
    with pytest.raises(ParamError, match="must be float"):
        detectors.create("motion", {"scale": "big"})


def test_describe_lists_parameters():
    rows = {row["name"]: row for row in detectors.describe()}
    assert {"motion", "codes"} <= set(rows)
    assert any(p["name"] == "scale" for p in rows["motion"]["params"])
    assert rows["motion"]["stateful"] is True
