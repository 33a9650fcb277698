"""Capture → frame queue → detector → results → streamer hub, on the real broker."""

from __future__ import annotations

import json
import time

import cv2
import msgpack
import numpy as np
import pika

from pipeline.core.messages import Frame, pack
from pipeline.core.topology import Topology
from pipeline.roles.capture import CaptureWorker
from pipeline.roles.detect import INLINE_AFTER, INLINE_UNDER_MS, DetectorWorker
from testkit.processes import wait_for
from tests.conftest import make_config
from tests.integration.conftest import queue_counts, wait_for_consumers
from web.hub import FrameHub


def test_synthetic_frame_arrives_annotated_with_its_own_seq(namespace, roles):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "fps": 10, "detectors": ["codes", "motion"]}],
        namespace=namespace,
    )
    hub = FrameHub(config)
    hub.start()
    try:
        wait_for(hub.connected.is_set, timeout=10)
        camera = config.cameras[0]
        roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
        roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")
        feed = hub.feed("cam1")
        shown = wait_for(lambda: feed.latest, timeout=20).result
        frame = wait_for(
            lambda: feed.latest.result if feed.latest.result.seq > shown.seq else None, timeout=10
        )

        texts = [d["extra"]["text"] for d in frame.detections if d["label"] == "qr"]
        assert texts == [f"cam1:{frame.seq}"], "codes must read the seq of this very frame"
        image = cv2.imdecode(np.frombuffer(frame.data, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)
        assert frame.worker == "w1"
        for stage in ("capture.encode_ms", "queue_ms", "detect.codes_ms", "detect.total_ms"):
            assert stage in frame.timings, stage
        assert 0 < time.time() - frame.captured_at < 2
        wait_for(lambda: feed.status is not None and feed.status.state == "live", timeout=5)
        assert feed.state() == "live"
    finally:
        hub.close()


def test_two_workers_share_one_camera_without_processing_a_frame_twice(
    namespace, roles, result_tap
):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "fps": 20, "detectors": ["codes"]}],
        namespace=namespace,
    )
    camera = config.cameras[0]
    tap = result_tap("cam1")
    roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect-1")
    roles.start(DetectorWorker(config, [camera], roles.stop, "w2").run, "detect-2")
    roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")

    results = []

    def collect() -> bool:
        while (result := tap.take()) is not None:
            results.append(result)
        return len(results) >= 60

    wait_for(collect, timeout=40)
    seqs = [r.seq for r in results]
    assert len(seqs) == len(set(seqs)), "a frame was processed twice"
    by_worker = {w: sum(r.worker == w for r in results) for w in ("w1", "w2")}
    assert by_worker["w1"] > 5 and by_worker["w2"] > 5, by_worker
    for result in results:
        qr = [d["extra"]["text"] for d in result.detections if d["label"] == "qr"]
        assert qr == [f"cam1:{result.seq}"]


def test_frame_queue_without_consumer_never_exceeds_its_bound(broker_url, namespace, roles):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "fps": 30, "queue_length": 3, "direct": False}],
        namespace=namespace,
    )
    capture = CaptureWorker(config, config.cameras[0], roles.stop)
    roles.start(capture.run, "capture")
    wait_for(lambda: capture.counters.published >= 10, timeout=15)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    queue = Topology(namespace).frame_queue("cam1")
    depths = []
    while capture.counters.published < 60:
        depths.append(queue_counts(connection, queue)[0])
        time.sleep(0.05)
    connection.close()
    assert max(depths) <= 3, depths
    assert max(depths) >= 1


