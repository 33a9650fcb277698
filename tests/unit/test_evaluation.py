"""``rabbitcam eval`` and ``rabbitcam replay`` on a dataset the project makes itself:
each figure counts what it says (a known miss as a miss, a known false alarm as
one), bad datasets are refused by file and line, and nothing half-written stays."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

import detectors
from pipeline.operations.evaluation.dataset import EMOTIONS, FallClip
from pipeline.operations.evaluation.falls import score_clip
from pipeline.operations.evaluation.people import match_frame
from testkit.datasets import CLIPS, face, make_dataset
from testkit.processes import rabbitcam_command


def rabbitcam(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*rabbitcam_command(), *args], capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> tuple[dict, Path, str]:
    root = tmp_path_factory.mktemp("dataset")
    said = detectors.create("emotion").classify(face())
    predicted = EMOTIONS[int(np.argmax(said))]
    other = next(label for label in EMOTIONS if label != predicted)
    make_dataset(root, face_labels=(predicted, other))
    out = root / "results"
    run = rabbitcam("eval", str(root), "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), out, run.stdout


def test_a_caught_fall_a_known_miss_and_a_known_false_alarm_are_counted(evaluated):
    report, _out, printed = evaluated
    clips = {clip["clip"]: clip for clip in report["kinds"]["fall"]["clips"]}
    assert set(clips) == set(CLIPS)
    caught = clips["falls.mp4"]
    assert caught["caught"] and 0 <= caught["delay_s"] <= 2.5 and caught["false_alarms"] == 0
    assert not clips["walks.mp4"]["caught"] and clips["walks.mp4"]["delay_s"] is None
    assert clips["lies_down.mp4"]["false_alarms"] >= 1
    assert clips["walks_only.mp4"]["false_alarms"] == 0
    summary = report["kinds"]["fall"]["summary"]
    assert summary["fall_clips"] == 2 and summary["caught"] == 1 and summary["recall"] == 0.5
    assert summary["daily_clips"] == 2 and summary["daily_clips_with_false_alarm"] == 1
    assert summary["median_delay_s"] == pytest.approx(caught["delay_s"], abs=0.005)
    footage_h = sum(clip["seconds"] for clip in clips.values()) / 3600
    assert summary["false_alarms_per_hour"] == round(summary["false_alarms"] / footage_h, 1)
    assert "recall 0.5 (1/2)" in printed and "MISSED" in printed and "FALSE ALARM" in printed


def test_emotion_accuracy_and_its_confusion_matrix(evaluated):
    report, out, _printed = evaluated
    emotion = report["kinds"]["emotion"]
    # The same face twice: labelled with what the model says, then with another class.
    assert emotion["summary"]["accuracy"] == 0.5
    confusion = np.array(emotion["confusion"])
    assert confusion.sum() == 2 and np.trace(confusion) == 1
    for name in ("emotion-confusion.png", "fall-timelines.png"):
        picture = cv2.imread(str(out / name))
        assert picture is not None and picture.shape[0] > 100, name


def test_fall_scoring_rules():
    fall = FallClip(Path("a.mp4"), "fall", 15.0, 3.0, None)
    daily = FallClip(Path("b.mp4"), "not_fall", 15.0, None, None)
    assert score_clip(fall, [4.5]) == (True, 1.5, 0)
    assert score_clip(fall, [2.2]) == (True, -0.8, 0)  # up to 1 s before the onset counts
    assert score_clip(fall, [1.0, 4.0]) == (True, 1.0, 1)  # the early one is a false alarm
    assert score_clip(fall, [1.0]) == (False, None, 1)
    assert score_clip(fall, []) == (False, None, 0)
    assert score_clip(daily, [5.0, 9.0]) == (False, None, 2)


def test_people_matching_at_iou_half():
    truth = [(1, (0, 0, 10, 20), True), (2, (100, 0, 10, 20), True), (3, (200, 0, 10, 20), False)]
    found = [(1, 1, 10, 20), (201, 0, 10, 20), (300, 0, 5, 5), (100, 8, 10, 20)]
    hits, false, missed, overlaps = match_frame(found, truth)
    # (1,1) matches person 1; the box on the "ignore" person 3 is neither; (100, 8) overlaps
    # person 2 by 12/28 < 0.5: a miss and a false box; (300, 0) is false.
    assert (hits, false, missed) == (1, 2, 1) and len(overlaps) == 1


def _labels(root: Path, rows: list[str]) -> None:
    (root / "fall").mkdir(parents=True, exist_ok=True)
    header = "file,label,fall_frame,fall_time_s,fps,frames\n"
    (root / "fall" / "labels.csv").write_text(header + "".join(f"{r}\n" for r in rows))


def test_a_bad_dataset_is_refused_by_file_and_line_and_nothing_is_written(tmp_path):
    root = tmp_path / "bad"
    _labels(root, ["gone.mp4,fall,3,0.2,15,30", "x.mp4,tumble,,,15,30", "x.mp4,fall,3,0.2,15,30"])
    (root / "fall" / "x.mp4").write_text("not a video")
    out = tmp_path / "out"
    run = rabbitcam("eval", str(root), "--out", str(out))
    labels = root / "fall" / "labels.csv"
    assert run.returncode == 2
    assert f"{labels}:2: gone.mp4 is missing" in run.stderr
    assert f"{labels}:3: label must be fall or not_fall, got 'tumble'" in run.stderr
    assert f"{labels}:4: x.mp4 cannot be opened as a video" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_replay_prints_each_detection_and_writes_the_drawn_video(tmp_path):
    root = make_dataset(tmp_path / "data")
    video = root / "fall" / "falls.mp4"
    out = tmp_path / "replayed.mp4"
    run = rabbitcam("replay", str(video), "--detectors", "pose,fall", "--out", str(out),
                    "--hold-s", "3")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    falls = [line for line in lines if line["label"] == "fall"]
    assert len(falls) == 1 and falls[0]["event"] is True
    assert {"frame", "time_s", "box"} <= set(falls[0])
    capture = cv2.VideoCapture(str(out))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert frames >= 100, frames  # 5 s and 3 s held, at 15 fps
    refused = rabbitcam("replay", str(video), "--detectors", "pose,nope")
    assert refused.returncode == 2 and "unknown detector 'nope'" in refused.stderr
    nowhere = rabbitcam("replay", str(video), "--detectors", "motion", "--out",
                        str(tmp_path / "missing" / "x.mp4"))  # fmt: skip
    assert nowhere.returncode == 2 and "No such file or directory" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr


def test_eval_writes_only_a_folder_of_its_own(tmp_path, monkeypatch):
    """``--out`` never empties or writes through what it did not write: a link to a
    folder, someone's folder, the working folder; its own results it replaces whole."""
    import stat

    from pipeline.operations.evaluation.run import OutError, _write, check_out

    out = tmp_path / "results"
    _write(out, {"n": 1}, {})
    assert json.loads((out / "results.json").read_text()) == {"n": 1}
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~_current_umask(), "not left 0700"
    _write(out, {"n": 2}, {})
    assert json.loads((out / "results.json").read_text()) == {"n": 2}, "its own: replaced"

    kept = tmp_path / "photos"
    kept.mkdir()
    (kept / "holiday.jpg").write_bytes(b"mine")
    link = tmp_path / "link"
    link.symlink_to(kept)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for target, said in ((kept, "was not written by rabbitcam eval"), (link, "is a link"),
                         (Path("."), "holds the working folder"),
                         (Path(".."), "holds the working folder")):  # fmt: skip
        with pytest.raises(OutError, match=said):
            check_out(target)
        with pytest.raises(OutError):
            _write(target, {"n": 3}, {})
    assert sorted(p.name for p in kept.iterdir()) == ["holiday.jpg"]
    refused = rabbitcam("eval", str(tmp_path), "--out", str(link))
    assert refused.returncode == 2 and "is a link" in refused.stderr, refused.stderr[-500:]


