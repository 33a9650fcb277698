"""Sliding-window measurements: latency percentiles and rates."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

WINDOW_S = 60.0
MAX_SAMPLES = 4096


class LatencyWindow:
    """Latency samples (ms) of the last ``window_s`` seconds; p50/p95/p99 on demand."""

    def __init__(self, window_s: float = WINDOW_S, max_samples: int = MAX_SAMPLES) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self.lock = threading.Lock()

    def add(self, latency_ms: float, now: float | None = None) -> None:
        with self.lock:
            self.samples.append((now if now is not None else time.monotonic(), latency_ms))

    def values(self, now: float | None = None) -> list[float]:
        horizon = (now if now is not None else time.monotonic()) - self.window_s
        with self.lock:
            while self.samples and self.samples[0][0] < horizon:
                self.samples.popleft()
            return [value for _, value in self.samples]

    def percentiles(self, now: float | None = None) -> dict[str, float | None]:
        values = sorted(self.values(now))
        if not values:
            return {"p50": None, "p95": None, "p99": None, "count": 0}
        return {
            "p50": round(_percentile(values, 0.50), 2),
            "p95": round(_percentile(values, 0.95), 2),
            "p99": round(_percentile(values, 0.99), 2),
            "count": len(values),
        }

    def series(self, buckets: int = 60, now: float | None = None) -> list[float | None]:
        """Median latency per second over the window, oldest first (for a chart)."""
        now = now if now is not None else time.monotonic()
        per_bucket: list[list[float]] = [[] for _ in range(buckets)]
        with self.lock:
            samples = list(self.samples)
        for at, value in samples:
            index = buckets - 1 - int(now - at)
            if 0 <= index < buckets:
                per_bucket[index].append(value)
        return [round(_percentile(sorted(b), 0.5), 2) if b else None for b in per_bucket]


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was really observed."""
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class RateMeter:
    """Events per second over the last ``window_s`` seconds.

    Until a whole window has passed since the first event, the rate is taken
    over the time that has (at least a second): a camera that started two
    seconds ago at 10 fps is at 10 fps, not at 4.
    """

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self.times: deque[float] = deque(maxlen=10_000)
        self.first: float | None = None
        self.lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = now if now is not None else time.monotonic()
        with self.lock:
            if self.first is None:
                self.first = now
            self.times.append(now)

    def rate(self, now: float | None = None) -> float:
        now = now if now is not None else time.monotonic()
        horizon = now - self.window_s
        with self.lock:
            while self.times and self.times[0] < horizon:
                self.times.popleft()
            count = len(self.times)
            observed = self.window_s if self.first is None else now - self.first
        return round(count / min(self.window_s, max(1.0, observed)), 2)