def test_malformed_message_is_dead_lettered_and_worker_keeps_serving(
    broker_url, namespace, roles, result_tap
):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "direct": False}], namespace=namespace
    )
    camera = config.cameras[0]
    topology = Topology(namespace)
    tap = result_tap("cam1")
    worker = DetectorWorker(config, [camera], roles.stop, "w1")
    roles.start(worker.run, "detect")

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()
    wait_for_consumers(connection, topology.frame_queue("cam1"))
    channel.queue_purge(topology.dead_queue)

    image = np.zeros((480, 640, 3), np.uint8)
    good = Frame("cam1", 5, time.time(), 640, 480, cv2.imencode(".jpg", image)[1].tobytes())
    bad_jpeg = Frame("cam1", 6, time.time(), 640, 480, b"not a jpeg at all")
    messages = [
        (b"\xc1 never-used byte", "not valid msgpack"),
        (msgpack.packb({"v": 9}), "unsupported wire version"),
        (pack(bad_jpeg), "not a decodable JPEG"),
    ]
    for body, _reason in messages:
        channel.basic_publish(topology.frames_exchange, "cam1", body)
        # The queue holds 2: wait until the worker has taken each one.
        wait_for(lambda: queue_counts(connection, topology.frame_queue("cam1"))[0] == 0)
    good.captured_at = time.time()
    channel.basic_publish(topology.frames_exchange, "cam1", pack(good))

    result = wait_for(tap.take, timeout=10)
    assert result.seq == 5

    dead = []

    def collect_dead() -> bool:
        method, properties, body = channel.basic_get(topology.dead_queue, auto_ack=True)
        if method:
            dead.append((properties.headers, body))
        return len(dead) == len(messages)

    wait_for(collect_dead, timeout=10)
    for (headers, body), (sent, reason) in zip(dead, messages, strict=True):
        assert body == sent
        assert reason in headers["x-rabbitcam-reason"]
        assert headers["x-rabbitcam-source"] == topology.frame_queue("cam1")
    assert worker.counters.rejected == 3 and worker.counters.processed == 1
    connection.close()


def test_stale_frames_are_acked_and_counted_not_processed(broker_url, namespace, roles, result_tap):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "max_age_ms": 500, "direct": False}],
        namespace=namespace,
    )
    topology = Topology(namespace)
    tap = result_tap("cam1")
    worker = DetectorWorker(config, list(config.cameras), roles.stop, "w1")
    roles.start(worker.run, "detect")
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()
    wait_for_consumers(connection, topology.frame_queue("cam1"))
    image = cv2.imencode(".jpg", np.zeros((480, 640, 3), np.uint8))[1].tobytes()
    old = Frame("cam1", 1, time.time() - 5, 640, 480, image)
    channel.basic_publish(topology.frames_exchange, "cam1", pack(old))
    wait_for(lambda: worker.counters.stale == 1, timeout=10)
    assert tap.take() is None and worker.counters.processed == 0
    assert (
        channel.queue_declare(topology.frame_queue("cam1"), passive=True).method.message_count == 0
    )
    connection.close()


def test_passthrough_camera_forwards_the_jpeg_untouched(broker_url, namespace, roles, result_tap):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "annotate": False, "direct": False}],
        namespace=namespace,
    )
    topology = Topology(namespace)
    tap = result_tap("cam1")
    roles.start(DetectorWorker(config, list(config.cameras), roles.stop, "w1").run, "detect")
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    wait_for_consumers(connection, topology.frame_queue("cam1"))
    jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()
    frame = Frame("cam1", 7, time.time(), 640, 480, jpeg)
    connection.channel().basic_publish(topology.frames_exchange, "cam1", pack(frame))
    result = wait_for(tap.take, timeout=10)
    assert result.data == jpeg, "a pass-through result carries the camera's own bytes"
    assert result.seq == 7 and result.detections == [] and result.worker == "w1"
    connection.close()