def _current_umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_replay_refuses_a_video_too_small_to_write_and_says_why(tmp_path):
    video = tmp_path / "tiny.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1, 1))
    for index in range(10):
        writer.write(np.full((1, 1, 3), index * 20, np.uint8))
    writer.release()
    run = rabbitcam("replay", str(video), "--detectors", "motion", "--out",
                    str(tmp_path / "tiny.mp4"))  # fmt: skip
    assert run.returncode == 2 and "is 1x1: an MP4 needs at least 2x2 pixels" in run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.avi"], "no scratch left"
    assert rabbitcam("replay", str(video), "--detectors", "motion").returncode == 0


def test_counting_compares_a_cameras_line_counts_with_the_true_tracks(tmp_path):
    """The walking player crosses the gate once (out) and never the floor line below
    his feet: the truth from his true boxes, the count from a detector and track (HOG's
    people: NanoDet does not take a photograph pasted on a backdrop for a person)."""
    from testkit.datasets import make_counting_dataset

    root = make_counting_dataset(tmp_path / "data")
    run = rabbitcam("eval", str(root), "--kinds", "counting", "--count-detectors", "people,track",
                    "--out", str(tmp_path / "out"))  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    part = json.loads((tmp_path / "out" / "results.json").read_text())["kinds"]["counting"]
    rows = {row["line"]: row for row in part["lines"]}
    assert rows["gate"]["out"] == {"truth": 1, "counted": 1, "error": 0.0}
    assert rows["gate"]["in"] == {"truth": 0, "counted": 0, "error": None}
    assert rows["floor"]["total"]["truth"] == rows["floor"]["total"]["counted"] == 0
    assert "gate" in run.stdout and "total 1/1 (+0%)" in run.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "x", "points": [[0, 0]]}]')
    refused = rabbitcam("eval", str(root), "--kinds", "counting", "--lines", str(bad),
                        "--out", str(tmp_path / "out2"))  # fmt: skip
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert f"{bad}: [0].points: must be two [x, y] points, got 1" in refused.stderr
    bad.write_text('[{"name": "x", "points": [[5, 5], [5, 5]]}]')  # no length: no sides
    refused = rabbitcam("eval", str(root), "--kinds", "counting", "--lines", str(bad),
                        "--out", str(tmp_path / "out3"))  # fmt: skip
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert f"{bad}: [0].points: its two ends are the same point" in refused.stderr


