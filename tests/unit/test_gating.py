"""Detectors gated by an earlier one (``when``) and run on its regions only (``region``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors import Detection, FrameContext
from pipeline.core.camera_config import CameraConfig, DetectorSpec, SourceSpec
from pipeline.core.config import load_config
from pipeline.core.messages import Frame
from pipeline.core.settings import ConfigError
from pipeline.roles.chain import REGION_MIN_SIDE, DetectorChain, regions, shifted
from pipeline.roles.detect import decode_image
from testkit.media import mostly_static_hallway, overlap


def chain_of(*specs: DetectorSpec) -> DetectorChain:
    camera = CameraConfig(id="cam1", source=SourceSpec("synthetic", ""), detectors=specs)

    def fail(name: str, error: Exception) -> None:
        raise AssertionError(f"{name}: {error}")

    return DetectorChain(camera, fail)


def run_over(chain: DetectorChain, footage) -> list:
    outcomes = []
    for n, (frame, has_people) in enumerate(footage):
        context = FrameContext("cam1", n, 1_700_000_000 + n / 15)
        outcomes.append((chain.run(frame, context, {}, lambda _n, found: found), has_people))
    return outcomes


def test_config_reads_when_and_region(tmp_path: Path):
    config = tmp_path / "site.toml"
    config.write_text(
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\ndetectors = ["motion", '
        '{ name = "people", region = "motion", scale = 1.0 }, '
        '{ name = "faces", when = "people" }]\n'
    )
    people, faces = load_config(config).cameras[0].detectors[1:]
    assert (people.when, people.region) == ("motion", "motion")
    assert people.params.model_dump(exclude_unset=True) == {"scale": 1.0}
    assert (faces.when, faces.region) == ("people", None)


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ('{ name = "people", when = "faces" }', "when"),  # not listed before it
        ('{ name = "people", when = 3 }', "when"),
        ('{ name = "people", region = "people" }', "region"),
        ('{ name = "people", when = "motion", region = "codes" }', "region"),
    ],
)
def test_config_refuses_gates_on_what_is_not_before(tmp_path: Path, entry: str, key: str):
    config = tmp_path / "site.toml"
    config.write_text(
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\n'
        f'detectors = ["motion", "codes", {entry}]\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert f"{config}: cameras[0].detectors[2].{key}: must name" in str(raised.value)


def test_regions_are_padded_grown_and_merged():
    assert regions([], 640, 480) == []
    (alone,) = regions([(300, 200, 40, 100)], 640, 480)
    assert alone[2] - alone[0] >= REGION_MIN_SIDE and alone[3] - alone[1] >= REGION_MIN_SIDE
    assert alone[0] <= 290 and alone[2] >= 350  # padded around the box
    (merged,) = regions([(100, 100, 50, 50), (180, 120, 50, 50)], 640, 480)  # overlapping pads
    assert merged[0] <= 100 and merged[2] >= 230
    apart = regions([(10, 10, 30, 30), (500, 350, 30, 30)], 640, 480)
    assert len(apart) == 2
    (edge,) = regions([(620, 460, 30, 30)], 640, 480)
    assert edge[2] == 640 and edge[3] == 480  # clipped to the frame


def test_a_detection_found_in_a_crop_moves_to_the_frame():
    found = Detection(
        "person", 1.0, (5, 6, 10, 20), {"keypoints": [[1.0, 2.0, 0.9]], "lines": [[1, 2, 3, 4]]},
        internal={"keypoints": np.array([[1.0, 2.0, 0.9]])},
    )  # fmt: skip
    moved = shifted(found, 100, 50)
    assert moved.box == (105, 56, 10, 20)
    assert moved.extra["keypoints"] == [[101.0, 52.0, 0.9]]
    assert moved.extra["lines"] == [[101, 52, 103, 54]]
    assert moved.internal["keypoints"].tolist() == [[101.0, 52.0, 0.9]]


@pytest.fixture(scope="module")
def hallway():
    return mostly_static_hallway(quiet=40, busy=10, rounds=1)


def test_people_skip_the_quiet_frames_and_say_so(hallway):
    outcomes = run_over(
        chain_of(DetectorSpec("motion"), DetectorSpec("people", when="motion")), hallway
    )
    quiet = [o for o, busy in outcomes[10:40] if not busy]  # after the background is learnt
    assert sum("people" in o.skipped for o in quiet) >= 0.8 * len(quiet)
    assert all(("people" in o.ran) != ("people" in o.skipped) for o, _ in outcomes)
    busy = [o for o, has in outcomes if has]
    assert sum("people" in o.ran for o in busy) == len(busy), "people move: people must run"


def test_people_on_moving_regions_find_who_they_find_on_the_whole_frame(hallway):
    gated = run_over(
        chain_of(DetectorSpec("motion"), DetectorSpec("people", when="motion", region="motion")),
        hallway,
    )
    whole = run_over(chain_of(DetectorSpec("motion"), DetectorSpec("people")), hallway)
    boxed_gated = boxed_whole = 0
    for (g, has), (w, _) in zip(gated, whole, strict=True):
        if not has:
            continue
        found_g = [d.box for d in g.found if d.label == "person"]
        found_w = [d.box for d in w.found if d.label == "person"]
        boxed_gated += bool(found_g)
        boxed_whole += bool(found_w)
        for box in found_g:  # in frame coordinates: where the whole-frame run finds people
            x, y, bw, bh = box
            assert x >= 0 and x + bw <= 640 and y >= 0 and y + bh <= 480
            if found_w:
                assert max(overlap(box, other) for other in found_w) > 0.3 or any(
                    overlap(other, box) > 0.3 for other in found_w
                )
    assert boxed_gated >= 0.95 * boxed_whole, (boxed_gated, boxed_whole)


def test_results_carry_what_ran_and_what_was_skipped():
    from pipeline.core.messages import MessageError, Result, pack, unpack

    result = Result(
        "cam1", 1, 1.0, 4, 2, b"\xff\xd8", [], {}, "w", ran=["motion"], skipped=["people"]
    )
    unpacked = unpack(pack(result), Result)
    assert (unpacked.ran, unpacked.skipped) == (["motion"], ["people"])
    result.skipped = ["x" * 100]
    with pytest.raises(MessageError, match=r"'skipped\[0\]' must be of length <= 64"):
        unpack(pack(result), Result)


def test_a_chain_that_reads_a_quarter_lets_the_picture_be_decoded_at_a_quarter():
    def reduction(*specs: DetectorSpec) -> int:
        return chain_of(*specs).reduction()

    assert reduction(DetectorSpec("motion")) == 4, "motion reads at 0.25 by default"
    assert reduction(DetectorSpec("motion", {"scale": 0.5})) == 2
    assert reduction(DetectorSpec("motion", {"scale": 0.3})) == 2
    assert reduction(DetectorSpec("motion", {"scale": 0.1})) == 8
    assert reduction(DetectorSpec("motion", {"scale": 1.0})) == 1
    assert reduction(DetectorSpec("motion"), DetectorSpec("people", when="motion")) == 1


def test_motion_on_a_picture_decoded_small_finds_what_it_finds_on_the_full_one(hallway):
    """The worker's reduced decode (libjpeg's DCT scaling) against a full decode
    scaled down: the same frames move, with boxes in frame pixels either way."""
    full, small = chain_of(DetectorSpec("motion")), chain_of(DetectorSpec("motion"))
    moved_full, moved_small, differences = [], [], []
    for n, (picture, _) in enumerate(hallway):
        jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        frame = Frame("cam1", n, 1.0 + n, picture.shape[1], picture.shape[0], jpeg)
        quarter = decode_image(frame, 4)
        assert quarter.shape[:2] == (-(-picture.shape[0] // 4), -(-picture.shape[1] // 4))
        at_full = full.run(
            decode_image(frame), FrameContext("cam1", n, 1.0 + n), {}, lambda _n, f: f
        ).found
        at_quarter = small.run(
            quarter, FrameContext("cam1", n, 1.0 + n, scale=0.25), {}, lambda _n, f: f
        ).found
        moved_full.append(bool(at_full))
        moved_small.append(bool(at_quarter))
        if at_full and at_quarter:
            biggest = [
                max(found, key=lambda d: d.box[2] * d.box[3]).box for found in (at_full, at_quarter)
            ]
            differences.append(max(abs(a - b) for a, b in zip(*biggest, strict=True)))
    assert sum(moved_full) >= 10 and sum(moved_full[1:40]) == 0, moved_full
    agree = sum(a == b for a, b in zip(moved_full, moved_small, strict=True))
    assert agree >= 0.95 * len(hallway), (moved_full, moved_small)
    assert differences and np.median(differences) <= 8, differences
