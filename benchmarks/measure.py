"""Measuring from outside: CPU by role from /proc, the machine (frame ages: testkit.streams)."""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from pathlib import Path

from testkit.processes import cmdline, cpu_seconds


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
