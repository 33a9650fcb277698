"""Live configuration: notice changed camera files and say which cameras changed.

Every long-running role keeps a ``ConfigWatcher``. It compares the config
file's and the drop-in directory's file stamps (name, size, mtime) once a
second, which costs a few ``stat`` calls, and reloads only when they moved.
A reload is tolerant of broken drop-in files: the camera of a broken file
stays as it was, the problem is logged once, and every other camera is
applied. A broken main file changes nothing.

Roles on several hosts each watch their own copy of the files; nothing here
assumes they share a disk.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import CameraConfig, Config, ConfigError, camera_files_in, load_config

LOGGER = logging.getLogger(__name__)

POLL_S = 1.0

Stamp = tuple[str, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (path.name, info.st_size, info.st_mtime_ns)


def stamps(config: Config) -> tuple[Stamp | None, ...]:
    """What changes when the config file or a drop-in file is written, added or removed."""
    files = [config.path]
    if config.cameras_dir is not None:
        files += camera_files_in(config.cameras_dir)
    return tuple(_stamp(path) for path in files)


@dataclass(frozen=True)
class CameraChanges:
    added: tuple[CameraConfig, ...] = ()
    removed: tuple[CameraConfig, ...] = ()
    changed: tuple[CameraConfig, ...] = ()  # the new version of each

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def describe(self) -> str:
        parts = []
        for word, cameras in (
            ("added", self.added),
            ("changed", self.changed),
            ("removed", self.removed),
        ):
            if cameras:
                parts.append(f"{word} {', '.join(c.id for c in cameras)}")
        return "; ".join(parts) or "no camera changes"


def camera_changes(old: Config, new: Config) -> CameraChanges:
    before = {camera.id: camera for camera in old.cameras}
    after = {camera.id: camera for camera in new.cameras}
    return CameraChanges(
        added=tuple(camera for cid, camera in after.items() if cid not in before),
        removed=tuple(camera for cid, camera in before.items() if cid not in after),
        changed=tuple(
            camera for cid, camera in after.items() if cid in before and before[cid] != camera
        ),
    )


class ConfigWatcher:
    """Reloads a config when its files change; ``poll`` returns the camera changes."""

    def __init__(self, config: Config, role: str, interval_s: float = POLL_S) -> None:
        self.config = config
        self.role = role
        self.interval_s = interval_s
        self.stamps = stamps(config)
        self.next_check = time.monotonic() + interval_s
        self._report_skipped(config)

    def poll(self, force: bool = False) -> CameraChanges:
        """Check the files (at most once per interval unless ``force``)."""
        now = time.monotonic()
        if not force and now < self.next_check:
            return CameraChanges()
        self.next_check = now + self.interval_s
        current = stamps(self.config)
        if current == self.stamps:
            return CameraChanges()
        self.stamps = current
        try:
            new = load_config(self.config.path, tolerant=True, previous=self.config)
        except ConfigError as error:
            LOGGER.error(
                "%s: config not applied, still running the previous one: %s",
                self.role,
                "; ".join(error.problems),
            )
            return CameraChanges()
        self._report_skipped(new)
        for section in ("broker", "web", "detect", "log"):
            if getattr(new, section) != getattr(self.config, section):
                LOGGER.warning("%s: [%s] changed; it applies on restart", self.role, section)
        changes = camera_changes(self.config, new)
        self.config = new
        if changes:
            LOGGER.info("%s: cameras %s", self.role, changes.describe())
        return changes

    def _report_skipped(self, config: Config) -> None:
        for problem in config.skipped:
            LOGGER.error(
                "%s: camera file not applied (camera left as it was): %s", self.role, problem
            )
