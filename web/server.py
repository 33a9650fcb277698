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
import time

import waitress
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.server import MultiSocketServer

from pipeline.core.config import Config
from pipeline.core.reload import ConfigWatcher
from web.app import create_app
from web.auth import Auth
from web.hub import FrameHub
from web.metrics import StreamMetrics

LOGGER = logging.getLogger(__name__)


class StallingViewerChannel(HTTPChannel):
    """waitress's connection, with a bound on how long a write may wait for the client.

    A write that finds the connection's buffer full waits until the client
    reads; waitress waits for ever, so each viewer that never reads pins a
    server thread until the server stops. Here the wait ends after
    ``[web] stall_s``: the connection is closed and its thread goes back to
    the pool. (waitress has no setting for it; this overrides the one method
    where the wait happens, and ``tests/security`` proves it still does.)
    """

    stall_s = 5.0

    def _flush_outbufs_below_high_watermark(self) -> None:
        if self.total_outbufs_len <= self.adj.outbuf_high_watermark:
            return
        deadline = time.monotonic() + self.stall_s
        with self.outbuf_lock:
            (_, exception) = self._flush_exception(self._flush_some, do_close=False)
            if exception:
                self.server.pull_trigger()
                self.outbuf_lock.wait(self.stall_s)
                return
            while self.connected and self.total_outbufs_len > self.adj.outbuf_high_watermark:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    LOGGER.info(
                        "stream: cut off %s: took nothing for %.0f s", self.addr, self.stall_s
                    )
                    self.will_close = True  # the server's loop closes the socket
                    self.server.pull_trigger()
                    raise ClientDisconnected
                self.server.pull_trigger()
                self.outbuf_lock.wait(min(remaining, 1.0))


def create_server(app, config: Config, bind: str | None = None):
    """A waitress server for ``app``, tuned for live video (see the module docstring)."""
    host, port = (bind or config.web.bind).rsplit(":", 1)
    buffer_bytes = config.web.send_buffer_kb * 1024
    proxy = {}
    if config.web.trusted_proxy:
        proxy = {
            "trusted_proxy": config.web.trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
        }
    server = waitress.create_server(
        app,
        host=host.strip("[]"),
        port=int(port),
        threads=config.web.threads,
        # Sockets beyond the threads wait for one; idle ones are closed after
        # channel_timeout. A flood of bare connections is a reverse proxy's job.
        connection_limit=max(512, config.web.threads * 2),
        outbuf_high_watermark=buffer_bytes,
        channel_timeout=30,
        ident="rabbitcam",
        clear_untrusted_proxy_headers=True,
        **proxy,
    )
    channel = type(
        "StallingViewerChannel", (StallingViewerChannel,), {"stall_s": config.web.stall_s}
    )
    # One listening server, or (a host name with several addresses) one per address.
    listeners = server.map.values() if isinstance(server, MultiSocketServer) else [server]
    for listener in listeners:
        if hasattr(listener, "channel_class"):
            listener.channel_class = channel
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
    auth = Auth.for_site(config, bind)
    address = bind or config.web.bind
    try:
        auth.prepare(f"{config.web.public_url or 'http://' + address}/login")
    except (OSError, ValueError) as error:  # the site runs; nobody logs in until it is fixed
        LOGGER.error("stream: the users file %s cannot be used: %s", config.users_path, error)
    app = create_app(config, hub, auth=auth, metrics=metrics)
    server = create_server(app, config, bind)
    thread = threading.Thread(target=server.run, name="stream:http", daemon=True)
    thread.start()
    LOGGER.info(
        "stream: serving http://%s/ (%s; at most %d streams, %d per address)",
        bind or config.web.bind,
        auth.describe(),
        config.web.stream_limit,
        config.web.max_streams_per_client,
    )
    try:
        stop.wait()
    finally:
        hub.close()  # wakes and ends every viewer's stream
        server.close()
        server.task_dispatcher.shutdown(timeout=2)
        LOGGER.info("stream: stopped")
