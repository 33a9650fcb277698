"""One log line per event, with the process's role in every line."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(role)s %(name)s: %(message)s"


class _RoleFilter(logging.Filter):
    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = self.role
        return True


def setup_logging(role: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_RoleFilter(role))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pika logs every connection failure at length; our reconnect loop says it once.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


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

    def warning(self, message: str, *args: object) -> None:
        import time

        now = time.monotonic()
        if now - self.last_at < self.interval_s:
            self.held_back += 1
            return
        if self.held_back:
            message += " (and %d more like it since the last report)"
            args = (*args, self.held_back)
        self.logger.warning(message, *args)
        self.last_at, self.held_back = now, 0
