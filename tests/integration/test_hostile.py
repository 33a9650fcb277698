"""Hostile messages on a frame queue and on a result queue: nothing crashes, every
bad message lands in the dead-letter queue with a reason, every valid frame is shown."""

from __future__ import annotations

import os
import random
import struct
import time
from collections import Counter
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pika

from pipeline.core.messages import Frame, pack
from pipeline.core.topology import Topology
from pipeline.roles.detect import DetectorWorker
from testkit.processes import wait_for
from tests.conftest import make_config
from tests.integration.conftest import queue_counts, wait_for_consumers
from web.hub import FrameHub

TOTAL = 10_000
VALID_EVERY = 10


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def bad_messages(rng: random.Random, jpeg_header: bytes) -> list[tuple[str, bytes]]:
    """One of each kind of bad message, to be cycled through."""
    good = msgpack.unpackb(pack(Frame("cam1", 1, time.time(), 64, 48, jpeg_header)))
    return [
        ("random bytes", os.urandom(rng.randint(1, 300))),
        ("truncated", pack(Frame("cam1", 1, 1.0, 64, 48, jpeg_header))[:-7]),
        ("4 GB bin header", b"\x81\xa4data\xc6" + struct.pack(">I", 0xFFFFFFFF) + b"xyz"),
        ("deep nesting", b"\x91" * 50_000 + b"\xc0"),
        ("wrong types", msgpack.packb({**good, "seq": "seven", "width": [64]})),
        ("unknown version", msgpack.packb({**good, "v": 99})),
        ("undecodable JPEG", msgpack.packb({**good, "data": b"\xff\xd8 not really a jpeg"})),
        ("not a map", msgpack.packb([1, 2, 3])),
    ]


def test_ten_thousand_hostile_messages(broker_url, namespace, roles):
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "width": 64, "height": 48,
          "queue_length": 1000, "queue_ttl_ms": 600_000, "max_age_ms": 600_000,
          "direct": False}],
        namespace=namespace,
    )  # fmt: skip
    camera = config.cameras[0]
    topology = Topology(namespace)
    hub = FrameHub(config)
    hub.start()
    worker = DetectorWorker(config, [camera], roles.stop, "w1")
    roles.start(worker.run, "detect")
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        wait_for(hub.connected.is_set, timeout=10)
        wait_for_consumers(connection, topology.frame_queue("cam1"))
        channel = connection.channel()
        channel.queue_purge(topology.dead_queue)
        rng = random.Random(7)
        jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()
        kinds = bad_messages(rng, jpeg)

        sent_bad: Counter = Counter()
        valid = 0
        for index in range(TOTAL):
            if index % VALID_EVERY == 0:
                valid += 1
                body = pack(Frame("cam1", valid, time.time(), 64, 48, jpeg))
            else:
                kind, body = kinds[index % len(kinds)]
                sent_bad[kind] += 1
            channel.basic_publish(topology.frames_exchange, "cam1", body)
            if index % 500 == 499:  # let the worker keep up, so the bound drops nothing
                wait_for(lambda: queue_counts(connection, topology.frame_queue("cam1"))[0] < 200,
                         timeout=60)  # fmt: skip
            if index == TOTAL // 2:
                rss_halfway = rss_mib()  # allocator arenas and caches have warmed up
        wait_for(lambda: queue_counts(connection, topology.frame_queue("cam1"))[0] == 0, timeout=60)
        rss_after_flood = rss_mib()
        # Two far over the size limit, and garbage on the streamer's result queue.
        oversize = b"\x00" * (33 * 1024 * 1024)
        for _ in range(2):
            channel.basic_publish(topology.frames_exchange, "cam1", oversize)
        for index in range(100):
            channel.basic_publish(topology.results_exchange, "cam1", kinds[index % len(kinds)][1])
            connection.sleep(0.005)
        bad_total = sum(sent_bad.values()) + 2 + 100

        dead = wait_for(
            lambda: (n := queue_counts(connection, topology.dead_queue)[0]) >= bad_total and n,
            timeout=120,
            interval=0.5,
        )
        assert dead == bad_total, (dead, bad_total)
        feed = hub.feed("cam1")
        wait_for(lambda: feed.received >= valid, timeout=30)
        assert feed.latest.result.seq == valid, "every valid frame was shown, in order"
        assert worker.counters.processed == valid
        assert worker.counters.rejected == sum(sent_bad.values()) + 2

        reasons: Counter = Counter()
        sources: Counter = Counter()
        for _ in range(300):
            _method, properties, _body = channel.basic_get(topology.dead_queue, auto_ack=True)
            reasons[properties.headers["x-rabbitcam-reason"].split(":")[0]] += 1
            sources[properties.headers["x-rabbitcam-source"]] += 1
        assert all(reasons), reasons
        assert set(sources) <= {topology.frame_queue("cam1"), "results:cam1"}
        print(f"\ndead letters {dead}, reasons (first 300): {dict(reasons)}")
        print(f"test process RSS {rss_halfway:.0f} MiB halfway -> {rss_after_flood:.0f} MiB")
        assert rss_after_flood - rss_halfway < 25, "memory keeps growing with the flood"
        assert all(thread.is_alive() for thread in roles.threads), "the worker died"
    finally:
        hub.close()
        connection.close()
