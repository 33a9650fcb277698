"""A camera that goes offline shows as offline, and comes back by itself."""

from __future__ import annotations

import time

from benchmarks.processes import free_port, wait_for
from pipeline.capture import CaptureWorker
from pipeline.detect import DetectorWorker
from tests.conftest import make_config
from tests.mjpeg_server import MjpegCamera
from web.hub import FrameHub
from web.viewer import ViewerCursor


def placeholder_state(feed) -> str | None:
    """What a new viewer of the camera is shown, if it is a placeholder."""
    part = ViewerCursor(feed).take()
    head = part.split(b"\r\n\r\n", 1)[0].decode()
    headers = dict(line.split(": ", 1) for line in head.split("\r\n"))
    return headers.get("X-Placeholder")


def test_http_camera_offline_then_back_then_offline_again(namespace, roles):
    camera_server = MjpegCamera(free_port(), fps=10)
    config = make_config(
        [{"id": "cam1", "source": camera_server.url, "fps": 10, "width": 320, "height": 240}],
        namespace=namespace,
    )
    camera = config.cameras[0]
    hub = FrameHub(config)
    hub.start()
    try:
        feed = hub.feed("cam1")
        roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
        roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")

        # No camera yet: offline, with the reason, and viewers see the offline placeholder.
        wait_for(lambda: feed.state() == "offline", timeout=15)
        assert "cannot open" in feed.status.reason
        assert placeholder_state(feed) == "offline"

        camera_server.start()
        started = time.monotonic()
        wait_for(lambda: feed.state() == "live", timeout=15)
        print(f"\ncamera back: live {time.monotonic() - started:.1f}s after its server started")
        assert placeholder_state(feed) is None

        camera_server.stop()
        stopped = time.monotonic()
        wait_for(lambda: feed.state() == "offline", timeout=10)
        print(f"camera gone: offline {time.monotonic() - stopped:.1f}s after its server stopped")

        camera_server.start()
        started = time.monotonic()
        wait_for(lambda: feed.state() == "live", timeout=15)
        print(f"camera back again: live {time.monotonic() - started:.1f}s after")
    finally:
        camera_server.stop()
        hub.close()
