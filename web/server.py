"""Serving the streamer with waitress, a production WSGI server.

Each MJPEG viewer holds one server thread for as long as it watches, so the
thread pool is sized for viewers, not for short requests. The output buffer per
connection is kept to a few frames: a slow viewer then blocks its own
generator, which, when it resumes, sends the newest frame instead of the
backlog a large buffer would hold.
"""

from __future__ import annotations

import logging
import threading

import waitress

from pipeline.config import Config
from web.app import create_app
from web.hub import FrameHub

LOGGER = logging.getLogger(__name__)

OUTPUT_BUFFER_BYTES = 256 * 1024


def serve(config: Config, stop: threading.Event, bind: str | None = None) -> None:
    hub = FrameHub(config)
    hub.start()
    app = create_app(config, hub)
    host, port = (bind or config.web.bind).rsplit(":", 1)
    server = waitress.create_server(
        app,
        host=host.strip("[]"),
        port=int(port),
        threads=config.web.threads,
        connection_limit=max(100, config.web.threads * 2),
        outbuf_high_watermark=OUTPUT_BUFFER_BYTES,
        outbuf_overflow=OUTPUT_BUFFER_BYTES,
        channel_timeout=30,
        ident="rabbitcam",
        clear_untrusted_proxy_headers=True,
    )
    thread = threading.Thread(target=server.run, name="stream:http", daemon=True)
    thread.start()
    LOGGER.info("stream: serving http://%s:%s/", host, port)
    try:
        stop.wait()
    finally:
        hub.close()  # wakes and ends every viewer's stream
        server.close()
        server.task_dispatcher.shutdown(timeout=2)
        LOGGER.info("stream: stopped")
