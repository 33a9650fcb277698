"""What a real camera costs its capture worker: an H.264 RTSP or an MJPEG stream in,
640x480 JPEG out.

``python -m benchmarks.sources [--kind rtsp|mjpeg] [--sizes 1280x720,1920x1080]
[--fps 15] [--seconds 20]`` starts a camera at each size and a ``rabbitcam
capture`` of it publishing 640x480 at ``--fps``, and reports the frames
published per second and the capture process's CPU per published frame (from
the kernel's accounting; the camera's own CPU is not counted). ``rtsp``:
GStreamer's RTSP server (``testkit/rtsp_camera.py``, x264 like an IP camera).
``mjpeg``: an HTTP MJPEG camera (``testkit/mjpeg_camera.py``) sending the
pedestrian clip, encoded once at that size; at 640x480 its pictures are
published as they come.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import cv2
import pika

from pipeline.core.messages import Status, unpack
from pipeline.core.topology import Topology
from testkit.media import pedestrian_frames
from testkit.mjpeg_camera import MjpegCamera
from testkit.processes import (
    ROOT,
    Rabbitcam,
    amqp_url,
    cpu_seconds,
    delete_namespace,
    free_port,
    stat_cpu_seconds,
)

CAMERA_SCRIPT = ROOT / "testkit" / "rtsp_camera.py"


class PublishedCounter:
    """The capture worker's own count of published frames, from its heartbeats."""

    def __init__(self, namespace: str, camera: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
        channel = self.connection.channel()
        topology = Topology(namespace)
        channel.exchange_declare(topology.status_exchange, "topic", durable=True)
        self.queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(self.queue, topology.status_exchange, routing_key=camera)
        self.channel = channel

    def latest(self, wait_s: float = 2.5) -> tuple[float, int]:
        """(when, frames published) of the newest heartbeat, waiting for a fresh one."""
        self.channel.queue_purge(self.queue)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            method, _properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is not None:
                status = unpack(body, Status)
                return status.sent_at, status.frames_published
            self.connection.sleep(0.05)
        raise RuntimeError("no heartbeat from the capture worker")

    def close(self) -> None:
        self.connection.close()


class RtspServer:
    """GStreamer's RTSP server in its own process, x264 at ``size`` and ``fps``."""

    def __init__(self, size: str, fps: int) -> None:
        port = free_port()
        self.url = f"rtsp://127.0.0.1:{port}/cam"
        self.process = subprocess.Popen(
            ["/usr/bin/python3", str(CAMERA_SCRIPT), str(port), f"{size}@{fps}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.process.stdout.readline().strip() == "ready", "the RTSP camera did not start"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(5)


class MjpegServer:
    """An HTTP MJPEG camera sending the pedestrian clip at ``size``, encoded once."""

    def __init__(self, size: str, fps: int) -> None:
        width, height = (int(v) for v in size.split("x"))
        pictures = [
            cv2.imencode(".jpg", cv2.resize(frame, (width, height)))[1].tobytes()
            for frame in pedestrian_frames(60)
        ]
        self.camera = MjpegCamera(
            free_port(), fps=fps, picture=lambda number: pictures[number % len(pictures)]
        )
        self.camera.start()
        self.url = self.camera.url

    def stop(self) -> None:
        self.camera.stop()


SERVERS = {"rtsp": RtspServer, "mjpeg": MjpegServer}
DESCRIBED = {"rtsp": "H.264 over RTSP", "mjpeg": "MJPEG over HTTP"}


def measure(
    size: str, fps: int, seconds: float, work: Path, extra: str = "", kind: str = "rtsp"
) -> dict:
    server = SERVERS[kind](size, fps)
    namespace = f"bench-src-{uuid.uuid4().hex[:6]}"
    site = work / f"{namespace}.toml"
    # A camera with a detector sends its frames to the frame queue (nobody reads
    # them here; the queue keeps two): capture's whole job, and nothing else.
    site.write_text(
        f'[[cameras]]\nid = "cam"\nsource = "{server.url}"\nfps = {fps}\n'
        f'detectors = ["motion"]\n{extra}'
    )
    try:
        log = work / f"{namespace}.log"
        counter = PublishedCounter(namespace, "cam")
        with Rabbitcam(["capture", "--camera", "cam", str(site)], namespace, log) as capture:
            deadline = time.monotonic() + 30
            while "camera cam live" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # past the first key frame and the stream's start
            sent_before, count_before = counter.latest()
            cpu_before = cpu_seconds(capture.pid)
            threads_before = thread_cpu_seconds(capture.pid)
            time.sleep(seconds)
            sent_after, count_after = counter.latest()
            cpu = cpu_seconds(capture.pid) - cpu_before
            threads_after = thread_cpu_seconds(capture.pid)
        counter.close()
    finally:
        server.stop()
        delete_namespace(amqp_url(), namespace, ["cam"])
    elapsed = sent_after - sent_before
    frames = count_after - count_before
    per_thread = sorted(
        (threads_after[tid] - threads_before.get(tid, 0.0) for tid in threads_after), reverse=True
    )
    return {
        "source": f"{DESCRIBED[kind]} {size} at {fps} fps, published as 640x480 JPEG",
        "published_fps": round(frames / elapsed, 1),
        "cpu_percent": round(cpu / elapsed * 100, 1),
        "cpu_ms_per_published_frame": round(cpu / frames * 1000, 2) if frames else None,
        # The busiest threads first: the camera's reader (FFmpeg's demuxing, decoding
        # and scaling), then its publisher (JPEG, the broker); the rest is pika and idle.
        "thread_ms_per_published_frame": [
            round(seconds * 1000 / frames, 2) for seconds in per_thread[:3] if frames
        ],
    }


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """Each thread's user + system CPU time, from the kernel's accounting."""
    times = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that has just ended
            times[int(task.name)] = stat_cpu_seconds(task / "stat")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="rtsp", choices=sorted(SERVERS))
    parser.add_argument("--sizes", default="1280x720,1920x1080")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    if not shutil.which("gst-launch-1.0") and not Path("/usr/bin/python3").exists():
        raise SystemExit("needs GStreamer's RTSP server (scripts/ensure-test-tools.sh)")
    work = Path(f"/tmp/bench-src-{uuid.uuid4().hex[:6]}")
    work.mkdir(parents=True)
    for size in args.sizes.split(","):
        figures = measure(size, args.fps, args.seconds, work, kind=args.kind)
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
