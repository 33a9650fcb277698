"""Structured logs: one line per event, with the role and the camera in every line.

Two formats, chosen by ``[log] format`` in the config:

- ``text`` (default): ``2026-01-01 12:00:00.123 INFO    role=capture camera=door
  pipeline.roles.capture: message`` — for people and ``grep``;
- ``json``: one JSON object per line, for log collectors.

The camera is the process's own (a capture worker has one camera) unless a
log call names another with ``extra={"camera": id}`` (a detector worker serves
several); ``-`` when a line is about no camera.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from pipeline.core.text import printable

TEXT_FORMAT = (
    "%(asctime)s.%(msecs)03d %(levelname)-7s role=%(role)s camera=%(camera)s %(name)s: %(message)s"
)


class _ContextFilter(logging.Filter):
    def __init__(self, role: str, camera: str) -> None:
        super().__init__()
        self.role = role
        self.camera = camera

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = self.role
        if not getattr(record, "camera", None):
            record.camera = self.camera
        return True


class TextFormatter(logging.Formatter):
    """The text format, with control characters in messages made visible: a
    string from the wire (a camera's status reason, a rejected message's text)
    must not move a terminal's cursor or rewrite the lines around it."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "role": record.role,
            "camera": record.camera,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # ensure_ascii: control characters and everything else outside ASCII are escaped.
        return json.dumps(line)


def setup_logging(role: str, level: str = "INFO", fmt: str = "text", camera: str = "-") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(TEXT_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_ContextFilter(role, camera))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pika logs every connection failure at length; our reconnect loop says it once.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def about(camera: str) -> dict[str, dict[str, str]]:
    """``LOGGER.info(..., **about(camera_id))``: tag one line with its camera."""
    return {"extra": {"camera": camera}}


class Throttled:
    """Log a recurring warning at most once per ``interval_s``, with how many were held back.

    A flood of bad messages must not become a flood of log lines (nor of memory
    in whatever keeps them).
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.last_at = float("-inf")
        self.held_back = 0

    def warning(self, message: str, *args: object, camera: str | None = None) -> None:
        now = time.monotonic()
        if now - self.last_at < self.interval_s:
            self.held_back += 1
            return
        if self.held_back:
            message += " (and %d more like it since the last report)"
            args = (*args, self.held_back)
        extra = {"camera": camera} if camera else None
        self.logger.warning(message, *args, extra=extra)
        self.last_at, self.held_back = now, 0
