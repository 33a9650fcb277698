"""An independent viewer for the capacity benchmark: every camera through one ``/mux``
connection, in a process of its own, so that the client is not the bottleneck.

    python -m benchmarks.mux_client PORT SECONDS [--settle S]

Reads the multipart stream with a plain socket (no HTTP library: parts are
found by their Content-Length), waits until every camera has shown a frame,
settles, then records for SECONDS the age of every frame on arrival
(now - X-Captured-At) per camera, and prints one JSON document: frames and ages
per camera, the seconds measured, and its own CPU seconds over them, so the
harness can show the client is far from saturated.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import sys
import time
from collections import defaultdict

HEADER_END = b"\r\n\r\n"


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parts(sock: socket.socket):
    """(headers, received_at) per multipart part; the JPEG bytes are skipped over."""
    buffer = bytearray()
    while True:
        end = buffer.find(HEADER_END)
        while end < 0:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            buffer += chunk
            end = buffer.find(HEADER_END)
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 4]
        headers = {}
        for line in head.split("\r\n"):
            name, _, value = line.partition(":")
            if value:
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "-1"))
        if length < 0:
            continue  # the response's own headers, or a boundary line
        while len(buffer) < length + 2:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            buffer += chunk
        received_at = time.time()
        del buffer[: length + 2]
        yield headers, received_at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--cameras", type=int, required=True, help="how many to wait for")
    parser.add_argument("--settle", type=float, default=1.0)
    args = parser.parse_args()
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.sendall(f"GET /mux HTTP/1.0\r\nHost: 127.0.0.1:{args.port}\r\n\r\n".encode())
    seen: set[str] = set()
    ages: dict[str, list[float]] = defaultdict(list)
    recording_from = recording_until = None
    cpu_start = 0.0
    started = False
    for headers, received_at in parts(sock):
        if "x-placeholder" in headers:
            continue
        camera = headers.get("x-camera", "?")
        if recording_from is None:
            seen.add(camera)
            if len(seen) >= args.cameras:
                recording_from = received_at + args.settle
                recording_until = recording_from + args.seconds
            continue
        if received_at < recording_from:
            cpu_start = own_cpu()
            continue
        if not started:
            started = True
            print("recording", file=sys.stderr, flush=True)
        if received_at >= recording_until:
            break
        ages[camera].append(received_at - float(headers["x-captured-at"]))
    cpu = own_cpu() - cpu_start
    json.dump(
        {"seconds": args.seconds, "client_cpu_s": round(cpu, 3), "ages": dict(ages)}, sys.stdout
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
