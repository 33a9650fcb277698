import math
import sys
import textwrap

import cv2
import numpy as np
import pytest

import detectors
from detectors import Detection, FrameContext
from detectors.base import ParamError, scaled
from pipeline.operations.evaluation.people import iou
from pipeline.roles.sources import SyntheticSource
from testkit.media import ASTRONAUT_FACE, BASKETBALL_LEFT_PLAYER, astronaut, basketball, overlap
from tests.conftest import make_config

FPS = 15.0


def context(seq: int = 1, found: list[Detection] | None = None) -> FrameContext:
    return FrameContext("cam1", seq, 1_700_000_000.0 + seq / FPS, list(found or []))


def run(names: list[str], image: np.ndarray, seq: int = 1, pipeline=None) -> list[Detection]:
    """Run detectors in order as a worker does, each seeing what the earlier ones found."""
    pipeline = pipeline or [detectors.create(n) for n in names]
    ctx = context(seq)
    for detector in pipeline:
        ctx.found.extend(detector.detect(image, ctx))
    return ctx.found


def labelled(found: list[Detection], label: str) -> list[Detection]:
    return [d for d in found if d.label == label]


def synthetic(camera_id: str = "cam1", width: int = 640, height: int = 480) -> SyntheticSource:
    config = make_config(
        [{"id": camera_id, "source": "synthetic", "width": width, "height": height}]
    )
    return SyntheticSource(config.cameras[0])


def jpeg_round_trip(image: np.ndarray, quality: int = 80) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


# --- codes -------------------------------------------------------------------------------


@pytest.mark.parametrize("camera_id", ["cam1", "front-door", "a" * 64])
def test_codes_reads_the_seq_the_synthetic_source_encoded(camera_id: str):
    source = synthetic(camera_id)
    codes = detectors.create("codes")
    for seq in (0, 17, 1795457993242):
        image = jpeg_round_trip(source.render(seq, 1_700_000_000.0 + seq % 1000))
        found = codes.detect(image, context(seq))
        assert [d.extra["text"] for d in labelled(found, "qr")] == [f"{camera_id}:{seq}"]
        _, _, w, h = found[0].box
        assert w >= 120 and h >= 120, "the code must be at least 120 px at 640x480"


def test_qr_still_decodes_from_a_half_size_thumbnail():
    source = synthetic("front-door")
    codes = detectors.create("codes")
    for seq in range(1795457993242, 1795457993252):
        image = jpeg_round_trip(source.render(seq, 1_700_000_000.0 + seq % 97))
        thumbnail = cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)
        found = labelled(codes.detect(thumbnail, context(seq)), "qr")
        assert [d.extra["text"] for d in found] == [f"front-door:{seq}"]


EAN_L = ["0001101", "0011001", "0010011", "0111101", "0100011",
         "0110001", "0101111", "0111011", "0110111", "0001011"]  # fmt: skip
EAN_PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG",
              "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]  # fmt: skip


