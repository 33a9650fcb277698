"""No detector and no viewer for a minute at 30 fps: queues stay at their bounds,
the broker's memory stays flat, and the first frame shown afterwards is fresh."""

from __future__ import annotations

import json
import subprocess
import time

import pika
import pytest

from pipeline.core.topology import Topology
from pipeline.roles.capture import CaptureWorker
from pipeline.roles.detect import DetectorWorker
from testkit.processes import wait_for
from tests.conftest import make_config
from tests.integration.conftest import queue_counts
from web.hub import FrameHub

ALONE_S = 60


def broker_memory_mib() -> float:
    status = subprocess.run(
        ["rabbitmqctl", "status", "--formatter", "json"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return json.loads(status.stdout)["memory"]["total"]["erlang"] / 2**20


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("rabbitmqctl")
def test_a_minute_with_nobody_consuming(broker_url, namespace, roles):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "fps": 30, "detectors": ["motion"]}],
        namespace=namespace,
    )
    camera = config.cameras[0]
    capture = CaptureWorker(config, camera, roles.stop)
    roles.start(capture.run, "capture")
    queue = Topology(namespace).frame_queue("cam1")
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    wait_for(lambda: queue_counts(connection, queue), timeout=15)
    memory_before = broker_memory_mib()
    depths = []
    started = time.monotonic()
    while time.monotonic() - started < ALONE_S:
        depths.append(queue_counts(connection, queue)[0])
        connection.sleep(0.5)
    memory_after = broker_memory_mib()
    published = capture.counters.published
    print(f"\n{published} frames in {ALONE_S}s with nobody home; queue depth max {max(depths)}; "
          f"broker memory {memory_before:.0f} -> {memory_after:.0f} MiB")  # fmt: skip
    assert published > ALONE_S * 25
    assert max(depths) <= camera.queue_length
    assert memory_after - memory_before < 30, "the broker kept frames nobody wanted"

    # A detector and a viewer come back: the first frame shown is fresh, not a backlog.
    hub = FrameHub(config)
    hub.start()
    try:
        roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
        feed = hub.feed("cam1")
        first = wait_for(lambda: feed.latest, timeout=20)
        age_ms = (first.received_at - first.result.captured_at) * 1000
        print(f"first frame shown after the return: {age_ms:.0f} ms old")
        assert age_ms < camera.max_age_ms
        assert feed.dropped["stale"] == 0
    finally:
        hub.close()
        connection.close()
