"""How the streamer holds up under real viewers: slow ones, many, and rude ones.

    python -m benchmarks.viewers [--slow-seconds 300] [--viewers 50] [--seconds 20]

Starts a one-camera pipeline (synthetic, 640x480, 15 fps, pass-through)
against the real broker, a separate streamer process, and measures from
client sockets of its own:

- a slow viewer reading 2 frames a second through an 8 KiB receive buffer:
  the age of every frame it gets (now - X-Captured-At), over time;
- N viewers of one camera: frames each receives per second, and the
  streamer's CPU (from /proc) while they watch;
- abrupt disconnects (RST mid-frame): the streamer's viewers and threads after.

The same client functions are used by the tests, which assert on shorter runs.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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


def main() -> None:
    from testkit.processes import (
        Rabbitcam,
        amqp_url,
        delete_namespace,
        free_port,
        thread_count,
        wait_for,
        wait_for_http,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow-seconds", type=float, default=300)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--send-buffer-kb", type=int, default=None, help="[web] send_buffer_kb")
    args = parser.parse_args()

    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    work = Path("/tmp") / namespace
    work.mkdir()
    config = work / "one.toml"
    # Every viewer comes from this one address: no per-address bound here.
    web = "[web]\nmax_streams_per_client = 0\n"
    web += f"send_buffer_kb = {args.send_buffer_kb}\n" if args.send_buffer_kb else ""
    config.write_text(
        web + '[detect]\nworkers = 1\n[[cameras]]\nid = "cam1"\nsource = "synthetic"\nfps = 15\n'
    )
    port = free_port()
    with (
        Rabbitcam(["run", str(config), "--roles", "capture,detect"], namespace, work / "run.log"),
        Rabbitcam(
            ["stream", str(config), "--bind", f"127.0.0.1:{port}"], namespace, work / "s.log"
        ) as streamer,
    ):
        wait_for_http(f"http://127.0.0.1:{port}")
        wait_for(lambda: health(port)["broker_connected"], timeout=30)
        time.sleep(3)

        result = fan_out(port, ["cam1"], args.viewers, args.seconds, streamer.pid)
        rates = [n / result.seconds for n in result.frames]
        print(f"fan-out: {args.viewers} viewers of one 15 fps camera for {args.seconds:.0f}s")
        print(f"  fps per viewer: min {min(rates):.1f}, median {statistics.median(rates):.1f}")
        print(f"  streamer CPU: {result.streamer_cpu_s / result.seconds * 100:.0f}% of one core")

        threads_before = thread_count(streamer.pid)
        abrupt_disconnects(port, "cam1", 200)
        wait_for(lambda: health(port)["viewers"] == 0, timeout=30)
        print(f"200 abrupt disconnects: viewers back to 0; threads {threads_before} → "
              f"{thread_count(streamer.pid)}")  # fmt: skip

        print(f"slow viewer: 2 reads/s, 8 KiB receive buffer, {args.slow_seconds:.0f}s")
        ages = slow_viewer(port, "cam1", args.slow_seconds)
        values = sorted(age for _, age in ages)
        p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
        print(f"  frames {len(values)}, age median {statistics.median(values):.2f}s, "
              f"p99 {p99:.2f}s, max {values[-1]:.2f}s")  # fmt: skip
        for minute in range(int(args.slow_seconds // 60) + 1):
            window = [age for at, age in ages if minute * 60 <= at < (minute + 1) * 60]
            if window:
                print(f"  minute {minute + 1}: median age {statistics.median(window):.2f}s, "
                      f"max {max(window):.2f}s")  # fmt: skip
    delete_namespace(amqp_url(), namespace, ["cam1"])


if __name__ == "__main__":
    main()