def test_a_page_drawn_camera_gets_its_own_jpeg_back_with_the_boxes_beside_it(
    broker_url, namespace, roles, result_tap
):
    """``annotate = "page"``: the worker detects but draws nothing and encodes
    nothing; the streamer puts the detections in the frame's part for the page."""
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "annotate": "page", "detectors": ["motion"]}],
        namespace=namespace,
    )
    camera = config.cameras[0]
    assert camera.drawing == "page" and camera.ordered
    topology = Topology(namespace)
    tap = result_tap("cam1")
    hub = FrameHub(config)
    hub.start()
    roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        wait_for_consumers(connection, topology.frame_queue("cam1"))
        wait_for(hub.connected.is_set, timeout=10)
        channel = connection.channel()
        still = np.full((480, 640, 3), 90, np.uint8)
        moved = still.copy()
        cv2.rectangle(moved, (200, 160), (320, 280), (250, 250, 250), -1)
        for seq, image in enumerate((still, still, still, moved), start=1):
            jpeg = cv2.imencode(".jpg", image)[1].tobytes()
            frame = Frame("cam1", seq, time.time(), 640, 480, jpeg)
            channel.basic_publish(topology.frames_exchange, "cam1", pack(frame))
            result = wait_for(tap.take, timeout=10)
            assert result.seq == seq and result.overlay
            assert result.data == jpeg, "the camera's own bytes: nothing drawn, nothing re-encoded"
        boxes = [d["box"] for d in result.detections if d["label"] == "motion"]
        assert boxes, result.detections
        x, y, w, h = boxes[0]
        assert x <= 205 and y <= 165 and x + w >= 315 and y + h >= 275, boxes

        shown = wait_for(
            lambda: (f := hub.feed("cam1").latest) is not None and f.result.seq == 4 and f
        )
        head = shown.part.split(b"\r\n\r\n", 1)[0].decode("ascii")
        overlay = json.loads(head.split("X-Overlay: ", 1)[1].split("\r\n", 1)[0])
        assert (overlay["width"], overlay["height"]) == (640, 480)
        assert [item["box"] for item in overlay["items"]] == boxes
        assert overlay["items"][0]["caption"].startswith("motion")
    finally:
        connection.close()
        hub.close()


def test_a_cheap_camera_is_processed_on_the_io_thread_a_slow_one_never(
    broker_url, namespace, roles, result_tap
):
    """Motion frames, once proven cheap, skip the hand-off to the processing thread;
    a camera whose frames take longer keeps it (and so the heartbeats keep going)."""
    config = make_config(
        [
            {"id": "cam1", "source": "synthetic", "annotate": "page", "detectors": ["motion"]},
            {
                "id": "cam2",
                "source": "synthetic",
                "annotate": "page",
                "detectors": [{"name": "slow", "ms": int(INLINE_UNDER_MS * 2)}],
            },
        ],
        namespace=namespace,
    )
    cheap, slow = config.cameras
    topology = Topology(namespace)
    taps = {camera.id: result_tap(camera.id) for camera in config.cameras}
    workers = {
        camera.id: DetectorWorker(config, [camera], roles.stop, f"w-{camera.id}")
        for camera in (cheap, slow)
    }
    for camera_id, worker in workers.items():
        roles.start(worker.run, f"detect-{camera_id}")
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        for camera in config.cameras:
            wait_for_consumers(connection, topology.frame_queue(camera.id))
        frames = INLINE_AFTER + 12
        motion_seen = []
        for seq in range(1, frames + 1):
            image = np.full((480, 640, 3), 90, np.uint8)
            cv2.rectangle(image, (10 * seq, 100), (10 * seq + 80, 200), (250, 250, 250), -1)
            jpeg = cv2.imencode(".jpg", image)[1].tobytes()
            for camera in config.cameras:
                frame = Frame(camera.id, seq, time.time(), 640, 480, jpeg)
                channel.basic_publish(topology.frames_exchange, camera.id, pack(frame))
                result = wait_for(taps[camera.id].take, timeout=10)
                assert result.seq == seq and result.data == jpeg
                if camera is cheap:
                    motion_seen += [d for d in result.detections if d["label"] == "motion"]
        assert len(motion_seen) >= frames // 2, "motion still detected on the I/O thread"
        assert workers["cam2"].counters.inline == 0
        assert workers["cam2"].counters.processed == frames
        cheap_counters = workers["cam1"].counters
        assert cheap_counters.processed == frames
        # Its first INLINE_AFTER frames prove it cheap; a frame slowed past the bound
        # by a busy machine sends the next ones back to the thread for a while.
        assert frames // 2 <= cheap_counters.inline <= frames - INLINE_AFTER, cheap_counters
    finally:
        connection.close()
