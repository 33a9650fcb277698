"""What keeping the recent past costs: the broker's disk and memory per recording camera,
and the recorder's CPU per second of clip.

``python -m benchmarks.recording [--cameras 4] [--fps 15] [--seconds 120] [--keep-s 30]``
runs ``rabbitcam run --roles capture,detect,record`` with synthetic 640x480 cameras whose
``motion`` events are recorded (they move all the time: a clip of ``max_clip_s`` after
another, the recorder's worst case), and samples every few seconds:

- each camera's stream on the broker's disk (its segment files), and how old the oldest
  frame it still holds is — retention at work;
- the broker's resident memory, against a baseline taken before the cameras started;
- the CPU of the recorder, per second of clip written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pika

from benchmarks.measure import broker_pid, cpu_by_role, cpu_delta
from pipeline.core.messages import Result, unpack
from pipeline.core.topology import Topology
from testkit.processes import Rabbitcam, amqp_url, delete_namespace, wait_for

MB = 1024 * 1024


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stream_dirs(namespace: str) -> dict[str, Path]:
    """The broker's directory of each stream of the namespace (readable when we are root)."""
    try:
        done = subprocess.run(
            ["rabbitmqctl", "eval", "rabbit_mnesia:dir()."],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {}
    base = Path(done.stdout.strip().strip('"')) / "stream"
    # Named <vhost>_<queue>_<creation time>, dots made underscores.
    marker = f"{namespace.replace('.', '_')}_recent_"
    return {
        path.name.split(marker, 1)[1].rsplit("_", 1)[0]: path for path in base.glob(f"*{marker}*")
    }


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / MB


def oldest_age_s(namespace: str, camera: str) -> float | None:
    """How old the first frame still in the camera's stream is."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    first: list[float] = []

    def on_message(ch, method, _properties, body) -> None:
        if not first:
            first.append(unpack(body, Result).captured_at)

    channel.basic_consume(
        Topology(namespace).recent_queue(camera), on_message, arguments={"x-stream-offset": "first"}
    )
    connection.process_data_events(time_limit=2.0)
    connection.close()  # closing the connection releases the unacked frame
    return round(time.time() - first[0], 1) if first else None


def run(cameras: int, fps: float, seconds: float, keep_s: int, keep_mb: int) -> dict:
    namespace = f"bench-rec-{uuid.uuid4().hex[:6]}"
    work = Path(f"/tmp/{namespace}")
    work.mkdir(parents=True)
    ids = [f"cam{i + 1}" for i in range(cameras)]
    site = work / "site.toml"
    site.write_text(
        f'[detect]\nworkers = 2\n[record]\ndir = "store"\nkeep_s = {keep_s}\nkeep_mb = {keep_mb}\n'
        "pre_s = 5\npost_s = 5\nmax_clip_s = 20\n"
        + "".join(
            f'[[cameras]]\nid = "{c}"\nsource = "synthetic"\nfps = {fps}\nqr = false\n'
            'detectors = ["motion"]\nrecord = ["motion"]\n'
            for c in ids
        )
    )
    try:
        return measure(namespace, work, site, ids, seconds, keep_s, fps)
    finally:
        delete_namespace(amqp_url(), namespace, ids)


def measure(
    namespace: str, work: Path, site: Path, ids: list[str], seconds: float, keep_s: int, fps: float
) -> dict:
    cameras = len(ids)
    broker = broker_pid()
    baseline_mb = resident_mb(broker) if broker else None
    samples = []
    with Rabbitcam(
        ["run", str(site), "--roles", "capture,detect,record"], namespace, work / "run.log"
    ) as pipeline:
        wait_for(lambda: len(stream_dirs(namespace)) == cameras, timeout=60, interval=1.0)
        dirs = stream_dirs(namespace)
        before = cpu_by_role([pipeline.pid], broker)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            time.sleep(5)
            samples.append(
                {
                    "t_s": round(time.monotonic() - started),
                    "disk_mb": {c: round(disk_mb(p), 1) for c, p in dirs.items()},
                    "broker_mb": round(resident_mb(broker), 1) if broker else None,
                }
            )
            print(json.dumps(samples[-1]), flush=True)
        cpu = cpu_delta(before, cpu_by_role([pipeline.pid], broker))
        ages = {camera: oldest_age_s(namespace, camera) for camera in ids}
    from pipeline.core.eventstore import EventQuery, EventStore

    store = EventStore(work / "store")
    events = [e for e in store.query(EventQuery(limit=200)) if e.state == "ready"]
    clip_s = sum(e.clip_to - e.clip_from for e in events)
    settled = [s for s in samples if s["t_s"] >= keep_s + 20] or samples
    per_camera_disk = max(max(s["disk_mb"].values()) for s in settled)
    figures = {
        "cameras": cameras,
        "fps": fps,
        "keep_s": keep_s,
        "seconds": seconds,
        "stream_disk_mb_per_camera_max": per_camera_disk,
        "oldest_frame_age_s": ages,
        "broker_rss_mb": {"before": baseline_mb, "end": samples[-1]["broker_mb"]},
        "broker_rss_mb_per_camera": round((samples[-1]["broker_mb"] - baseline_mb) / cameras, 1)
        if baseline_mb
        else None,
        "recorder_cpu_percent": round(100 * cpu.get("record", 0.0) / seconds, 1),
        "clips": len(events),
        "clip_seconds": round(clip_s, 1),
        "recorder_cpu_ms_per_clip_second": round(1000 * cpu.get("record", 0.0) / clip_s, 1)
        if clip_s
        else None,
        "cpu_s_by_role": {k: round(v, 1) for k, v in cpu.items()},
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--fps", type=float, default=15)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--keep-s", type=int, default=30)
    parser.add_argument("--keep-mb", type=int, default=256)
    args = parser.parse_args()
    figures = run(args.cameras, args.fps, args.seconds, args.keep_s, args.keep_mb)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    threading.current_thread().name = "bench-recording"
    main()
