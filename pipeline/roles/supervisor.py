"""``rabbitcam run``: every role for every camera, as child processes.

Capture processes (``[capture] cameras_per_process`` cameras each; by default
the cameras spread over one process per core, at most 16 to a process),
``[detect] workers`` detector processes, one streamer, a recorder when a camera
records events, a footage recorder when a camera keeps footage and an alarm
sender when alarms are configured. A child that
dies is restarted after a short delay, at most ``MAX_RESTARTS`` times a minute
(after that it waits for the minute to pass); SIGTERM or Ctrl-C stops every
child within a few seconds, and children die with the supervisor even if it is
killed outright (Linux parent-death signal).

Cameras are applied live: the supervisor watches the config and its drop-in
camera files (``pipeline.core.reload``) and starts, restarts or stops only the
capture process of a camera that was added (a process of its own), changed or
removed (its process is started again with its cameras as they are now).
Detector workers and the streamer watch the same files and follow by themselves.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import Config
from pipeline.core.reload import CameraChanges, ConfigWatcher

LOGGER = logging.getLogger(__name__)

MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
RESTART_DELAY_S = 1.0
STOP_GRACE_S = 4.0
POLL_S = 0.25


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: deque = field(default_factory=deque)
    start_after: float = 0.0
    # A restarted camera's new worker waits for the old one to be gone, so that
    # two workers never publish the same camera at once.
    after: subprocess.Popen | None = None
    cameras: tuple[str, ...] = ()  # a capture process: the cameras it serves


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the supervisor dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the supervisor's own shutdown still stops its children


ROLES = ("capture", "detect", "stream", "record", "footage", "alarm")


def _base_argv(log_level: str | None) -> list[str]:
    base = [sys.executable, "-m", "pipeline"]
    return [*base, "--log-level", log_level] if log_level else base


def capture_child(config: Config, cameras: list[CameraConfig], log_level: str | None) -> Child:
    """One capture process for ``cameras``."""
    ids = tuple(camera.id for camera in cameras)
    selected = [word for camera_id in ids for word in ("--camera", camera_id)]
    argv = [*_base_argv(log_level), "capture", *selected, str(config.path)]
    return Child(f"capture:{','.join(ids)}", argv, cameras=ids)


def capture_groups(config: Config) -> list[list[CameraConfig]]:
    """The cameras dealt into capture processes, in config order."""
    cameras = list(config.cameras)
    size = config.capture.group_size(len(cameras))
    return [cameras[start : start + size] for start in range(0, len(cameras), size)]


def child_specs(
    config: Config, bind: str | None, log_level: str | None, roles: tuple[str, ...] = ROLES
) -> list[Child]:
    base = _base_argv(log_level)
    path = str(config.path)
    children = []
    if "capture" in roles:
        children += [capture_child(config, group, log_level) for group in capture_groups(config)]
    workers = config.detect.workers if "detect" in roles else 0
    for index in range(workers):
        # Deal the ordered cameras out round-robin, so that workers started
        # together each take their share instead of the first taking them all.
        preferred = ",".join(c.id for i, c in enumerate(config.cameras) if i % workers == index)
        argv = [*base, "detect", "--worker-id", f"w{index + 1}", "--prefer", preferred, path]
        children.append(Child(f"detect:{index + 1}", argv))
    if "stream" in roles:
        stream = [*base, "stream", path]
        if bind:
            stream += ["--bind", bind]
        children.append(Child("stream", stream))
    if "record" in roles and config.recording:
        children.append(Child("record", [*base, "record", path]))
    if "footage" in roles and config.keeping_footage:
        children.append(Child("footage", [*base, "footage", path]))
    if "alarm" in roles and config.alarms:
        children.append(Child("alarm", [*base, "alarm", path]))
    return children


class Supervisor:
    def __init__(
        self,
        children: list[Child],
        stop: threading.Event,
        watcher: ConfigWatcher | None = None,
        log_level: str | None = None,
    ) -> None:
        self.children = children
        self.stop = stop
        self.watcher = watcher
        self.log_level = log_level
        # Children told to stop (camera removed or changed), until they are gone.
        self.retiring: list[tuple[subprocess.Popen, float]] = []

    def run(self) -> int:
        try:
            while not self.stop.is_set():
                if self.watcher is not None:
                    changes = self.watcher.poll()
                    if changes:
                        self.apply(changes)
                for child in self.children:
                    self._tend(child)
                self._reap_retired()
                self.stop.wait(POLL_S)
        finally:
            self.shutdown()
        return 0

    def apply(self, changes: CameraChanges) -> None:
        """Start, restart or stop capture processes for the cameras that changed."""
        assert self.watcher is not None
        config = self.watcher.config
        removed = {camera.id for camera in changes.removed}
        changed = {camera.id for camera in changes.changed}
        for child in [c for c in self.children if set(c.cameras) & (removed | changed)]:
            for camera_id in child.cameras:
                if camera_id in removed:
                    LOGGER.info("camera %s removed: stopping its capture", camera_id)
                elif camera_id in changed:
                    LOGGER.info("camera %s changed: restarting its capture", camera_id)
            kept = [config.camera(c) for c in child.cameras if c not in removed]
            if not kept:
                self._retire(child)
                self.children.remove(child)
                continue
            replacement = capture_child(config, kept, self.log_level)
            replacement.after = self._retire(child)
            self.children[self.children.index(child)] = replacement
        for camera in changes.added:
            LOGGER.info("camera %s added: starting its capture", camera.id)
            self.children.insert(0, capture_child(config, [camera], self.log_level))

    def _retire(self, child: Child) -> subprocess.Popen | None:
        process, child.process = child.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            self.retiring.append((process, time.monotonic() + STOP_GRACE_S))
        return process

    def _reap_retired(self) -> None:
        still = []
        for process, deadline in self.retiring:
            if process.poll() is not None:
                continue
            if time.monotonic() > deadline:
                LOGGER.warning("pid %s did not stop in time; killing it", process.pid)
                process.kill()
            still.append((process, deadline))
        self.retiring = still

    def _start(self, child: Child) -> None:
        LOGGER.info("starting %s", child.name)
        child.process = subprocess.Popen(
            child.argv,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            stdin=subprocess.DEVNULL,
            cwd=Path.cwd(),
        )

    def _tend(self, child: Child) -> None:
        now = time.monotonic()
        if child.process is None:
            if child.after is not None and child.after.poll() is None:
                return
            child.after = None
            if now >= child.start_after:
                self._start(child)
            return
        code = child.process.poll()
        if code is None:
            return
        child.process = None
        while child.restarts and now - child.restarts[0] > RESTART_WINDOW_S:
            child.restarts.popleft()
        if len(child.restarts) >= MAX_RESTARTS:
            wait = RESTART_WINDOW_S - (now - child.restarts[0])
            LOGGER.error(
                "%s exited with %s; restarted %d times in a minute, next try in %.0fs",
                child.name,
                code,
                len(child.restarts),
                wait,
            )
            child.start_after = now + wait
        else:
            LOGGER.warning(
                "%s exited with %s; restarting in %.0fs", child.name, code, RESTART_DELAY_S
            )
            child.start_after = now + RESTART_DELAY_S
        child.restarts.append(now)

    def shutdown(self) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        running += [process for process, _ in self.retiring if process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                LOGGER.warning("pid %s did not stop in time; killing it", process.pid)
                process.kill()
                process.wait(2)
        LOGGER.info("all roles stopped")


def run_all(
    config: Config,
    stop: threading.Event,
    bind: str | None,
    log_level: str | None,
    roles: tuple[str, ...] = ROLES,
) -> int:
    if "record" in roles and not config.recording:
        LOGGER.info("no camera records events (record = [...]): the recorder is not started")
    LOGGER.info(
        "running %s for %d camera(s) (%d detector worker(s)); streamer: %s",
        ", ".join(roles),
        len(config.cameras),
        config.detect.workers if "detect" in roles else 0,
        f"http://{bind or config.web.bind}/" if "stream" in roles else "elsewhere",
    )
    # Only capture workers are the supervisor's to start and stop per camera.
    watcher = ConfigWatcher(config, "run") if "capture" in roles else None
    return Supervisor(child_specs(config, bind, log_level, roles), stop, watcher, log_level).run()
