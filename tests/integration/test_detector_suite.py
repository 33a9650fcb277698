"""Detectors configured per camera, run by real workers on real video, over the real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pika

from pipeline.core.messages import Frame, pack
from pipeline.core.topology import Topology
from pipeline.roles.capture import CaptureWorker
from pipeline.roles.detect import DetectorWorker
from testkit.media import astronaut, media_file
from testkit.processes import wait_for
from tests.conftest import make_config
from tests.integration.conftest import queue_counts, wait_for_consumers
from tests.unit.test_detectors import close_eyes

ROOT = Path(__file__).resolve().parents[2]


def blink_video(path: Path, fps: int = 15) -> Path:
    """A real face that blinks every second: 12 frames open, 3 frames closed."""
    photo = cv2.resize(astronaut(), (640, 640))[80:560]  # 640x480, face kept whole
    import detectors

    ctx = detectors.FrameContext("x", 0, 0.0)
    ctx.found += detectors.create("faces").detect(photo, ctx)
    eyes = detectors.create("eyes").detect(photo, ctx)[0].extra["eyes"]
    closed = close_eyes(photo, eyes)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for _ in range(4):
        for frame in [photo] * 12 + [closed] * 3:
            writer.write(frame)
    writer.release()
    return path


def site_events(
    config_file: Path, label: str, count: int, roles, why_ordered: str
) -> tuple[list[dict], str]:
    """Run the config's camera (a capture and a detector worker, in threads) while
    `rabbitcam events` tails ``label``; return the events it printed, and its log.
    The camera must be ordered: its detectors keep state (``why_ordered``)."""
    from pipeline.core.config import load_config

    config = load_config(config_file)
    camera = config.cameras[0]
    assert camera.ordered, f"{why_ordered}: the camera must be ordered"
    tail_log = config_file.with_suffix(".tail.log")
    tail = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "events", str(config_file), "--camera", camera.id,
         "--label", label, "--count", str(count)],
        stdout=subprocess.PIPE, stderr=tail_log.open("w"), text=True,
    )  # fmt: skip
    try:
        # Events flow only once the tail has bound its queue.
        wait_for(lambda: "events: listening for" in tail_log.read_text(), timeout=30)
        roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
        roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")
        out, _ = tail.communicate(timeout=40)
    finally:
        tail.kill()
    return [json.loads(line) for line in out.splitlines()], tail_log.read_text()


def test_blinks_on_video_reach_the_events_cli(namespace, roles, tmp_path):
    video = blink_video(tmp_path / "blink.avi")
    config_file = tmp_path / "site.toml"
    config_file.write_text(
        f"""
