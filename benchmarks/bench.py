"""``rabbitcam bench [scenario] [--quick]``: latency, throughput and overload, with the
alternatives measured in the same run on the same machine.

Every scenario starts what it needs against the real RabbitMQ, measures, and
stops it. Latency is always capture time → the moment a client (this process,
separate from the streamer) has read the whole MJPEG part, from
``X-Captured-At``. CPU per frame per role comes from the processes' own
accounting (/proc). Results go to a table, a JSON file and a PNG chart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from benchmarks.measure import broker_pid, cpu_by_role, cpu_delta, machine
from testkit.processes import (
    ROOT,
    Rabbitcam,
    amqp_url,
    delete_namespace,
    free_port,
    wait_for,
    wait_for_http,
)
from testkit.streams import StreamReader, summary_ms

SCENARIOS = (
    "pipeline", "motion16", "direct", "naive", "imagezmq", "capacity", "overload", "fanout",
)  # fmt: skip
ROLES = ("capture", "detect", "stream", "broker")


def log(message: str) -> None:
    print(message, flush=True)


def camera_table(camera: dict[str, Any]) -> str:
    lines = ["[[cameras]]"]
    for key, value in camera.items():
        lines.append(
            f"{key} = {json.dumps(value) if not isinstance(value, list) else _toml_list(value)}"
        )
    return "\n".join(lines) + "\n"


def _toml_list(values: list) -> str:
    items = []
    for value in values:
        if isinstance(value, dict):
            inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
            items.append("{ " + inner + " }")
        else:
            items.append(json.dumps(value))
    return "[" + ", ".join(items) + "]"


def cameras(count: int, fps: float, detector: str, **extra: Any) -> list[dict[str, Any]]:
    detectors = {"motion": ["motion"], "none": []}.get(detector)
    if detectors is None:
        detectors = [{"name": "slow", "ms": 100}] if detector == "slow" else [detector]
    return [
        {
            "id": f"c{index}",
            "source": "synthetic",
            "fps": fps,
            "detectors": detectors,
            "annotate": detector != "none",
            **extra,
        }
        for index in range(1, count + 1)
    ]


class Bench:
    def __init__(self, quick: bool, out: Path, seconds: float | None) -> None:
        self.quick = quick
        self.seconds = seconds or (2.0 if quick else 30.0)
        self.out = out
        self.work = out / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, dict[str, Any]] = {}
        self.broker = broker_pid()

    # --- running things -------------------------------------------------------------

    @contextlib.contextmanager
    def site(
        self, camera_list: list[dict[str, Any]], workers: int = 2, per_process: int = 0
    ) -> Iterator[tuple[int, Rabbitcam]]:
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        config = self.work / f"{namespace}.toml"
        config.write_text(
            # One client address opens every viewer: no per-address bound here.
            "[web]\nmax_streams_per_client = 0\n"
            f"[capture]\ncameras_per_process = {per_process}\n"
            f"[detect]\nworkers = {workers}\n" + "".join(map(camera_table, camera_list))
        )
        port = free_port()
        run = Rabbitcam(
            ["run", str(config), "--bind", f"127.0.0.1:{port}"],
            namespace,
            self.work / f"{namespace}.log",
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}", timeout=60)
            ids = [camera["id"] for camera in camera_list]

            def all_live() -> bool:
                statuses = requests.get(f"http://127.0.0.1:{port}/api/cameras", timeout=5).json()
                return all(c["status"] == "live" for c in statuses if c["id"] in ids)

            wait_for(all_live, timeout=90, interval=0.5)
            yield port, run
        finally:
            run.stop()
            delete_namespace(amqp_url(), namespace, [camera["id"] for camera in camera_list])

    def measure(
        self, port: int, paths: list[str], roots: list[int], seconds: float | None = None
    ) -> dict[str, Any]:
        reader = StreamReader(port, paths).start()
        try:
            reader.first_frames()
            time.sleep(1.0)  # settle after the first frames
            before = cpu_by_role(roots, self.broker)
            reader.recording.set()
            started = time.monotonic()
            time.sleep(seconds or self.seconds)
            reader.recording.clear()
            elapsed = time.monotonic() - started
            used = cpu_delta(before, cpu_by_role(roots, self.broker))
        finally:
            reader.close()
        ages = reader.all_ages()
        frames = reader.frames()
        per_frame = {
            role: round(used.get(role, 0.0) / frames * 1000, 3) if frames else None
            for role in ROLES
        }
        return {
            **summary_ms(ages),
            "max_ms": round(max(ages) * 1000, 2) if ages else None,
            "frames": frames,
            "fps": round(frames / elapsed, 1),
            "seconds": round(elapsed, 1),
            "cpu_ms_per_frame": per_frame,
            "cpu_s": {role: round(v, 2) for role, v in used.items()},
            "errors": reader.errors[:5],
        }

    def record(self, name: str, figures: dict[str, Any]) -> None:
        self.results[name] = figures
        log(
            f"    {name}: p50 {figures.get('p50_ms')} ms, p99 {figures.get('p99_ms')} ms, "
            f"{figures.get('fps')} fps"
        )

    # --- scenarios ---------------------------------------------------------------------

    def pipeline(self) -> None:
        for count in (1, 4) if self.quick else (1, 4, 8):
            for detector in ("motion", "none"):
                log(f"  pipeline: {count} camera(s) x 15 fps, detector {detector}, 2 workers")
                with self.site(cameras(count, 15, detector)) as (port, run):
                    paths = [f"/video/c{i}" for i in range(1, count + 1)]
                    self.record(
                        f"pipeline-{count}x15-{detector}", self.measure(port, paths, [run.pid])
                    )

    def motion16(self) -> None:
        """Sixteen cameras x 15 fps, each with motion detection (ordered, dealt to the two
        workers), read by the independent /mux client: boxes drawn into the picture (the
        default), then drawn by the page (``annotate = "page"``: no re-encode, and the
        JPEG decoded at the quarter motion reads)."""
        count = 4 if self.quick else 16
        for suffix, annotate in (("", True), ("-page", "page")):
            log(
                f"  motion: {count} camera(s) x 15 fps, motion on each, annotate = {annotate!r}, "
                "2 workers, one /mux client"
            )
            chosen = cameras(count, 15, "motion", qr=False, annotate=annotate)
            with self.site(chosen, workers=2) as (port, run):
                figures = self.measure_mux(port, count, [run.pid])
            figures["cameras"] = count
            self.record(f"motion-{count}x15{suffix}", figures)

    def direct(self) -> None:
        for count in (1, 4):
            log(f"  direct: {count} camera(s) x 15 fps, motion, one process, no broker")
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.direct", "--port", str(port),
                 "--cameras", str(count)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                wait_for_http(f"http://127.0.0.1:{port}")
                paths = [f"/video/c{i}" for i in range(1, count + 1)]
                figures = self.measure(port, paths, [process.pid])
                figures["cpu_ms_per_frame"] = {"direct": round(
                    sum(figures["cpu_s"].values()) / max(1, figures["frames"]) * 1000, 3
                )}  # fmt: skip
                self.record(f"direct-{count}x15-motion", figures)
            finally:
                process.terminate()
                process.wait(10)

    def naive(self) -> None:
        log("  naive: 1 camera, JSON pixel lists through RabbitMQ, basic_get polling")
        queue = f"bench-naive-{uuid.uuid4().hex[:8]}"
        port = free_port()
        base = [sys.executable, "-m", "benchmarks.naive"]
        processes = [
            subprocess.Popen([*base, "web", "--queue", queue, "--port", str(port)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([*base, "producer", "--queue", queue], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]  # fmt: skip
        try:
            wait_for_http_path(port, "/video/c1", timeout=30)
            seconds = min(self.seconds * 2, 30.0)  # it is slow: give it frames to count, capped
            figures = self.measure(port, ["/video/c1"], [p.pid for p in processes], seconds)
            total = sum(v for role, v in figures["cpu_s"].items() if role != "broker")
            figures["cpu_ms_per_frame"] = {
                "naive": round(total / figures["frames"] * 1000, 3) if figures["frames"] else None,
                "broker": figures["cpu_ms_per_frame"]["broker"],
            }
            self.record("naive-1x15", figures)
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)

    def imagezmq(self) -> None:
        for mode in ("zmq", "amqp"):
            who = "imagezmq" if mode == "zmq" else "ours over RabbitMQ"
            log(f"  one hop, {who}: 640x480 JPEG at 15 fps")
            port, queue = free_port(), f"bench-hop-{uuid.uuid4().hex[:8]}"
            out = self.work / f"hop-{mode}.json"
            common = ["--mode", mode, "--port", str(port), "--queue", queue]
            base = [sys.executable, "-m", "benchmarks.hop"]
            receiver = subprocess.Popen(
                [*base, "recv", *common, "--seconds", str(self.seconds + 4), "--out", str(out)],
                cwd=ROOT,
            )
            time.sleep(2.0)  # the receiver binds / declares first
            sender = subprocess.Popen(
                [*base, "send", *common, "--seconds", str(self.seconds)], cwd=ROOT
            )
            sender.wait(self.seconds + 30)
            receiver.wait(self.seconds + 30)
            latencies = json.loads(out.read_text())[3:]  # the first frames meet cold caches
            figures = {**summary_ms(latencies), "frames": len(latencies)}
            self.record("hop-imagezmq" if mode == "zmq" else "hop-rabbitcam", figures)

    def capacity(self) -> None:
        """Offered load stepped up (pass-through cameras x 30 fps) until delivered load
        stops following it: the knee, and the overload curve past it. One independent
        client process reads every camera through /mux and reports its own CPU."""
        steps = (4, 8) if self.quick else (*range(4, 65, 4), *range(72, 161, 8))
        curve: list[dict[str, Any]] = []
        knee: dict[str, Any] | None = None
        past_knee = 0
        for count in steps:
            if knee is not None and past_knee and count * 30 > 2 * knee["offered_fps"]:
                break  # the overload curve reaches twice the knee's load: enough
            log(f"  capacity: {count} pass-through camera(s) x 30 fps, one /mux client")
            with self.site(cameras(count, 30, "none", qr=False), workers=2) as (port, run):
                figures = self.measure_mux(port, count, [run.pid])
            figures["cameras"] = count
            figures["offered_fps"] = count * 30
            self.record(f"capacity-{count}x30", figures)
            curve.append(
                {k: figures[k] for k in ("offered_fps", "fps", "p99_ms", "slowest_camera_share")}
            )
            held = (
                figures["fps"] >= 0.95 * figures["offered_fps"]
                and figures["p99_ms"] is not None
                and figures["p99_ms"] <= 50
            )
            if held and past_knee == 0:
                knee = figures
            else:
                past_knee += 1
        peak = max((point["fps"] for point in curve), default=0.0)
        overloaded = curve[-1] if past_knee else None
        self.results["capacity"] = {
            "aggregate_fps": knee["fps"] if knee else 0.0,
            "cameras": knee["cameras"] if knee else 0,
            "curve": curve,
            # The last step offers about twice the knee's load: what is still delivered.
            "overload_share_of_peak": round(overloaded["fps"] / peak, 2) if overloaded else None,
            "overload_p99_ms": overloaded["p99_ms"] if overloaded else None,
            "overload_slowest_camera_share": (
                overloaded["slowest_camera_share"] if overloaded else None
            ),
        }
        log(f"    capacity: {self.results['capacity']['aggregate_fps']} frames/s held (knee)")

    def measure_mux(self, port: int, count: int, roots: list[int]) -> dict[str, Any]:
        """Figures from the independent /mux client, and every role's CPU meanwhile."""
        seconds = self.seconds
        client = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.mux_client", str(port), str(seconds),
             "--cameras", str(count)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            said = client.stderr.readline()  # "recording": the client's window starts
            before = cpu_by_role(roots, self.broker)
            out, err = client.communicate(timeout=seconds + 90)
        finally:
            if client.poll() is None:
                client.kill()
        if "recording" not in said:
            raise RuntimeError(f"the /mux client failed: {said}{err}")
        used = cpu_delta(before, cpu_by_role(roots, self.broker))
        document = json.loads(out)
        ages_by_camera = document["ages"]
        ages = [age for values in ages_by_camera.values() for age in values]
        frames = len(ages)
        per_camera = [len(v) / seconds for v in ages_by_camera.values()]
        per_camera += [0.0] * (count - len(per_camera))  # cameras that showed nothing
        mean = sum(per_camera) / count
        return {
            **summary_ms(ages),
            "max_ms": round(max(ages) * 1000, 2) if ages else None,
            "frames": frames,
            "fps": round(frames / seconds, 1),
            "seconds": seconds,
            "slowest_camera_share": round(min(per_camera) / mean, 2) if mean else 0.0,
            "client_cpu_pct": round(document["client_cpu_s"] / seconds * 100, 1),
            "cpu_ms_per_frame": {
                role: round(used.get(role, 0.0) / frames * 1000, 3) if frames else None
                for role in ROLES
            },
            "cpu_s": {role: round(v, 2) for role, v in used.items()},
        }

    def overload(self) -> None:
        seconds = 6.0 if self.quick else 60.0
        log(f"  overload: 1 camera x 30 fps into a 100 ms detector, 1 worker, {seconds:.0f}s")
        camera = cameras(1, 30, "slow", max_age_ms=1000, queue_length=2)
        depths: list[int] = []
        with self.site(camera, workers=1) as (port, run):
            stop = threading.Event()
            sampler = threading.Thread(
                target=sample_depth, args=(run.namespace, "c1", depths, stop)
            )
            sampler.start()
            try:
                figures = self.measure(port, ["/video/c1"], [run.pid], seconds)
            finally:
                stop.set()
                sampler.join()
        figures["queue_depth_max"] = max(depths) if depths else None
        figures["queue_bound"] = 2
        figures["max_age_ms_config"] = 1000
        self.record("overload-1x30-slow100", figures)

    def fanout(self) -> None:
        log("  fan-out: 50 viewers of one 15 fps camera (motion)")
        with self.site(cameras(1, 15, "motion")) as (port, run):
            figures = self.measure(port, ["/video/c1"] * 50, [run.pid])
        figures["viewers"] = 50
        stream_cpu = figures["cpu_s"].get("stream", 0.0)
        figures["streamer_cpu_pct"] = round(stream_cpu / figures["seconds"] * 100, 1)
        self.record("fanout-50-viewers", figures)

    # --- report ------------------------------------------------------------------------

    def targets(self) -> list[dict[str, Any]]:
        r = self.results

        def get(name: str, key: str) -> float | None:
            return r.get(name, {}).get(key)

        checks = []

        def check(label: str, value: float | None, limit: float, better: str) -> None:
            ok = None if value is None else (value <= limit if better == "<=" else value >= limit)
            checks.append({"target": label, "value": value, "limit": limit, "met": ok})

        check("pipeline 4x15 motion p50 (ms)", get("pipeline-4x15-motion", "p50_ms"), 15, "<=")
        check("pipeline 4x15 motion p99 (ms)", get("pipeline-4x15-motion", "p99_ms"), 50, "<=")
        check("16x15 motion p99 (ms)", get("motion-16x15", "p99_ms"), 50, "<=")
        check("16x15 motion delivered (frames/s)", get("motion-16x15", "fps"), 0.95 * 240, ">=")
        page = "motion-16x15-page"
        check("16x15 motion, drawn by the page: p99 (ms)", get(page, "p99_ms"), 50, "<=")
        check("16x15 motion, drawn by the page: frames/s", get(page, "fps"), 0.95 * 240, ">=")
        ratio = _ratio(get("pipeline-4x15-motion", "p50_ms"), get("direct-4x15-motion", "p50_ms"))
        check("pipeline p50 / direct p50 (4x15 motion)", ratio, 2.5, "<=")
        gap = _ratio(get("naive-1x15", "p50_ms"), get("pipeline-1x15-motion", "p50_ms"))
        check("naive p50 / pipeline p50 (1 camera)", gap, 20, ">=")
        hop = _ratio(get("hop-rabbitcam", "p50_ms"), get("hop-imagezmq", "p50_ms"))
        check("our hop p50 / imagezmq hop p50", hop, 1.5, "<=")
        check(
            "capacity at p99 <= 50 ms (frames/s)",
            r.get("capacity", {}).get("aggregate_fps"),
            900,
            ">=",
        )
        capacity = r.get("capacity", {})
        check("2x overload: delivered / peak", capacity.get("overload_share_of_peak"), 0.9, ">=")
        check("2x overload: p99 (ms)", capacity.get("overload_p99_ms"), 100, "<=")
        check(
            "2x overload: slowest camera / mean",
            capacity.get("overload_slowest_camera_share"),
            0.5,
            ">=",
        )
        check(
            "overload: oldest frame shown (ms)", get("overload-1x30-slow100", "max_ms"), 1000, "<="
        )
        check(
            "overload: deepest frame queue",
            get("overload-1x30-slow100", "queue_depth_max"),
            2,
            "<=",
        )
        return checks

    def report(self) -> Path:
        rows = [(name, f) for name, f in self.results.items() if name != "capacity"]
        header = f"{'scenario':<26}{'fps':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  cpu ms/frame"
        log("\n" + header)
        log("-" * len(header))
        for name, f in rows:
            cpu = f.get("cpu_ms_per_frame") or {}
            cpu_text = " ".join(f"{k} {v}" for k, v in cpu.items() if v is not None)
            log(
                f"{name:<26}{_fmt(f.get('fps')):>7}{_fmt(f.get('p50_ms')):>9}"
                f"{_fmt(f.get('p95_ms')):>9}{_fmt(f.get('p99_ms')):>9}  {cpu_text}"
            )
        checks = self.targets()
        log("\ntargets:")
        for c in checks:
            state = {True: "met", False: "MISSED", None: "not measured"}[c["met"]]
            log(f"  {c['target']:<42} {_fmt(c['value']):>9}  (limit {c['limit']})  {state}")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        document = {
            "started": stamp,
            "quick": self.quick,
            "seconds_per_scenario": self.seconds,
            "machine": machine(),
            "scenarios": self.results,
            "targets": checks,
        }
        json_path = self.out / f"bench-{stamp}.json"
        json_path.write_text(json.dumps(document, indent=2))
        chart = self.out / f"bench-{stamp}.png"
        draw_chart(rows, chart)
        if curve := self.results.get("capacity", {}).get("curve"):
            draw_capacity(curve, self.out / f"bench-{stamp}-capacity.png")
        (self.out / "latest.json").write_text(json.dumps(document, indent=2))
        log(f"\nwrote {json_path} and {chart}")
        return json_path


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def wait_for_http_path(port: int, path: str, timeout: float) -> None:
    def up() -> bool:
        try:
            with requests.get(f"http://127.0.0.1:{port}{path}", stream=True, timeout=2) as r:
                return r.status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=timeout, interval=0.3)


