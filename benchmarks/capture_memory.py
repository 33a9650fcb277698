"""What a camera costs a capture process: resident memory and CPU, 1 camera vs many.

``python -m benchmarks.capture_memory [--counts 1,8,16] [--seconds 15]`` starts
``rabbitcam capture`` with that many synthetic 640x480 cameras at 15 fps (no
detectors: direct, banner drawn by capture) in one process, lets it run, and
reads the process's resident set (VmRSS) and CPU. The figure that matters is
the memory each camera adds to a process that already runs.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path

from testkit.processes import Rabbitcam, amqp_url, cpu_seconds, delete_namespace


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(count: int, seconds: float, work: Path) -> dict:
    namespace = f"bench-mem-{uuid.uuid4().hex[:6]}"
    ids = [f"cam{i + 1}" for i in range(count)]
    site = work / f"{namespace}.toml"
    site.write_text(
        "".join(
            f'[[cameras]]\nid = "{c}"\nsource = "synthetic"\nfps = 15\nqr = false\n' for c in ids
        )
    )
    args = ["capture", *[word for c in ids for word in ("--camera", c)], str(site)]
    try:
        with Rabbitcam(args, namespace, work / f"{namespace}.log") as capture:
            time.sleep(5)  # started, connected, first frames
            cpu_before, started = cpu_seconds(capture.pid), time.monotonic()
            time.sleep(seconds)
            cpu = cpu_seconds(capture.pid) - cpu_before
            elapsed = time.monotonic() - started
            rss = resident_mb(capture.pid)
    finally:
        delete_namespace(amqp_url(), namespace, ids)
    return {
        "cameras": count,
        "rss_mb": round(rss, 1),
        "cpu_percent": round(cpu / elapsed * 100, 1),
        "cpu_ms_per_frame": round(cpu / (elapsed * 15 * count) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,8,16")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    work = Path(f"/tmp/bench-mem-{uuid.uuid4().hex[:6]}")
    work.mkdir(parents=True)
    rows = [measure(int(n), args.seconds, work) for n in args.counts.split(",")]
    for row in rows:
        print(json.dumps(row), flush=True)
    first, last = rows[0], rows[-1]
    if last["cameras"] > first["cameras"]:
        added = (last["rss_mb"] - first["rss_mb"]) / (last["cameras"] - first["cameras"])
        print(json.dumps({"mb_per_added_camera": round(added, 1),
                          "one_camera_process_mb": first["rss_mb"]}))  # fmt: skip


if __name__ == "__main__":
    main()
