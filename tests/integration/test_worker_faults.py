"""Detector workers that die mid-frame, and detections slower than the heartbeat."""

from __future__ import annotations

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
from testkit.processes import wait_for
from tests.integration.conftest import queue_counts, wait_for_consumers


def worker(config: Path, worker_id: str, namespace: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "detect", str(config), "--worker-id", worker_id],
        env={**os.environ, "RABBITCAM_NAMESPACE": namespace},
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )


def publish(connection: pika.BlockingConnection, namespace: str, seq: int) -> None:
    jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 70, np.uint8))[1].tobytes()
    frame = Frame("cam1", seq, time.time(), 640, 480, jpeg)
    connection.channel().basic_publish(Topology(namespace).frames_exchange, "cam1", pack(frame))


def collect(tap, results: list, condition) -> bool:
    while (result := tap.take()) is not None:
        results.append(result)
    return condition(results)


def test_frame_held_by_a_killed_worker_goes_to_another(broker_url, namespace, result_tap, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\nmax_age_ms = 10000\n'
        'detectors = [{ name = "slow", ms = 1500 }]\n'
    )
    tap = result_tap("cam1")
    queue = Topology(namespace).frame_queue("cam1")
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    first = worker(config, "first", namespace, tmp_path / "first.log")
    second = None
    try:
        wait_for_consumers(connection, queue, 1)
        publish(connection, namespace, 1)
        # "first" has taken frame 1 and holds it, unacked, mid-detection (1.5 s).
        wait_for(lambda: queue_counts(connection, queue)[0] == 0)
        second = worker(config, "second", namespace, tmp_path / "second.log")
        wait_for_consumers(connection, queue, 2)
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        results: list = []
        wait_for(lambda: collect(tap, results, lambda r: any(x.seq == 1 for x in r)), timeout=15)
        redelivered = [r for r in results if r.seq == 1]
        assert [r.worker for r in redelivered] == ["second"], "the frame was not lost, nor doubled"
        print(f"\nframe redelivered and done {time.monotonic() - killed_at:.1f}s after SIGKILL")
    finally:
        for process in (first, second):
            if process is not None:
                process.kill()
                process.wait(5)
        connection.close()


def test_detection_slower_than_the_heartbeat_keeps_the_connection(
    broker_url, namespace, result_tap, tmp_path
):
    config = tmp_path / "site.toml"
    config.write_text(
        "[broker]\nheartbeat_s = 1\n"
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\nmax_age_ms = 60000\n'
        'detectors = [{ name = "slow", ms = 3500 }]\n'
    )
    tap = result_tap("cam1")
    log = tmp_path / "worker.log"
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    slow = worker(config, "slow", namespace, log)
    try:
        wait_for_consumers(connection, Topology(namespace).frame_queue("cam1"), 1)
        results: list = []
        for seq in (1, 2, 3):
            publish(connection, namespace, seq)
            wait_for(
                lambda s=seq: collect(tap, results, lambda r: any(x.seq == s for x in r)),
                timeout=20,
                interval=0.1,
            )
            connection.process_data_events(0)  # keep the test's own connection alive too
        assert [r.seq for r in results] == [1, 2, 3]
        assert all(r.timings["detect.slow_ms"] >= 3500 for r in results)
        text = log.read_text()
        assert "connection lost" not in text, text[-2000:]
        assert text.count("connected to") == 1, "the worker had to reconnect"
    finally:
        slow.kill()
        slow.wait(5)
        connection.close()
