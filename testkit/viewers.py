"""Viewers of a streamer as a test or a benchmark plays them: a slow one, many of one
camera, rude ones that reset mid-frame; and the streamer's own health figures."""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

import requests

from testkit.processes import open_stream, read_parts, real_frames

SMALL_RECEIVE_BUFFER = 8 * 1024


def slow_viewer(
    port: int, camera: str, seconds: float, reads_per_second: float = 2.0
) -> list[tuple[float, float]]:
    """(elapsed, frame age) for every frame a slow viewer receives."""
    sock, stream = open_stream("127.0.0.1", port, f"/video/{camera}", SMALL_RECEIVE_BUFFER)
    ages = []
    started = time.monotonic()
    try:
        for headers, _jpeg, received_at in real_frames(read_parts(stream)):
            ages.append((time.monotonic() - started, received_at - float(headers["X-Captured-At"])))
            if time.monotonic() - started >= seconds:
                break
            time.sleep(1.0 / reads_per_second)
    finally:
        sock.close()
    return ages


@dataclass
class FanOut:
    frames: list[int]  # per viewer
    seconds: float
    streamer_cpu_s: float | None = None


def fan_out(
    port: int, cameras: list[str], per_camera: int, seconds: float, pid: int | None = None
) -> FanOut:
    """``per_camera`` viewers of each camera, all reading as fast as they can."""
    from testkit.processes import cpu_seconds

    counts = [0] * (len(cameras) * per_camera)
    ready = threading.Barrier(len(counts) + 1)
    stop = threading.Event()

    def watch(index: int, camera: str) -> None:
        sock, stream = open_stream("127.0.0.1", port, f"/video/{camera}")
        try:
            frames = real_frames(read_parts(stream))
            next(frames)  # the stream is flowing
            ready.wait()
            for _ in frames:
                if stop.is_set():
                    break
                counts[index] += 1
        finally:
            sock.close()

    threads = [
        threading.Thread(target=watch, args=(i, cameras[i % len(cameras)]), daemon=True)
        for i in range(len(counts))
    ]
    for thread in threads:
        thread.start()
    ready.wait(timeout=60)
    cpu_before = cpu_seconds(pid) if pid else None
    time.sleep(seconds)
    cpu = cpu_seconds(pid) - cpu_before if pid else None
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    return FanOut(counts, seconds, cpu)


def abrupt_disconnects(port: int, camera: str, count: int, patience_s: float = 30.0) -> int:
    """Connect, read part of a frame, and reset the connection (no FIN, an RST).

    The streamer notices a reset when it next writes to it (the next frame), so
    a client that resets faster than that can meet the stream limit for a
    moment: then it does what a real client does on 503, waits and tries again.
    Returns how many times it was told to wait.
    """
    refused = 0
    deadline = time.monotonic() + patience_s
    for _ in range(count):
        while True:
            try:
                sock, stream = open_stream("127.0.0.1", port, f"/video/{camera}")
                break
            except AssertionError as refusal:
                if b" 503 " not in str(refusal).encode() or time.monotonic() > deadline:
                    raise
                refused += 1
                time.sleep(0.1)
        stream.read(1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    return refused


def health(port: int) -> dict:
    return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
