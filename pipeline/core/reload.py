"""Live configuration: notice changed camera files and say which cameras changed.

Every long-running role keeps a ``ConfigWatcher``. It compares the config
file's and the drop-in directory's file stamps (name, size, mtime) once a
second, which costs a few ``stat`` calls, and reloads only when they moved.
A reload is tolerant of broken drop-in files: the camera of a broken file
stays as it was, the problem is logged once, and every other camera is
applied. A broken main file changes nothing.

Loading a config (reading TOML, checking every camera's zones) is slow work
next to a broker connection's heartbeats, and its cost grows with what the
files hold. So ``poll`` only compares the stamps; the load runs on a thread of
its own, and a later ``poll`` (on the role's thread, which keeps the broker
connection) applies the result. A role's heartbeats never wait for a reload.

Roles on several hosts each watch their own copy of the files; nothing here
assumes they share a disk.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import Config, camera_files_in, load_config
from pipeline.core.settings import ConfigError

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
        self.loading: threading.Thread | None = None
        self.loaded: list[Config | None] = []  # the loader's result: a config, or None (broken)
        self._report_skipped(config)

    def poll(self, force: bool = False) -> CameraChanges:
        """Apply a load that has finished; check the files (at most once per interval
        unless ``force``) and start a load when they changed. With ``force``, a load
        runs here and now (tools and tests; never on a broker connection's thread)."""
        changes = self._apply_loaded()
        now = time.monotonic()
        if self.loading is not None or (not force and now < self.next_check):
            return changes
        self.next_check = now + self.interval_s
        current = stamps(self.config)
        if current == self.stamps:
            return changes
        self.stamps = current
        if force:
            self._load(self.config)
            return self._apply_loaded()
        self.loading = threading.Thread(
            target=self._load, args=(self.config,), name=f"{self.role}:config", daemon=True
        )
        self.loading.start()
        return changes

    def _load(self, previous: Config) -> None:
        try:
            new = load_config(previous.path, tolerant=True, previous=previous)
        except ConfigError as error:
            LOGGER.error(
                "%s: config not applied, still running the previous one: %s",
                self.role,
                "; ".join(error.problems),
            )
            new = None
        except Exception:  # a bug must not end the watching: the next change tries again
            LOGGER.exception("%s: loading the config failed", self.role)
            new = None
        self.loaded.append(new)

    def _apply_loaded(self) -> CameraChanges:
        if not self.loaded:
            return CameraChanges()
        new = self.loaded.pop()
        self.loading = None
        if new is None:
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
