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

The client functions live in testkit.viewers: the tests assert on shorter runs of them.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path

from testkit.viewers import abrupt_disconnects, fan_out, health, slow_viewer


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
