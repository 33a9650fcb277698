"""Every role survives losing its broker connection and declares its topology again."""

from __future__ import annotations

import subprocess

import pytest

from pipeline.roles.capture import CaptureWorker
from pipeline.roles.detect import DetectorWorker
from testkit.processes import wait_for
from tests.conftest import make_config
from web.hub import FrameHub


@pytest.mark.usefixtures("rabbitmqctl")
def test_roles_reconnect_after_the_broker_drops_every_connection(namespace, roles):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "fps": 15, "detectors": ["motion"]}],
        namespace=namespace,
    )
    camera = config.cameras[0]
    hub = FrameHub(config)
    hub.start()
    try:
        detector = DetectorWorker(config, [camera], roles.stop, "w1")
        capture = CaptureWorker(config, camera, roles.stop)
        roles.start(detector.run, "detect")
        roles.start(capture.run, "capture")
        feed = hub.feed("cam1")
        before = wait_for(lambda: feed.latest, timeout=20).result.seq

        subprocess.run(
            ["rabbitmqctl", "close_all_connections", "rabbitcam reconnect test"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_for(lambda: hub.reconnects >= 1, timeout=15)
        after = wait_for(
            lambda: feed.latest.result.seq if feed.latest.result.seq > before + 15 else None,
            timeout=15,
        )
        assert after > before
        assert all(thread.is_alive() for thread in roles.threads), "a role exited"
    finally:
        hub.close()
