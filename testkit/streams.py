"""Measuring MJPEG streams from outside, as a viewer: frame ages from X-Captured-At,
one reader thread per stream. Shared by the tests and the benchmarks."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from testkit.processes import open_stream, read_parts, real_frames


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (a value that was observed); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def summary_ms(ages_s: list[float]) -> dict[str, float | None]:
    return {
        name: None if (value := percentile(ages_s, q)) is None else round(value * 1000, 2)
        for name, q in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))
    }


@dataclass
class StreamReader:
    """One reader thread per stream; records (camera, seq, age in seconds) per frame.

    Age is measured when the whole MJPEG part has been read: now - X-Captured-At.
    """

    port: int
    paths: list[str]
    ages: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seqs: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    recording: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Which streams (by index: several may read one camera) have had a real frame.
    delivered: set[int] = field(default_factory=set)

    def start(self) -> StreamReader:
        for index, path in enumerate(self.paths):
            thread = threading.Thread(target=self._read, args=(index, path), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _read(self, index: int, path: str) -> None:
        try:
            sock, stream = open_stream("127.0.0.1", self.port, path)
        except (OSError, AssertionError) as error:
            self.errors.append(f"{path}: {error}")
            return
        try:
            for headers, _jpeg, received_at in real_frames(read_parts(stream)):
                if self.stop.is_set():
                    break
                self.delivered.add(index)
                if self.recording.is_set():
                    camera = headers.get("X-Camera", path)
                    self.ages[camera].append(received_at - float(headers["X-Captured-At"]))
                    self.seqs[camera].append(int(headers["X-Frame-Seq"]))
        except (OSError, ValueError, AssertionError) as error:
            if not self.stop.is_set():
                self.errors.append(f"{path}: {error}")
        finally:
            sock.close()

    def first_frames(self, timeout: float = 30.0) -> None:
        """Wait until every stream has delivered a real frame (counted by stream, not
        by camera: fifty viewers of one camera are fifty streams)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.delivered) < len(self.paths):
            time.sleep(0.1)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=3)

    def all_ages(self) -> list[float]:
        return [age for ages in self.ages.values() for age in ages]

    def frames(self) -> int:
        return sum(len(ages) for ages in self.ages.values())
