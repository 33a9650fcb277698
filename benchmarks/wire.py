"""What packing and unpacking one message costs, beside a floor measured in the same run.

    python -m benchmarks.wire [--repeats 7] [--count 2000]

For each message (a 640x480 JPEG frame, a result with a face's mesh and four
boxes, a status, an event) it times ``pack`` and ``unpack`` (every check
included) and, as the floor, plain ``msgpack`` packing and unpacking the same
map with no checks at all. Medians of ``--repeats`` runs of ``--count``
messages, in microseconds a message. Run it on two trees to compare them: the
floor says how much the machine moved between the runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import cv2
import msgpack
import numpy as np

from pipeline.core import messages


def codec(name: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """The packer and unpacker of a message kind, as the tree being measured names
    them (``pack_frame`` and ``unpack_frame`` before the wire was declared)."""
    if hasattr(messages, "unpack"):
        kind = getattr(messages, name.capitalize())
        return messages.pack, lambda body: messages.unpack(body, kind)
    return getattr(messages, f"pack_{name}"), getattr(messages, f"unpack_{name}")


def samples() -> dict[str, tuple[Any, Callable[[Any], bytes], Callable[[bytes], Any]]]:
    """Each message kind: an instance, its packer and its unpacker."""
    rng = np.random.default_rng(1)
    picture = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), np.uint8), (9, 9), 0)
    jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    now = time.time()
    frame = messages.Frame("cam1", int(now * 1000), now, 640, 480, jpeg,
                           timings={"read_ms": 1.5, "encode_ms": 3.25})  # fmt: skip
    mesh = [[round(float(x), 4), round(float(y), 4)] for x, y in rng.random((468, 2))]
    detections = [
        {"label": "face", "score": 0.97, "box": [100, 80, 120, 140], "extra": {"mesh": mesh}},
        {"label": "blink", "event": True, "extra": {"closed_ms": 180}},
    ]
    for n in range(3):
        detections.append({"label": "person", "score": 0.8, "box": [10 * n, 20, 60, 150],
                           "extra": {"object": n, "zones": ["lawn"]}})  # fmt: skip
    result = messages.Result.of_frame(frame, "worker-1", overlay=False, detections=detections,
                                      timings={"detect.total_ms": 12.5})  # fmt: skip
    status = messages.Status("cam1", "live", now, "", 14.8, 12_345, 3, 1.0)
    crop = cv2.imencode(".jpg", picture[:200, :120])[1].tobytes()
    event = ("cam1", int(now * 1000), now,
             {"label": "person", "score": 0.81, "box": [1, 2, 30, 60], "extra": {"object": 7}},
             crop)  # fmt: skip
    pack_event, unpack_event = codec("event")
    if hasattr(messages, "Event"):
        event_message: Any = messages.Event(*event)
    else:
        event_message, pack_event = event, lambda fields: messages.pack_event(*fields)
    return {
        "frame": (frame, *codec("frame")),
        "result": (result, *codec("result")),
        "status": (status, *codec("status")),
        "event": (event_message, pack_event, unpack_event),
    }


def per_message_us(work: Callable[[], object], count: int, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            work()
        runs.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args(argv)
    print(f"{'message':8} {'bytes':>7} {'pack µs':>8} {'unpack µs':>9} "
          f"{'floor pack':>10} {'floor unpack':>12} {'ours/floor':>10}")  # fmt: skip
    for name, (message, pack, unpack) in samples().items():
        body = pack(message)
        plain = msgpack.unpackb(body, raw=False)  # the same map, for the floor
        packing = per_message_us(partial(pack, message), args.count, args.repeats)
        unpacking = per_message_us(partial(unpack, body), args.count, args.repeats)
        floor_pack = per_message_us(
            partial(msgpack.packb, plain, use_bin_type=True), args.count, args.repeats
        )
        floor_unpack = per_message_us(
            partial(msgpack.unpackb, body, raw=False), args.count, args.repeats
        )
        ratio = (packing + unpacking) / (floor_pack + floor_unpack)
        print(f"{name:8} {len(body):7d} {packing:8.2f} {unpacking:9.2f} "
              f"{floor_pack:10.2f} {floor_unpack:12.2f} {ratio:9.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