def test_replay_runs_a_configured_cameras_whole_chain_and_prints_its_events(tmp_path):
    """An operator checks a line on a recorded clip before trusting it live."""
    from testkit.datasets import GATE_X, make_counting_dataset

    root = make_counting_dataset(tmp_path / "data")
    video = root / "people" / "walk.mp4"
    site = tmp_path / "site.toml"
    site.write_text(
        f'[[cameras]]\nid = "hall"\nsource = "{video}"\nwidth = 640\nheight = 480\n'
        'detectors = ["people", "track"]\n'
        f'[[cameras.lines]]\nname = "gate"\npoints = [[{GATE_X}, 60], [{GATE_X}, 470]]\n'
    )
    run = rabbitcam("replay", str(video), "--config", str(site), "--camera", "hall",
                    "--out", str(tmp_path / "hall.mp4"))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert all(event.get("event") for event in events), "events only, not every box"
    crossed = [e for e in events if e["label"] == "crossed"]
    assert [(e["extra"]["line"], e["extra"]["direction"]) for e in crossed] == [("gate", "out")]
    assert any(e["label"] == "person" for e in events), "the person's start"
    assert (tmp_path / "hall.mp4").stat().st_size > 0
    nobody = rabbitcam("replay", str(video), "--config", str(site), "--camera", "porch")
    assert nobody.returncode == 2 and "no camera 'porch' (it has: hall)" in nobody.stderr
    both = rabbitcam("replay", str(video), "--config", str(site), "--camera", "hall",
                     "--detectors", "motion")  # fmt: skip
    assert both.returncode == 2 and "give --detectors, or --camera" in both.stderr