[broker]
namespace = "{namespace}"
[[cameras]]
id = "cam1"
source = "{video.name}"
fps = 15
detectors = ["faces", "eyes", "smiles"]
"""
    )
    events, log = site_events(config_file, "blink", 2, roles, "eyes keep state")
    assert len(events) == 2, log[-2000:]
    for event in events:
        assert event["camera"] == "cam1" and event["label"] == "blink" and event["event"] is True
        # 3 closed frames of a 15 fps file: about 200 ms, give or take a frame of pacing
        assert 100 <= event["extra"]["closed_ms"] <= 400, event


def test_people_on_pedestrian_video_are_boxed_in_results(namespace, roles, result_tap):
    config = make_config(
        [
            {
                "id": "cam1",
                "source": str(media_file("vtest.avi")),
                "fps": 10,
                "detectors": [{"name": "people", "scale": 1.0}, "motion", "fall"],
            }
        ],
        namespace=namespace,
    )
    camera = config.cameras[0]
    tap = result_tap("cam1")
    roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
    roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")
    with_people = []

    def collect() -> bool:
        while (result := tap.take()) is not None:
            people = [d for d in result.detections if d["label"] == "person"]
            if people:
                with_people.append((result, people))
        return len(with_people) >= 5

    wait_for(collect, timeout=40)
    for result, people in with_people:
        assert {"detect.people_ms", "detect.motion_ms", "detect.fall_ms"} <= set(result.timings)
        for person in people:
            x, y, w, h = person["box"]
            assert h > w, "a walking person's box is taller than wide"
            assert x >= 0 and x + w <= 640 + 8 and 0 <= y < 480


def worker_process(config_file: Path, worker_id: str, namespace: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "detect", str(config_file), "--worker-id", worker_id],
        env={**os.environ, "RABBITCAM_NAMESPACE": namespace},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_ordered_camera_single_worker_in_order_and_failover(
    broker_url, namespace, result_tap, tmp_path
):
    config_file = tmp_path / "site.toml"
    config_file.write_text(
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\ndetectors = ["motion"]\n'
    )
    topology = Topology(namespace)
    tap = result_tap("cam1")
    first = worker_process(config_file, "first", namespace)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    wait_for_consumers(connection, topology.frame_queue("cam1"), 1)
    second = worker_process(config_file, "second", namespace)
    wait_for_consumers(connection, topology.frame_queue("cam1"), 2)
    channel = connection.channel()
    image = cv2.imencode(".jpg", np.zeros((480, 640, 3), np.uint8))[1].tobytes()
    seq = 0
    results = []

    def publish(count: int) -> None:
        """Publish at 15 fps, collecting results as they come (they expire after 1 s)."""
        nonlocal seq
        for _ in range(count):
            seq += 1
            frame = Frame("cam1", seq, time.time(), 640, 480, image)
            channel.basic_publish(topology.frames_exchange, "cam1", pack(frame))
            connection.sleep(1 / 15)
            while (result := tap.take()) is not None:
                results.append(result)

    try:
        publish(45)
        assert len(results) >= 40, len(results)
        assert {r.worker for r in results} == {"first"}, "only the active consumer gets frames"
        seqs = [r.seq for r in results]
        assert seqs == sorted(seqs), "an ordered camera's frames are processed in order"

        first.send_signal(signal.SIGKILL)
        first.wait(5)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 10 and results[-1].worker != "second":
            publish(1)
        takeover_s = time.monotonic() - killed_at
        assert results[-1].worker == "second", "the standby never took over"
        assert takeover_s < 5, f"takeover took {takeover_s:.1f}s"
        print(f"\nsingle-active-consumer takeover after SIGKILL: {takeover_s:.2f}s")
        publish(15)
        later = [r for r in results if r.worker == "second"]
        assert len(later) >= 12
        assert [r.seq for r in later] == sorted(r.seq for r in later)
        assert queue_counts(connection, topology.frame_queue("cam1"))[1] == 1
    finally:
        for process in (first, second):
            process.kill()
            process.wait(5)
        connection.close()


def test_a_fall_in_the_fall_scene_reaches_the_events_cli(namespace, roles, tmp_path):
    """pose + fall in a real worker, on a synthetic camera showing a real person who
    falls every 12 s: one ``fall`` event, from the skeleton, reaches `rabbitcam events`."""
    config_file = tmp_path / "site.toml"
    config_file.write_text(
        f'[broker]\nnamespace = "{namespace}"\n[[cameras]]\nid = "cam1"\nsource = "synthetic"\n'
        'scene = "fall"\nqr = false\nfps = 15\ndetectors = ["pose", "fall"]\n'
    )
    events, log = site_events(config_file, "fall", 1, roles, "pose and fall follow people")
    assert len(events) == 1, log[-2000:]
    (event,) = events
    assert event["label"] == "fall" and event["event"] is True
    assert event["extra"]["drop"] > 0.55, "judged from the skeleton: the head went down"


def test_faces_in_the_portrait_scene_get_mesh_pose_and_emotion(namespace, roles, result_tap):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "scene": "portrait", "qr": False, "fps": 10,
          "detectors": ["landmarks", "headpose", "emotion", "blink"]}],
        namespace=namespace,
    )  # fmt: skip
    camera = config.cameras[0]
    tap = result_tap("cam1")
    roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
    roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")
    seen = []

    def a_smiling_face() -> bool:
        while (result := tap.take()) is not None:
            labels = {d["label"]: d for d in result.detections}
            if {"face_mesh", "happy"} <= set(labels):
                seen.append((result, labels))
        return bool(seen)

    wait_for(a_smiling_face, timeout=30)
    result, labels = seen[0]
    assert len(labels["face_mesh"]["extra"]["points"]) == 468
    pose = next(d for d in result.detections if d["label"].startswith("looking_"))
    assert {"yaw", "pitch", "roll", "axes"} <= set(pose["extra"])
    assert {"detect.landmarks_ms", "detect.headpose_ms", "detect.emotion_ms"} <= set(result.timings)
