"""A webhook endpoint for tests: it can be down (nothing listens), slow, or answer."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookEndpoint:
    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.received: list[tuple[float, dict[str, str], bytes]] = []
        self.attempts = 0
        self.delay_s = 0.0  # answer only after this long (a slow endpoint)
        self.status = 200
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with endpoint.lock:
                    endpoint.attempts += 1
                    delay, status = endpoint.delay_s, endpoint.status
                if delay:
                    time.sleep(delay)  # the client has given up by now: nothing was delivered
                elif 200 <= status < 300:
                    with endpoint.lock:
                        endpoint.received.append((time.time(), dict(self.headers), body))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def alarms(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, _, body in self.received]


class HostileEndpoint:
    """A TCP server that reads a request and answers as no honest HTTP server does:

    - ``"garbage"``: a line that is no HTTP status line, then closes;
    - ``"trickle"``: a valid status line, then a header byte every ``every_s``,
      never finishing (a socket timeout per read is never reached).
    """

    def __init__(self, port: int, mode: str, every_s: float = 0.5) -> None:
        self.port = port
        self.mode = mode
        self.every_s = every_s
        self.requests = 0
        self.closing = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.2)
        self.serving = threading.Thread(target=self._serve, daemon=True)
        self.serving.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        with self.listener:
            while not self.closing.is_set():
                try:
                    client, _ = self.listener.accept()
                except OSError:
                    continue
                threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client: socket.socket) -> None:
        with client:
            client.settimeout(5)
            try:
                client.recv(65536)
                self.requests += 1
                if self.mode == "garbage":
                    client.sendall(b"\x00\x01 this is no HTTP\r\n\r\n")
                    return
                client.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not self.closing.wait(self.every_s):
                    client.sendall(b"a")
            except OSError:
                return

    def stop(self) -> None:
        """Stop answering; the port is free when this returns."""
        self.closing.set()
        self.serving.join(timeout=5)
