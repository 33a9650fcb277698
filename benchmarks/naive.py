"""What people write first, for comparison: JSON pixel lists and basic_get polling.

    python -m benchmarks.naive producer --queue Q [--fps 15]
    python -m benchmarks.naive web --queue Q --port P

The producer publishes each frame as ``json.dumps(frame.tolist())``; the web
page's stream polls the queue with ``basic_get``, one connection per request,
decodes the JSON and JPEG-encodes it for the browser. This is a benchmark
baseline, not a pattern to copy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pika
from flask import Flask, Response
from werkzeug.serving import run_simple

from pipeline.core.config import parse_config
from pipeline.roles.sources import SyntheticSource
from testkit.processes import amqp_url


def declare(channel, queue: str) -> None:
    # Deleted by the broker a minute after the benchmark stops using it.
    channel.queue_declare(queue, arguments={"x-expires": 60_000})


def producer(queue: str, fps: float) -> None:
    config = parse_config({"cameras": [{"id": "c1", "source": "synthetic"}]}, Path("naive.toml"))
    source = SyntheticSource(config.cameras[0])
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
    channel = connection.channel()
    declare(channel, queue)
    seq = 0
    while True:
        frame = source.next_frame(seq)
        body = json.dumps(
            {"seq": seq, "captured_at": frame.captured_at, "frame": frame.image.tolist()}
        )
        channel.basic_publish("", queue, body)
        seq += 1
        connection.sleep(max(0.0, 1 / fps - (time.time() - frame.captured_at)))


def web(queue: str, port: int) -> None:
    app = Flask(__name__)

    @app.get("/video/c1")
    def video() -> Response:
        def frames():
            connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
            channel = connection.channel()
            declare(channel, queue)
            while True:
                method, _properties, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    time.sleep(0.01)
                    continue
                message = json.loads(body)
                image = np.array(message["frame"], dtype=np.uint8)
                jpeg = cv2.imencode(".jpg", image)[1].tobytes()
                yield (
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(jpeg)).encode()
                    + f"\r\nX-Camera: c1\r\nX-Frame-Seq: {message['seq']}\r\n"
                    f"X-Captured-At: {message['captured_at']:.6f}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )

        return Response(frames(), mimetype="multipart/x-mixed-replace; boundary=frame")

    run_simple("127.0.0.1", port, app, threaded=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["producer", "web"])
    parser.add_argument("--queue", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fps", type=float, default=15)
    args = parser.parse_args()
    if args.role == "producer":
        producer(args.queue, args.fps)
    else:
        web(args.queue, args.port)


if __name__ == "__main__":
    main()
