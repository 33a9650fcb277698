"""Cameras without detectors go from capture straight to the viewers; one capture
process serves several cameras, and one that hangs stalls none of the others."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pika

from pipeline.core.topology import Topology
from pipeline.roles.capture import CaptureWorker, LoadShedding
from testkit.mjpeg_camera import MjpegCamera
from testkit.processes import Rabbitcam, free_port, wait_for
from tests.conftest import make_config
from tests.integration.conftest import queue_counts
from web.hub import FrameHub


def banner_is_drawn(jpeg: bytes) -> bool:
    """The frame's banner (camera, seq, time) is a white box at the top left."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    return float(image[2:8, 2:60].mean()) > 230


def test_a_camera_without_detectors_goes_straight_to_viewers(broker_url, namespace, roles):
    config = make_config(
        [
            {"id": "cam1", "source": "synthetic", "fps": 15},
            {"id": "cam2", "source": "synthetic", "fps": 15, "annotate": False},
        ],
        namespace=namespace,
    )
    assert all(camera.direct for camera in config.cameras)
    hub = FrameHub(config)
    hub.start()
    try:
        wait_for(hub.connected.is_set, timeout=10)
        for camera in config.cameras:  # and no detector worker at all
            roles.start(CaptureWorker(config, camera, roles.stop).run, f"capture:{camera.id}")
        drawn = wait_for(lambda: hub.feed("cam1").latest, timeout=15).result
        untouched = wait_for(lambda: hub.feed("cam2").latest, timeout=15).result
        assert drawn.worker.startswith("capture:") and untouched.worker.startswith("capture:")
        assert banner_is_drawn(drawn.data), "capture draws the banner itself"
        assert not banner_is_drawn(untouched.data), "annotate = false: the camera's picture"
        assert drawn.detections == [] and "capture.encode_ms" in drawn.timings
        assert time.time() - drawn.captured_at < 1.0
        connection = pika.BlockingConnection(pika.URLParameters(broker_url))
        frames = queue_counts(connection, Topology(namespace).frame_queue("cam1"))
        connection.close()
        assert frames is None or frames[0] == 0, "nothing went through a frame queue"
    finally:
        hub.close()


def test_one_capture_process_serves_several_cameras_and_a_hung_one_stalls_none(namespace, tmp_path):
    hung = MjpegCamera(free_port(), fps=10)
    hung.start()
    site = tmp_path / "site.toml"
    site.write_text(
        "".join(
            f'[[cameras]]\nid = "{c}"\nsource = "synthetic"\nfps = 10\nwidth = 320\nheight = 240\n'
            for c in ("cam1", "cam2", "cam3")
        )
        + f'[[cameras]]\nid = "porch"\nsource = "{hung.url}"\nfps = 10\n'
    )
    config = make_config(
        [{"id": c, "source": "synthetic", "width": 320, "height": 240}
         for c in ("cam1", "cam2", "cam3")] + [{"id": "porch", "source": hung.url}],
        namespace=namespace,
    )  # fmt: skip
    hub = FrameHub(config)
    hub.start()
    command = ["capture", *[w for c in ("cam1", "cam2", "porch", "cam3") for w in ("--camera", c)]]
    capture = Rabbitcam([*command, str(site)], namespace, tmp_path / "capture.log")
    try:
        wait_for(lambda: all(f.latest for f in hub.feeds.values()), timeout=30, interval=0.1)
        hung.paused.set()  # the porch camera's stream stays open and says nothing
        wait_for(lambda: hub.feed("porch").state() == "offline", timeout=15, interval=0.1)
        seqs = {c: hub.feed(c).latest.result.seq for c in ("cam1", "cam2", "cam3")}
        time.sleep(2.0)
        for camera, before in seqs.items():
            moved = hub.feed(camera).latest.result.seq - before
            assert moved >= 15, f"{camera} stalled with the hung camera ({moved} frames in 2 s)"
        hung.paused.clear()
        wait_for(lambda: hub.feed("porch").state() == "live", timeout=15, interval=0.1)
        assert capture.process.poll() is None
    finally:
        capture.stop()
        hub.close()
        hung.stop()


def published_in_six_seconds(namespace, tmp_path, camera_fps: int, configured_fps: int):
    """(pictures the camera sent, frames capture published) over six seconds."""
    camera_server = MjpegCamera(free_port(), fps=camera_fps)
    camera_server.start()
    site = tmp_path / "site.toml"
    site.write_text(
        f'[[cameras]]\nid = "cam1"\nsource = "{camera_server.url}"\nfps = {configured_fps}\n'
    )
    config = make_config([{"id": "cam1", "source": camera_server.url, "fps": configured_fps}],
                         namespace=namespace)  # fmt: skip
    hub = FrameHub(config)
    hub.start()
    capture = Rabbitcam(["capture", "--camera", "cam1", str(site)], namespace, tmp_path / "c.log")
    try:
        feed = hub.feed("cam1")
        wait_for(lambda: feed.latest is not None, timeout=20, interval=0.1)
        time.sleep(2.0)  # past the start
        sent_before, shown_before = camera_server.frames_sent, feed.latest.result.seq
        time.sleep(6.0)
        sent = camera_server.frames_sent - sent_before
        published = feed.latest.result.seq - shown_before
        print(f"\ncamera sent {sent} pictures in 6 s; capture published {published}")
        return sent, published
    finally:
        capture.stop()
        hub.close()
        camera_server.stop()


def test_a_camera_s_pictures_are_published_as_they_come(namespace, tmp_path):
    """A 10 fps network camera configured at 10 fps: every picture it sends is
    published (capture does not poll on a clock of its own and miss the ones that
    come a little early or late)."""
    sent, published = published_in_six_seconds(namespace, tmp_path, 10, 10)
    assert published >= sent - 2, (sent, published)


def test_a_faster_camera_is_thinned_to_its_rate_not_shed(namespace, tmp_path):
    """A 30 fps camera configured at 10 fps: 10 a second are published. The pictures
    the allowance holds back are not counted as waiting for the CPU, so the load
    shedding (which would cut the rate further) stays out of it."""
    sent, published = published_in_six_seconds(namespace, tmp_path, 30, 10)
    assert sent >= 150, sent  # the camera did send 30 a second
    assert 55 <= published <= 63, published


def test_a_camera_shedding_load_publishes_its_share_and_says_so(namespace, roles):
    """While capture holds frames back, its heartbeat carries the share it publishes,
    so the page and ``rabbitcam status`` can tell a busy machine from a slow camera."""
    config = make_config([{"id": "cam1", "source": "synthetic", "fps": 20}], namespace=namespace)
    shedding = LoadShedding(enabled=False)  # held where the test puts it
    shedding.share = 0.5
    hub = FrameHub(config)
    hub.start()
    try:
        wait_for(hub.connected.is_set, timeout=10)
        worker = CaptureWorker(config, config.camera("cam1"), roles.stop, shedding)
        roles.start(worker.run, "capture:cam1")
        feed = hub.feed("cam1")
        wait_for(lambda: feed.latest is not None and feed.status is not None, timeout=15)
        before = feed.latest.result.seq
        time.sleep(3.0)
        published = feed.latest.result.seq - before
        assert 24 <= published <= 36, published  # half of 20 a second
        summary = wait_for(lambda: (s := feed.summary())["capture_share"] == 0.5 and s, timeout=5)
        assert summary["status"] == "live" and 8 <= summary["capture_fps"] <= 12, summary
    finally:
        hub.close()