def sample_depth(namespace: str, camera: str, depths: list[int], stop: threading.Event) -> None:
    import pika

    from pipeline.core.topology import Topology

    queue = Topology(namespace).frame_queue(camera)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
    while not stop.is_set():
        channel = connection.channel()
        with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
            depths.append(channel.queue_declare(queue, passive=True).method.message_count)
            channel.close()
        connection.sleep(0.25)
    connection.close()


def draw_chart(rows: list[tuple[str, dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, f in rows if f.get("p50_ms") is not None]
    if not names:
        return
    figures = dict(rows)
    fig, axis = plt.subplots(figsize=(9, 0.45 * len(names) + 1.5))
    height = 0.27
    for offset, (key, colour) in enumerate(
        (("p50_ms", "#4c9be8"), ("p95_ms", "#f0a430"), ("p99_ms", "#d9534f"))
    ):
        values = [figures[n].get(key) or 0 for n in names]
        axis.barh([i + (offset - 1) * height for i in range(len(names))], values, height,
                  label=key.removesuffix("_ms"), color=colour)  # fmt: skip
    axis.set_yticks(range(len(names)), names)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("capture → read by the client (ms, log scale)")
    axis.legend(loc="lower right")
    axis.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_capacity(curve: list[dict[str, Any]], path: Path) -> None:
    """Delivered frames/s and p99 against offered frames/s: the knee and past it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [point["offered_fps"] for point in curve]
    fig, axis = plt.subplots(figsize=(7, 4))
    axis.plot(offered, offered, ":", color="#999", label="offered")
    axis.plot(offered, [p["fps"] for p in curve], "o-", color="#4c9be8", label="delivered")
    axis.set_xlabel("offered frames/s (cameras x 30 fps)")
    axis.set_ylabel("frames/s read by the /mux client")
    latency = axis.twinx()
    latency.plot(offered, [p["p99_ms"] or 0 for p in curve], "s--", color="#d9534f", label="p99")
    latency.set_ylabel("p99 capture → client (ms)")
    axis.legend(loc="upper left")
    latency.legend(loc="lower right")
    axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n\n")[0].replace("\n", " ")  # the first paragraph, whole
    parser = argparse.ArgumentParser(prog="rabbitcam bench", description=summary)
    parser.add_argument("scenario", nargs="?", default="all", choices=["all", *SCENARIOS])
    parser.add_argument("--quick", action="store_true", help="about 2 s a scenario")
    parser.add_argument("--seconds", type=float, help="measure each scenario this long (30)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results",
        help="where the JSON, the charts and the roles' logs go (benchmarks/results)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    bench = Bench(args.quick, args.out, args.seconds)
    chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
    started = time.monotonic()
    for index, name in enumerate(chosen, 1):
        log(f"[{index}/{len(chosen)}] {name}")
        getattr(bench, name)()
    bench.report()
    log(f"bench took {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
