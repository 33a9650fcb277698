"""Running rabbitcam as a user does (subprocesses), reading its streams, and
the processes' own CPU accounting. Shared by the benchmarks and the tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until ``condition()`` is truthy; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {condition}")


# The local RabbitMQ's management, metrics and inter-node ports.
BROKER_PORTS = (15672, 15692, 25672)


def free_port() -> int:
    """A port nothing listens on, for a server started a moment later. Taken from below
    the ephemeral range: a port that ``bind(0)`` hands out may meanwhile become the
    local end of some process's outgoing connection (a role's to the broker), and the
    server started on it then fails with "Address already in use"."""
    try:
        lowest_ephemeral = int(
            Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]
        )
    except (OSError, ValueError, IndexError):
        lowest_ephemeral = 32_768
    for _ in range(200):
        port = random.randrange(10_000, max(10_001, lowest_ephemeral))
        if port in BROKER_PORTS:  # free only while a test has the broker stopped
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rabbitcam_command() -> list[str]:
    script = Path(sys.executable).parent / "rabbitcam"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline"]


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from the kernel's own accounting."""
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def stat_cpu_seconds(stat: Path) -> float:
    """User + system CPU time from a ``/proc`` stat file (a process's or a thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


class Rabbitcam:
    """``rabbitcam ARGS`` in the background, in a namespace; SIGTERM on exit."""

    def __init__(
        self,
        args: list[str],
        namespace: str,
        log: Path,
        prefix: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.log_path = log
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [*(prefix or []), *rabbitcam_command(), *args],
            cwd=ROOT,
            env={**os.environ, "RABBITCAM_NAMESPACE": namespace, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()
        return self.process.returncode

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text()[-chars:]

    def __enter__(self) -> Rabbitcam:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def wait_for_http(base: str, timeout: float = 30.0) -> None:
    def up() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(up, timeout=timeout, interval=0.2)


def read_parts(stream, count: int | None = None) -> Iterator[tuple[dict[str, str], bytes, float]]:
    """(headers, jpeg, received_at) per multipart part from a file-like byte stream."""
    taken = 0
    while count is None or taken < count:
        boundary = stream.readline()
        if boundary == b"":
            return
        if boundary == b"\r\n":
            continue
        assert boundary.strip() == b"--frame", boundary
        headers = {}
        while (line := stream.readline().strip()) != b"":
            name, value = line.decode().split(": ", 1)
            headers[name] = value
        jpeg = stream.read(int(headers["Content-Length"]))
        received_at = time.time()
        assert stream.read(2) == b"\r\n"
        taken += 1
        yield headers, jpeg, received_at


def real_frames(parts):
    """Only camera frames, no placeholders."""
    return ((h, j, t) for h, j, t in parts if "X-Placeholder" not in h)


class Dechunked:
    """A readable view of an HTTP chunked body (``readline`` and ``read``)."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.buffer = b""
        self.done = False

    def _fill(self) -> bool:
        if self.done:
            return False
        size = int(self.raw.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            self.done = True
            return False
        self.buffer += self.raw.read(size)
        self.raw.readline()  # the CRLF after the chunk
        return True

    def readline(self) -> bytes:
        while b"\n" not in self.buffer and self._fill():
            pass
        end = self.buffer.find(b"\n") + 1 or len(self.buffer)
        line, self.buffer = self.buffer[:end], self.buffer[end:]
        return line

    def read(self, count: int) -> bytes:
        while len(self.buffer) < count and self._fill():
            pass
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data


def open_stream(host: str, port: int, path: str, receive_buffer: int | None = None):
    """A raw HTTP GET on a socket (optionally with a small receive buffer).

    HTTP/1.0, so that servers that can send the body as is do; a chunked body
    (some servers chunk anyway) is undone, so the parts read as sent.
    """
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect((host, port))
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    stream = sock.makefile("rb")
    status = stream.readline()
    assert b" 200 " in status, status
    chunked = False
    while line := stream.readline().strip():
        name, _, value = line.decode().partition(":")
        if name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    return sock, (Dechunked(stream) if chunked else stream)


DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"


def amqp_url() -> str:
    return os.environ.get("RABBITCAM_AMQP_URL", DEFAULT_URL).split(",")[0]


def delete_namespace(url: str, name: str, cameras: list[str], alarms: tuple[str, ...] = ()) -> None:
    """Remove every exchange and queue a test created under ``name``."""
    import pika

    from pipeline.core.topology import Topology

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    topology = Topology(name)
    queues = [topology.dead_queue, topology.record_queue]
    queues += [topology.alarm_queue(alarm) for alarm in alarms]
    for camera in cameras:
        queues += [
            topology.frame_queue(camera),
            topology.events_queue(camera),
            topology.recent_queue(camera),
            topology.footage_queue(camera),
        ]
    for queue in queues:
        channel.queue_delete(queue)
    for exchange in (
        topology.frames_exchange,
        topology.results_exchange,
        topology.events_exchange,
        topology.status_exchange,
        topology.footage_exchange,
        topology.dead_exchange,
    ):
        channel.exchange_delete(exchange)
    connection.close()


def add_user(config: Path, namespace: str, name: str, role: str, password: str) -> None:
    """A user of the site, made with the real ``rabbitcam users add``."""
    made = subprocess.run(
        [*rabbitcam_command(), "users", "add", name, "--role", role, "--password-stdin",
         "--config", str(config)],
        input=password + "\n", capture_output=True, text=True, timeout=30, cwd=ROOT,
        env={**os.environ, "RABBITCAM_NAMESPACE": namespace},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