def ean13(digits12: str, module: int = 3, height: int = 120) -> tuple[np.ndarray, str]:
    """Draw an EAN-13 barcode (with its check digit) as a real label printer would."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits12))
    code = digits12 + str((10 - total % 10) % 10)
    right = ["".join("1" if b == "0" else "0" for b in pattern) for pattern in EAN_L]
    bits = "101"
    for digit, parity in zip(code[1:7], EAN_PARITY[int(code[0])], strict=True):
        left = EAN_L[int(digit)]
        bits += left if parity == "L" else right[int(digit)][::-1]
    bits += "01010" + "".join(right[int(d)] for d in code[7:]) + "101"
    quiet = 12 * module
    image = np.full((height + 2 * quiet, len(bits) * module + 2 * quiet), 255, np.uint8)
    for index, bit in enumerate(bits):
        if bit == "1":
            x = quiet + index * module
            image[quiet : quiet + height, x : x + module] = 0
    return image, code


def test_codes_reads_a_barcode_and_a_qr_code_in_one_frame():
    frame = np.full((480, 640, 3), 200, np.uint8)
    barcode, text = ean13("590123412345", module=2)
    frame[40 : 40 + barcode.shape[0], 20 : 20 + barcode.shape[1]] = barcode[..., None]
    # As a camera sees a label: slightly soft, then JPEG-compressed.
    frame = jpeg_round_trip(cv2.GaussianBlur(frame, (3, 3), 0))
    qr = cv2.resize(cv2.QRCodeEncoder.create().encode("hello"), None, fx=6, fy=6,
                    interpolation=cv2.INTER_NEAREST)  # fmt: skip
    frame[280 : 280 + qr.shape[0], 450 : 450 + qr.shape[1]] = qr[..., None]
    found = detectors.create("codes").detect(frame, context())
    barcodes = labelled(found, "barcode")
    assert [d.extra["text"] for d in barcodes] == [text]
    assert barcodes[0].extra["type"] == "EAN_13"
    assert overlap(barcodes[0].box, (20, 40, barcode.shape[1], barcode.shape[0])) > 0.5
    assert [d.extra["text"] for d in labelled(found, "qr")] == ["hello"]


def test_codes_finds_nothing_on_a_blank_picture():
    assert detectors.create("codes").detect(np.zeros((240, 320, 3), np.uint8), context()) == []


# --- markers -----------------------------------------------------------------------------


def test_markers_reports_each_aruco_id_where_it_is():
    frame = np.full((480, 640, 3), 255, np.uint8)
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    placed = {7: (60, 80), 23: (380, 220)}
    for marker_id, (x, y) in placed.items():
        marker = cv2.aruco.generateImageMarker(dictionary, marker_id, 120)
        frame[y : y + 120, x : x + 120] = marker[..., None]
    found = detectors.create("markers").detect(frame, context())
    by_id = {d.extra["id"]: d.box for d in found}
    assert set(by_id) == {7, 23}
    for marker_id, (x, y) in placed.items():
        assert overlap(by_id[marker_id], (x, y, 120, 120)) > 0.8


def test_markers_rejects_an_unknown_dictionary():
    with pytest.raises(ParamError, match="unknown marker dictionary") as raised:
        detectors.create("markers", {"dictionary": "9X9_1"})
    assert raised.value.key == "dictionary"


# --- motion ------------------------------------------------------------------------------


def moving_square(step: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    image = np.full((240, 320, 3), 60, np.uint8)
    x, y = 20 + step * 6, 100
    cv2.rectangle(image, (x, y), (x + 40, y + 40), (255, 255, 255), -1)
    return image, (x, y, 40, 40)


def test_motion_boxes_the_moving_square_and_not_the_still_background():
    motion = detectors.create("motion", {"scale": 1.0})
    still = np.full((240, 320, 3), 60, np.uint8)
    for seq in range(20):
        assert motion.detect(still, context(seq)) == []
    for step in range(1, 15):
        image, truth = moving_square(step)
        found = motion.detect(image, context(20 + step))
    assert found, "the moving square was not detected"
    assert max(overlap(d.box, truth) for d in found) > 0.5, (found, truth)
    assert 0 < found[0].extra["fraction"] < 0.2


# --- faces, eyes, smiles on a real photograph ---------------------------------------------


def test_faces_finds_the_astronauts_face():
    faces = labelled(run(["faces"], astronaut()), "face")
    assert len(faces) == 1
    assert overlap(faces[0].box, ASTRONAUT_FACE) > 0.7
    assert 0 < faces[0].score <= 1


def test_faces_finds_nothing_in_an_empty_room():
    room = np.full((480, 640, 3), 180, np.uint8)
    assert run(["faces"], room) == []


def test_profile_faces_are_optional():
    assert "profile" not in str(run(["faces"], astronaut()))
    found = labelled(
        run([], astronaut(), pipeline=[detectors.create("faces", {"profile": True})]), "face"
    )
    assert any(overlap(d.box, ASTRONAUT_FACE) > 0.7 for d in found)


def close_eyes(image: np.ndarray, eyes: list[list[int]]) -> np.ndarray:
    """Paint lids over the eyes: skin from just below each eye, and a lash line."""
    out = image.copy()
    for x, y, w, h in eyes:
        skin = out[y + h + 4 : y + h + 10, x : x + w].reshape(-1, 3).mean(axis=0)
        cv2.rectangle(
            out, (x, y + h // 6), (x + w, y + h - h // 6), tuple(int(v) for v in skin), -1
        )
        cv2.line(out, (x + 3, y + h // 2), (x + w - 3, y + h // 2), (40, 30, 30), 2)
    return out


def test_eyes_open_on_the_photograph_and_closed_when_lids_are_painted():
    photo = astronaut()
    found = run(["faces", "eyes"], photo)
    open_eyes = labelled(found, "eyes_open")
    assert len(open_eyes) == 1 and len(open_eyes[0].extra["eyes"]) == 2
    for x, y, w, h in open_eyes[0].extra["eyes"]:
        assert overlap(ASTRONAUT_FACE, (x, y, w, h)) == 1.0  # inside the face
        assert y < ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3] / 2  # in its upper half
    closed = close_eyes(photo, open_eyes[0].extra["eyes"])
    assert labelled(run(["faces", "eyes"], closed), "eyes_closed")


def blink_sequence(closed_frames: int) -> list[Detection]:
    photo = astronaut()
    eyes = labelled(run(["faces", "eyes"], photo), "eyes_open")[0].extra["eyes"]
    closed = close_eyes(photo, eyes)
    pipeline = [detectors.create("faces"), detectors.create("eyes")]
    frames = [photo] * 4 + [closed] * closed_frames + [photo] * 4
    found = []
    for seq, frame in enumerate(frames):
        found += run([], frame, seq, pipeline)
    return found


def test_a_quick_closure_is_one_blink_event():
    found = blink_sequence(closed_frames=3)
    blinks = labelled(found, "blink")
    assert len(blinks) == 1
    assert blinks[0].event
    assert blinks[0].extra["closed_ms"] == pytest.approx(3 / FPS * 1000, abs=2)
    assert overlap(blinks[0].box, ASTRONAUT_FACE) > 0.7


def test_eyes_closed_for_seconds_is_not_a_blink():
    found = blink_sequence(closed_frames=int(2 * FPS))
    assert labelled(found, "blink") == []
    on_her_face = [
        d for d in labelled(found, "eyes_closed") if overlap(d.box, ASTRONAUT_FACE) > 0.7
    ]
    assert len(on_her_face) == int(2 * FPS)


def test_smiles_on_the_photograph_and_not_when_the_mouth_is_flat():
    photo = astronaut()
    found = run(["faces", "smiles"], photo)
    assert [d.label for d in found if d.label.endswith("smiling")] == ["smiling"]
    smile = labelled(found, "smiling")[0].extra["smile"]
    _, face_top, _, face_height = ASTRONAUT_FACE
    assert smile[1] > face_top + face_height / 2, "the smile is in the lower half of the face"
    x, y, w, h = labelled(found, "face")[0].box
    flat = photo.copy()
    skin = photo[y + int(h * 0.5) : y + int(h * 0.55), x + w // 3 : x + 2 * w // 3]
    colour = tuple(int(v) for v in skin.reshape(-1, 3).mean(axis=0))
    mouth = (x + w // 5, y + int(h * 0.68), x + w // 5 + int(w * 0.6), y + int(h * 0.88))
    cv2.rectangle(flat, mouth[:2], mouth[2:], colour, -1)
    lips = (mouth[1] + mouth[3]) // 2
    cv2.line(flat, (mouth[0] + 10, lips), (mouth[2] - 10, lips), (60, 50, 90), 2)
    assert [d.label for d in run(["faces", "smiles"], flat) if "smiling" in d.label] == [
        "not_smiling"
    ]


# --- people and falls ----------------------------------------------------------------------


def test_people_finds_the_player_in_the_photograph():
    people = labelled(run(["people"], basketball()), "person")
    assert people, "no person found"
    best = max(people, key=lambda d: iou(d.box, BASKETBALL_LEFT_PLAYER))
    # The person, not HOG's window around them; this player, close up with the ball held
    # out, is wider than the walkers the window's margins are made for (0.66 unshrunk).
    assert iou(best.box, BASKETBALL_LEFT_PLAYER) > 0.5
    assert best.score >= 0.3


def test_people_respects_min_score():
    strict = detectors.create("people", {"min_score": 0.99})
    assert strict.detect(basketball(), context()) == []


def fall_run(
    boxes: list[tuple[int, int, int, int] | None], label: str = "person"
) -> list[Detection]:
    """Feed a sequence of boxes (one per frame at 15 fps) to the fall detector."""
    fall = detectors.create("fall")
    found = []
    for seq, box in enumerate(boxes):
        given = [Detection(label, 1.0, box)] if box else []
        ctx = context(seq, given)
        found += fall.detect(np.zeros((480, 640, 3), np.uint8), ctx)
    return found


UPRIGHT = (300, 150, 60, 180)  # standing: tall and narrow
LYING = (250, 290, 170, 50)  # on the floor: wide, lower


def test_upright_then_lying_and_staying_down_is_one_fall():
    found = fall_run([UPRIGHT] * 15 + [(290, 220, 90, 100)] * 2 + [LYING] * 20)
    falls = labelled(found, "fall")
    assert len(falls) == 1 and falls[0].event
    assert falls[0].box == LYING
    # reported once confirm_s (0.5 s = 8 frames at 15 fps) after lying down
    assert falls[0].extra["down_s"] == pytest.approx(0.5, abs=0.07)
    assert len(labelled(found, "person_down")) > 5


def test_falls_again_only_after_getting_up():
    sequence = [UPRIGHT] * 10 + [LYING] * 15 + [UPRIGHT] * 10 + [LYING] * 15
    assert len(labelled(fall_run(sequence), "fall")) == 2
    assert len(labelled(fall_run([UPRIGHT] * 10 + [LYING] * 40), "fall")) == 1


def test_lying_down_briefly_or_without_having_stood_is_not_a_fall():
    assert labelled(fall_run([UPRIGHT] * 10 + [LYING] * 4 + [UPRIGHT] * 10), "fall") == []
    assert labelled(fall_run([LYING] * 40), "fall") == []
    # Lying down long after standing (a person going to bed slowly) is not a fall either.
    sitting = (300, 230, 80, 100)
    assert labelled(fall_run([UPRIGHT] * 5 + [sitting] * 60 + [LYING] * 20), "fall") == []


def test_fall_works_from_motion_boxes_too():
    assert len(labelled(fall_run([UPRIGHT] * 15 + [LYING] * 15, label="motion"), "fall")) == 1


def skeleton(down: float) -> Detection:
    """A person as ``pose`` reports them, ``down`` of the way from standing (0) to
    lying on the floor (1): the head drops 300 px of a 320 px body, the hips 140,
    the torso turns from vertical to flat."""
    head_y, hips_y = 100 + 300 * down, 250 + 140 * down
    angle = math.radians(90 * down)
    shoulders = (320 + 110 * math.sin(angle), hips_y - 110 * math.cos(angle))
    keypoints = np.zeros((33, 3), np.float32)
    keypoints[:11] = (320, head_y, 1.0)  # the face
    keypoints[[11, 12]] = (*shoulders, 1.0)
    keypoints[[23, 24]] = (320, hips_y, 1.0)
    top = int(min(head_y, shoulders[1])) - 10
    return Detection("person", 1.0, (250, top, 140, 410 - top), internal={"keypoints": keypoints})


def descend(seconds_down: float, stay_s: float, **params: float) -> list[Detection]:
    """Fall's findings (with ``pose`` before it, 15 fps) for a person who stands 2 s,
    gets from standing to the floor at an even pace in ``seconds_down``, and stays."""
    fall = detectors.create("fall", params)
    steps = [0.0] * int(2 * FPS)
    steps += [min(1.0, n / (seconds_down * FPS)) for n in range(int(seconds_down * FPS) + 1)]
    steps += [1.0] * int(stay_s * FPS)
    found = []
    for seq, down in enumerate(steps):
        ctx = FrameContext("cam1", seq, 1_700_000_000.0 + seq / FPS, [skeleton(down)], ["pose"])
        found += fall.detect(np.zeros((480, 640, 3), np.uint8), ctx)
    return found


def test_a_quick_descent_to_the_floor_is_a_fall_and_then_person_down():
    found = descend(0.5, stay_s=3)
    assert [d.label for d in found if d.event] == ["fall"]
    assert found[-1].label == "person_down"


def test_getting_down_on_purpose_is_no_fall_but_person_down_once_down_long_enough():
    # 2.5 s from standing to the floor: down_drop is reached in time for a candidate
    # (1.1 s after the head left its height), but the head gets near where it comes
    # to rest 1.35 s after, later than a fall lands.
    found = descend(2.5, stay_s=4, down_s=3.0)
    assert labelled(found, "fall") == []
    downs = labelled(found, "person_down")
    assert downs and not any(d.event for d in downs)
    # person_down comes once they have been down down_s, not before.
    first_down = next(i for i, d in enumerate(found) if d.label == "person_down")
    assert found[first_down].extra["down_s"] == pytest.approx(3.0, abs=0.1)
    # The same descent with max_fall_s above it is a fall: max_fall_s decides.
    assert len(labelled(descend(2.5, stay_s=4, max_fall_s=3.0), "fall")) == 1


# --- registry, ordering, plugins -------------------------------------------------------------


def test_registry_errors_are_clear():
    with pytest.raises(
        ParamError, match=r"unknown detector 'nope'.*available: blink, codes, emotion, eyes"
    ):
        detectors.create("nope")
    with pytest.raises(ParamError, match="unknown parameter") as raised:
        detectors.create("motion", {"speed": 2})
    assert raised.value.key == "speed"
    with pytest.raises(ParamError, match="must be a number"):
        detectors.create("motion", {"scale": "big"})


def test_order_rules():
    assert detectors.check_order(["faces", "eyes", "smiles"]) == []
    assert detectors.check_order(["motion", "fall"]) == []
    assert detectors.check_order(["people", "fall"]) == []
    problems = detectors.check_order(["eyes", "faces", "fall"])
    assert [index for index, _ in problems] == [0, 2]
    assert "'faces'" in problems[0][1]


def test_describe_lists_every_detector_with_parameters():
    rows = {row["name"]: row for row in detectors.describe()}
    assert {"motion", "codes", "faces", "eyes", "smiles", "people", "fall", "markers"} <= set(rows)
    assert any(p["name"] == "scale" for p in rows["people"]["params"])
    assert rows["eyes"]["stateful"] and rows["fall"]["stateful"] and rows["motion"]["stateful"]
    assert not rows["faces"]["stateful"] and not rows["codes"]["stateful"]


def test_plugins_are_found_through_entry_points_and_broken_ones_are_skipped(tmp_path, monkeypatch):
    (tmp_path / "rabbitcam_plugin_demo.py").write_text(
        textwrap.dedent(
            """
            from detectors.base import Detection, Detector, register

            @register
            class Brightness(Detector):
                name = "brightness_demo"
                description = "mean brightness"

                def detect(self, image, context):
                    return [Detection("bright", float(image.mean()) / 255)]
            """
        )
    )
    info = tmp_path / "rabbitcam_plugin_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rabbitcam-plugin-demo\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[rabbitcam.detectors]\nbrightness_demo = rabbitcam_plugin_demo\n"
        "broken_demo = rabbitcam_no_such_module:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        loaded = detectors.load_plugins()
        assert "brightness_demo" in loaded and "broken_demo" not in loaded
        assert "broken_demo" in detectors.FAILED_PLUGINS
        found = detectors.create("brightness_demo").detect(
            np.full((4, 4, 3), 255, np.uint8), context()
        )
        assert found[0].label == "bright" and found[0].score == 1.0
    finally:
        detectors.REGISTRY.pop("brightness_demo", None)
        detectors.FAILED_PLUGINS.pop("broken_demo", None)
        sys.modules.pop("rabbitcam_plugin_demo", None)


def test_scaling_by_halvings_is_the_same_box_average():
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for scale, size in ((0.5, (320, 240)), (0.25, (160, 120))):
        small = scaled(noise, scale)
        assert (small.shape[1], small.shape[0]) == size
        direct = cv2.resize(noise, size, interpolation=cv2.INTER_AREA)
        # A power of two: the same box average, rounded once per halving.
        assert np.abs(small.astype(int) - direct.astype(int)).max() <= 1, scale
    # Any other factor: halvings, then an area resize of the rest; on a photograph
    # the same picture as one area resize, within a level or two.
    photo = cv2.resize(astronaut(), (640, 480), interpolation=cv2.INTER_AREA)
    small = scaled(photo, 0.3)
    direct = cv2.resize(photo, (192, 144), interpolation=cv2.INTER_AREA)
    assert small.shape == direct.shape
    assert np.abs(small.astype(int) - direct.astype(int)).mean() < 2.0
    assert scaled(photo, 1.0) is photo


def test_a_plugin_declares_its_parameters_as_the_config_does():
    """The plugin of docs/cameras.md: a Params model of settings, validated once when
    the config loads (a bad value names the file and the key), handed over typed."""
    from declared.blocks import setting
    from detectors import Params, register
    from detectors.base import REGISTRY
    from pipeline.core.settings import ConfigError

    class PlateParams(Params):
        min_score: float = setting(0.6, "report plates at least this likely", 0.0, 1.0)
        countries: tuple[str, ...] = setting(("DE", "FR"), "plate formats to read")

    @register
    class PlateDetector(detectors.Detector):
        name = "plates"
        labels = ("plate",)
        Params = PlateParams

    try:
        camera = {"id": "gate", "source": "synthetic", "fps": 5,
                  "detectors": [{"name": "plates", "countries": ["NL"]}]}  # fmt: skip
        (spec,) = make_config([camera]).cameras[0].detectors
        assert spec.params == PlateParams(countries=("NL",))
        assert detectors.create("plates", spec.params).params.min_score == 0.6
        camera["detectors"] = [{"name": "plates", "min_score": 7}]
        with pytest.raises(ConfigError, match=r"cameras\[0\]\.detectors\[0\]\.min_score: must be "
                                              r"between 0\.0 and 1\.0, got 7"):  # fmt: skip
            make_config([camera])
        row = next(r for r in detectors.describe() if r["name"] == "plates")
        assert [p["name"] for p in row["params"]] == ["min_score", "countries"]
    finally:
        REGISTRY.pop("plates", None)
