"""Measuring from outside: frame ages read off MJPEG streams, CPU from /proc."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from testkit.processes import cmdline, cpu_seconds, open_stream, read_parts, real_frames


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


def broker_pid() -> int | None:
    """The RabbitMQ node on this machine (its Erlang VM), if any."""
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"beam.smp" in stat.read_bytes() and b"rabbit" in stat.read_bytes():
                return int(stat.parent.name)
        except OSError:
            continue
    return None


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[parent].append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for child in children.get(current, []):
            found.append(child)
            todo.append(child)
    return found


def role_of(pid: int) -> str:
    words = cmdline(pid).split()
    for role in ("capture", "detect", "stream", "record", "alarm"):
        if role in words:
            return role
    return "other"


def cpu_by_role(roots: list[int], broker: int | None) -> dict[str, float]:
    """CPU seconds so far of every process under ``roots``, by role, and of the broker."""
    totals: dict[str, float] = defaultdict(float)
    for root in roots:
        for pid in [root, *descendants(root)]:
            try:
                totals[role_of(pid) if pid != root else "run"] += cpu_seconds(pid)
            except (OSError, IndexError):
                continue
    if broker is not None:
        with contextlib.suppress(OSError):  # the broker went away: report no figure
            totals["broker"] += cpu_seconds(broker)
    return dict(totals)


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: after[role] - before.get(role, 0.0) for role in after}


def machine() -> dict[str, str | int]:
    import platform

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": model or platform.machine(),
        "cores": os.cpu_count() or 0,
        "memory_gib": round(memory_gib),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
