"""Where the time goes at the knee: a flame graph of every role, sampled by py-spy.

``python -m benchmarks.profile --cameras 48 [--fps 30] [--seconds 15] [--label after]
[--detector motion] [--annotate page]`` starts a site of that many synthetic 640x480
cameras (``qr = false``; no detectors unless ``--detector`` names one, boxes drawn
into the picture unless ``--annotate page``), reads every camera through one
``/mux`` connection from a separate client process (as the capacity benchmark
does), and meanwhile samples each Python process of the site with py-spy (which
reads a running process from outside and changes nothing in it), only while a
thread holds the interpreter (--gil), so that waiting is not counted as work. The
flame graphs go to ``docs/profiles/<label>-<role>.svg``; the CPU each role used per
delivered frame is printed beside them. (py-spy itself takes some CPU from the
site: the delivered frames/s under the profiler are below the capacity benchmark's.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmarks.bench import camera_table, cameras
from benchmarks.measure import broker_pid, cpu_by_role, cpu_delta, descendants, role_of
from testkit.processes import ROOT, Rabbitcam, amqp_url, delete_namespace, free_port, wait_for_http

OUT = ROOT / "docs" / "profiles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=48)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--label", default="after")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--detector", default="none", help="each camera's detector, or none")
    parser.add_argument("--annotate", default="true", choices=["true", "page"])
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    namespace = f"bench-prof-{uuid.uuid4().hex[:6]}"
    work = Path(f"/tmp/{namespace}")
    work.mkdir(parents=True)
    extra = {"annotate": "page"} if args.annotate == "page" else {}
    camera_list = cameras(args.cameras, args.fps, args.detector, qr=False, **extra)
    site = work / "site.toml"
    site.write_text(
        f"[web]\nmax_streams_per_client = 0\n[detect]\nworkers = {args.workers}\n"
        + "".join(map(camera_table, camera_list))
    )
    port = free_port()
    OUT.mkdir(parents=True, exist_ok=True)
    broker = broker_pid()
    ids = [camera["id"] for camera in camera_list]
    try:
        with Rabbitcam(["run", str(site), "--bind", f"127.0.0.1:{port}"], namespace,
                       work / "run.log") as run:  # fmt: skip
            wait_for_http(f"http://127.0.0.1:{port}", timeout=60)
            time.sleep(8)  # every camera live, queues settled
            client = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.mux_client", str(port), str(args.seconds),
                 "--cameras", str(args.cameras)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            client.stderr.readline()  # "recording"
            before = cpu_by_role([run.pid], broker)
            samplers = []
            seen: dict[str, int] = {}
            for pid in descendants(run.pid):
                role = role_of(pid)
                seen[role] = seen.get(role, 0) + 1
                name = role if seen[role] == 1 else f"{role}{seen[role]}"
                if seen[role] > 1:
                    continue  # one of each kind is enough: they do the same work
                svg = OUT / f"{args.label}-{name}.svg"
                samplers.append(subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--duration", str(int(args.seconds) - 2),
                     "--rate", "50", "--nonblocking", "--gil", "--output", str(svg)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))  # fmt: skip
            out, _ = client.communicate(timeout=args.seconds + 60)
            used = cpu_delta(before, cpu_by_role([run.pid], broker))
            for sampler in samplers:
                sampler.wait(60)
    finally:
        delete_namespace(amqp_url(), namespace, ids)
    document = json.loads(out)
    frames = sum(len(ages) for ages in document["ages"].values())
    print(json.dumps({
        "label": args.label,
        "cameras": args.cameras,
        "delivered_fps": round(frames / args.seconds, 1),
        "cpu_ms_per_frame": {r: round(v / frames * 1000, 3) for r, v in used.items() if frames},
        "flame_graphs": sorted(str(p.relative_to(ROOT)) for p in OUT.glob(f"{args.label}-*.svg")),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
