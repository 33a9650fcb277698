"""Serving the streamer with waitress, a production WSGI server, tuned for live video.

waitress's defaults suit short requests, not MJPEG: 4 threads (each watching
viewer holds one for as long as it watches) and up to 16 MB buffered per
connection (a slow viewer then receives frames minutes old). Here:

- ``threads`` comes from ``[web] threads`` (default 128): that many viewers at
  once, plus the page and API requests;
- the output buffer per connection is cut to ``[web] send_buffer_kb`` (default
  8 KiB), and so is the socket's kernel send buffer. A write to a viewer that
  has not taken the previous frame then blocks that viewer's generator, and
  when it resumes it sends the newest frame: a slow viewer skips frames and the
  server holds about one frame for it, never a backlog. (On links with a large
  bandwidth-delay product, raise it: an 8 KiB buffer carries ~80 KB/s at
  100 ms round trip.)
"""

from __future__ import annotations

import logging
import socket
import threading

import waitress

from pipeline.config import Config
from pipeline.reload import ConfigWatcher
from web.app import create_app
from web.hub import FrameHub
from web.metrics import StreamMetrics

LOGGER = logging.getLogger(__name__)


def create_server(app, config: Config, bind: str | None = None):
    """A waitress server for ``app``, tuned for live video (see the module docstring)."""
    host, port = (bind or config.web.bind).rsplit(":", 1)
    buffer_bytes = config.web.send_buffer_kb * 1024
    server = waitress.create_server(
        app,
        host=host.strip("[]"),
        port=int(port),
        threads=config.web.threads,
        connection_limit=config.web.threads * 2,
        outbuf_high_watermark=buffer_bytes,
        channel_timeout=30,
        ident="rabbitcam",
        clear_untrusted_proxy_headers=True,
    )
    # Applied by waitress to every accepted connection (not a constructor option).
    server.adj.socket_options = [
        (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
        (socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes),
    ]
    return server


def serve(config: Config, stop: threading.Event, bind: str | None = None) -> None:
    metrics = StreamMetrics()
    hub = FrameHub(config, observer=metrics, watcher=ConfigWatcher(config, "stream"))
    hub.start()
    app = create_app(config, hub, metrics=metrics)
    server = create_server(app, config, bind)
    thread = threading.Thread(target=server.run, name="stream:http", daemon=True)
    thread.start()
    LOGGER.info("stream: serving http://%s/", bind or config.web.bind)
    try:
        stop.wait()
    finally:
        hub.close()  # wakes and ends every viewer's stream
        server.close()
        server.task_dispatcher.shutdown(timeout=2)
        LOGGER.info("stream: stopped")
