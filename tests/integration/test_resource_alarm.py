"""A broker resource alarm: capture neither hangs nor queues frames; it drops and
counts them, and publishes again when the alarm clears."""

from __future__ import annotations

import subprocess
import time

import pytest

from pipeline.roles.capture import CaptureWorker
from testkit.processes import wait_for
from tests.conftest import make_config

DEFAULT_WATERMARK = "0.4"  # RabbitMQ's default; what the machines here run with


def watermark(value: str) -> None:
    subprocess.run(
        ["rabbitmqctl", "set_vm_memory_high_watermark", value],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.mark.usefixtures("rabbitmqctl")
def test_memory_alarm_blocks_publishing_and_capture_drops_then_resumes(namespace, roles):
    config = make_config([{"id": "cam1", "source": "synthetic", "fps": 15}], namespace=namespace)
    capture = CaptureWorker(config, config.cameras[0], roles.stop)
    roles.start(capture.run, "capture")
    wait_for(lambda: capture.counters.published > 10, timeout=20)
    try:
        watermark("0.0001")  # far below what the broker uses: the memory alarm goes off
        wait_for(lambda: capture.counters.broker_blocked > 10, timeout=30)
        published = capture.counters.published
        ticks = capture.counters.broker_blocked
        time.sleep(2)
        # The loop keeps ticking (no hang) and publishes nothing while blocked.
        assert capture.counters.broker_blocked >= ticks + 20
        assert capture.counters.published <= published + 1
    finally:
        watermark(DEFAULT_WATERMARK)
    resumed_from = capture.counters.published
    wait_for(lambda: capture.counters.published > resumed_from + 15, timeout=30)
    print(f"\nframes dropped while blocked: {capture.counters.broker_blocked}")
