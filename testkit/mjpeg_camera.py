"""A small MJPEG-over-HTTP camera for tests: start it, stop it, start it again."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np


class MjpegCamera:
    def __init__(
        self, port: int, fps: float = 10.0, picture: Callable[[int], bytes] | None = None
    ) -> None:
        self.port = port
        self.fps = fps
        self.picture = picture  # the JPEG sent as picture number n, instead of the default
        self.server: ThreadingHTTPServer | None = None
        self.connections: set[socket.socket] = set()
        self.frames_sent = 0
        # Paused: connections stay open and silent, as a camera whose encoder hung.
        self.paused = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def frame(self, number: int) -> bytes:
        if self.picture is not None:
            return self.picture(number)
        image = np.full((240, 320, 3), 40, np.uint8)
        x = 20 + (number * 7) % 260
        cv2.rectangle(image, (x, 90), (x + 40, 150), (0, 200, 255), -1)
        return cv2.imencode(".jpg", image)[1].tobytes()

    def start(self) -> None:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                camera.connections.add(self.connection)
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                number = 0
                try:
                    while camera.server is not None:
                        if camera.paused.is_set():
                            time.sleep(0.05)
                            continue
                        jpeg = camera.frame(number)
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n"
                        )  # fmt: skip
                        camera.frames_sent += 1
                        number += 1
                        time.sleep(1 / camera.fps)
                except OSError:
                    pass
                finally:
                    camera.connections.discard(self.connection)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop as a camera that loses power does: every connection drops."""
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)
