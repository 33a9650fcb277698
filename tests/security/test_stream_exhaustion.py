"""Viewers that ask for a stream and never read must not take the streamer down.

Each MJPEG viewer holds a server thread. Before: 128 sockets that sent a
request and never read pinned every thread for ever, and ``/healthz`` timed
out. Now streams are bounded (in all, and per client address) with 503 and
``Retry-After`` beyond, a viewer that takes nothing for ``[web] stall_s`` is
cut off and its thread freed, and pages, the API and ``/healthz`` keep
answering throughout.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from testkit.processes import read_parts, wait_for
from tests.security.conftest import CAMERA, noise_jpeg, now_seq

THREADS = 16  # stream limit: 16 - 4 kept for pages and the API = 12
PER_CLIENT = 5
STALL_S = 2.0


def config() -> str:
    return (
        f"[web]\nthreads = {THREADS}\nmax_streams_per_client = {PER_CLIENT}\nstall_s = {STALL_S}\n"
        + CAMERA.format(id="cam1")
    )


def ask_and_never_read(
    port: int, source: str, path: str = "/video/cam1"
) -> tuple[socket.socket, bytes]:
    """Send a stream request from ``source`` (an address on the loopback network) and
    read only the status line; the socket's receive buffer is as small as the kernel allows."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    status = b""
    while b"\r\n" not in status:
        chunk = sock.recv(1)
        if not chunk:
            break
        status += chunk
    return sock, status


class Frames:
    """Results of big (incompressible) frames at 20 fps, so that a viewer that does
    not read has its buffers full within a frame or two."""

    def __init__(self, publisher) -> None:
        self.publisher = publisher
        self.jpeg = noise_jpeg()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body_for = self.publisher.result_body
        while not self.stop.is_set():
            self.publisher.result(body=body_for(data=self.jpeg, seq=now_seq()))
            self.publisher.connection.process_data_events(0.05)

    def __enter__(self) -> Frames:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(5)


def answers_quickly(site, path: str) -> bool:
    started = time.monotonic()
    response = site.get(path, timeout=3)
    return response.status_code == 200 and time.monotonic() - started < 2.0


@pytest.mark.e2e
def test_silent_viewers_are_bounded_then_cut_off(make_site):
    site, publisher = make_site(config())
    site.streamer()
    with Frames(publisher):
        wait_for(lambda: site.camera()["status"] == "live", timeout=15)
        held = []
        # One address asks for twice its share: the rest is refused at once.
        statuses = []
        for _ in range(PER_CLIENT * 2):
            sock, status = ask_and_never_read(site.port, "127.0.0.1")
            held.append(sock)
            statuses.append(status)
        assert sum(b" 200 " in s for s in statuses) == PER_CLIENT, statuses
        assert sum(b" 503 " in s for s in statuses) == PER_CLIENT, statuses
        # Other addresses fill the rest, up to the total; then everyone is refused.
        statuses = []
        for index in range(20):
            sock, status = ask_and_never_read(site.port, f"127.0.0.{2 + index // PER_CLIENT}")
            held.append(sock)
            statuses.append(status)
        assert sum(b" 200 " in s for s in statuses) == THREADS - 4 - PER_CLIENT, statuses
        assert all(b" 503 " in s for s in statuses if b" 200 " not in s), statuses
        refused = requests.get(f"{site.base}/video/cam1", timeout=3, stream=True)
        assert refused.status_code == 503 and refused.headers["Retry-After"], refused.headers
        refused.close()
        # Under the attack: the dashboard, the API and the health check answer.
        for path in ("/healthz", "/api/cameras", "/", "/camera/cam1", "/metrics"):
            assert answers_quickly(site, path), path
        health = site.get("/healthz").json()
        others = THREADS - 4 - PER_CLIENT
        assert health["streams"] == THREADS - 4
        assert health["streams_refused"] == PER_CLIENT + (20 - others) + 1
        # Nobody reads: every stalled viewer is cut off after stall_s, threads go back.
        wait_for(lambda: site.get("/healthz").json()["streams"] == 0, timeout=STALL_S + 10)
        for sock in held:
            sock.close()
        # And a real viewer is served again, with fresh frames.
        response = requests.get(f"{site.base}/video/cam1", timeout=5, stream=True)
        assert response.status_code == 200
        parts = list(read_parts(response.raw, count=3))
        response.close()
    assert len(parts) == 3 and all(p[0]["X-Camera"] == "cam1" for p in parts)


@pytest.mark.e2e
def test_a_slow_but_reading_viewer_is_not_cut_off(make_site):
    """The cut-off is for viewers that take nothing: one that reads a frame every
    second (slower than the camera, faster than stall_s) keeps its stream."""
    site, publisher = make_site(config())
    site.streamer()
    with Frames(publisher):
        response = requests.get(f"{site.base}/video/cam1", timeout=10, stream=True)
        taken = 0
        for _ in read_parts(response.raw):
            taken += 1
            if taken == 5:
                break
            time.sleep(1.0)
        response.close()
    assert taken == 5


@pytest.mark.e2e
def test_mux_asking_for_more_cameras_than_exist_is_refused(make_site):
    site, _ = make_site(config())
    site.streamer()
    response = site.get("/mux?cameras=" + ",".join(["cam1"] * 5000))
    assert response.status_code == 404
    assert site.get("/mux?cameras=nope").status_code == 404
