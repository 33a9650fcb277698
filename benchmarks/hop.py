"""One hop, side by side: imagezmq (the peer people pick) and ours over RabbitMQ.

    python -m benchmarks.hop recv --mode zmq|amqp --port P --seconds S --out FILE [--queue Q]
    python -m benchmarks.hop send --mode zmq|amqp --port P --seconds S [--fps 15] [--queue Q]

The same 640x480 JPEG frames cross one hop between two processes. imagezmq:
``send_jpg`` → ``recv_jpg`` (its default REQ/REP). Ours: ``pack`` →
``basic_publish`` → consume (prefetch 1, manual ack) → ``unpack``. The
receiver records now - send time for every frame.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2

from pipeline.core import broker
from pipeline.core.camera_config import CameraConfig, SourceSpec
from pipeline.core.config import BrokerConfig
from pipeline.core.messages import Frame, pack, unpack
from pipeline.roles.sources import SyntheticSource


def jpeg_frames(count: int = 30) -> list[bytes]:
    source = SyntheticSource(CameraConfig(id="c1", source=SourceSpec("synthetic", "")))
    return [
        cv2.imencode(".jpg", source.render(1_795_000_000_000 + n, 1_700_000_000 + n / 15))[
            1
        ].tobytes()
        for n in range(count)
    ]


def broker_config() -> BrokerConfig:
    from testkit.processes import amqp_url

    return BrokerConfig(url=(amqp_url(),))


def declare(channel: broker.Channel, queue: str) -> None:
    channel.queue_declare(
        queue, arguments={"x-max-length": 2, "x-overflow": "drop-head", "x-expires": 60_000}
    )


def send(mode: str, port: int, seconds: float, fps: float, queue: str) -> None:
    frames = jpeg_frames()
    deadline = time.monotonic() + seconds
    if mode == "zmq":
        import imagezmq

        sender = imagezmq.ImageSender(connect_to=f"tcp://127.0.0.1:{port}")
        n = 0
        while time.monotonic() < deadline:
            sender.send_jpg(f"c1 {time.time():.6f}", frames[n % len(frames)])
            n += 1
            time.sleep(1 / fps)
        return
    connection = broker.connect(broker_config(), "hop:send")
    channel = connection.channel()
    declare(channel, queue)
    n = 0
    while time.monotonic() < deadline:
        frame = Frame("c1", n, time.time(), 640, 480, frames[n % len(frames)])
        channel.basic_publish("", queue, pack(frame), broker.properties())
        n += 1
        connection.sleep(1 / fps)
    connection.close()


def receive(mode: str, port: int, seconds: float, out: Path, queue: str) -> None:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    if mode == "zmq":
        import imagezmq

        hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{port}")
        hub.zmq_socket.RCVTIMEO = 500
        while time.monotonic() < deadline:
            try:
                message, _jpeg = hub.recv_jpg()
            except Exception:  # zmq.Again on the timeout: nothing sent yet
                continue
            latencies.append(time.time() - float(message.split()[1]))
            hub.send_reply(b"OK")
    else:
        connection = broker.connect(broker_config(), "hop:recv")
        channel = connection.channel()
        declare(channel, queue)
        channel.basic_qos(prefetch_count=1)

        def on_message(ch, method, _properties, body: bytes) -> None:
            frame = unpack(body, Frame)
            latencies.append(time.time() - frame.captured_at)
            ch.basic_ack(method.delivery_tag)

        channel.basic_consume(queue, on_message)
        while time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.5)
        connection.close()
    out.write_text(json.dumps(latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["send", "recv"])
    parser.add_argument("--mode", choices=["zmq", "amqp"], required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--fps", type=float, default=15)
    parser.add_argument("--queue", default="rabbitcam.bench.hop")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.role == "send":
        send(args.mode, args.port, args.seconds, args.fps, args.queue)
    else:
        receive(args.mode, args.port, args.seconds, args.out, args.queue)


if __name__ == "__main__":
    main()
