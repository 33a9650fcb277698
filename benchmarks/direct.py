"""The floor: the pipeline's work in one process, with no broker.

    python -m benchmarks.direct --port P --cameras N [--fps 15] [--detector motion|none]

Per camera, a thread renders the synthetic source, JPEG-encodes it (as
capture does), runs it through the detector worker's own processing (decode,
detectors, annotate, encode: ``DetectorWorker.process``, no broker involved)
and hands the result to the streamer's hub, served by the same tuned waitress.
What the real pipeline adds to this is the cost of going through RabbitMQ and
separate processes.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import cv2

from pipeline.core.config import parse_config
from pipeline.core.messages import Frame, Result, pack, unpack
from pipeline.core.signals import stop_on_signals
from pipeline.roles.capture import first_seq
from pipeline.roles.detect import Delivery, DetectorWorker
from pipeline.roles.sources import SyntheticSource
from web.app import create_app
from web.auth import Auth
from web.hub import FrameHub
from web.server import create_server


def camera_loop(worker: DetectorWorker, hub: FrameHub, camera, stop: threading.Event) -> None:
    source = SyntheticSource(camera)
    feed = hub.feed(camera.id)
    seq = first_seq()
    period = 1.0 / camera.fps
    next_tick = time.monotonic()
    while not stop.is_set():
        captured = source.next_frame(seq)
        _, jpeg = cv2.imencode(
            ".jpg", captured.image, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality]
        )
        frame = Frame(
            camera.id, seq, captured.captured_at, camera.width, camera.height, jpeg.tobytes()
        )
        delivery = Delivery(0, 0, camera, pack(frame), None, time.time(), lambda: None)
        outcome = worker.process(delivery)
        if outcome.result is not None:
            feed.offer(unpack(outcome.result, Result))
        seq += 1
        next_tick += period
        stop.wait(max(0.0, next_tick - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--fps", type=float, default=15)
    parser.add_argument("--detector", choices=["motion", "none"], default="motion")
    args = parser.parse_args()
    cameras = [
        {
            "id": f"c{index}",
            "source": "synthetic",
            "fps": args.fps,
            "detectors": ["motion"] if args.detector == "motion" else [],
            "annotate": args.detector == "motion",
        }
        for index in range(1, args.cameras + 1)
    ]
    config = parse_config({"cameras": cameras}, Path("direct.toml").resolve())
    stop = stop_on_signals()
    hub = FrameHub(config)
    worker = DetectorWorker(config, list(config.cameras), stop, "direct")
    server = create_server(
        create_app(config, hub, auth=Auth(anonymous=True)), config, f"127.0.0.1:{args.port}"
    )
    threading.Thread(target=server.run, daemon=True).start()
    threads = [
        threading.Thread(target=camera_loop, args=(worker, hub, camera, stop), daemon=True)
        for camera in config.cameras
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    hub.close()
    server.close()


if __name__ == "__main__":
    main()
