"""``rabbitcam cameras add|list|remove``: drop-in camera files, written safely.

A new file is checked by the same validation as every config before it
exists under its real name: it is written to a hidden temporary file in the
drop-in directory (which the watcher ignores), read back with
``read_camera_file``, checked against the cameras already configured, and
only then renamed into place, atomically. A running ``rabbitcam run`` picks
it up within a second or two.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.camera_config import (
    DEVICE_PATH_PATTERN,
    URL_SCHEMES,
    CameraConfig,
    check_camera_id,
)
from pipeline.core.config import Config, load_config, read_camera_file
from pipeline.core.environment import environment
from pipeline.core.settings import ConfigError

DEFAULT_CONFIG = "configs/demo.toml"


class OnboardError(Exception):
    """A camera that cannot be added or removed; the message says why."""


def default_config_path() -> str:
    return str(environment().config or DEFAULT_CONFIG)


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same quoting and escapes).
    return json.dumps(value, ensure_ascii=False)


def _source_value(source: str) -> str | int:
    """The source as the file should hold it: a device index stays a number, and a
    video file named relative to where the command runs becomes absolute."""
    if source.isdigit():
        return int(source)
    if source == "synthetic" or DEVICE_PATH_PATTERN.fullmatch(source):
        return source
    if source.lower().startswith(URL_SCHEMES) or "://" in source:
        return source
    return str(Path(source).expanduser().resolve())


@dataclass(frozen=True)
class NewCamera:
    id: str
    source: str
    fps: float | None = None
    detectors: tuple[str, ...] = ()
    name: str | None = None
    width: int | None = None
    height: int | None = None

    def to_toml(self) -> str:
        source = _source_value(self.source)
        lines = [
            "# Added by `rabbitcam cameras add`; edit freely, the change applies live.",
            f"id = {_toml_string(self.id)}",
        ]
        if self.name:
            lines.append(f"name = {_toml_string(self.name)}")
        lines.append(
            f"source = {source}" if isinstance(source, int) else f"source = {_toml_string(source)}"
        )
        for key in ("fps", "width", "height"):
            value = getattr(self, key)
            if value is not None:
                lines.append(f"{key} = {value}")
        if self.detectors:
            lines.append(f"detectors = [{', '.join(_toml_string(d) for d in self.detectors)}]")
        return "\n".join(lines) + "\n"


def _drop_in_dir(config: Config) -> Path:
    if config.cameras_dir is None:
        raise OnboardError(
            f'{config.path}: no cameras_dir: add `cameras_dir = "cameras.d"` at the top '
            "of the config (and create the directory) to add cameras with this command"
        )
    return config.cameras_dir


def add_camera(config_path: str | os.PathLike[str], camera: NewCamera) -> Path:
    """Write a validated drop-in file for ``camera``; return its path."""
    config = load_config(config_path, tolerant=True)
    directory = _drop_in_dir(config)
    if message := check_camera_id(camera.id):
        raise OnboardError(f"camera id: {message}")
    if camera.id in config.camera_ids:
        raise OnboardError(
            f"camera {camera.id!r} already exists (in {config.camera_files[camera.id]})"
        )
    target = directory / f"{camera.id}.toml"
    if target.exists():
        raise OnboardError(f"{target} exists already (but is not valid; fix or remove it)")
    scratch = directory / f".{camera.id}.toml.new"
    try:
        scratch.write_text(camera.to_toml())
        read_camera_file(scratch)  # the same validation as every config
        os.replace(scratch, target)
    except ConfigError as error:
        # Name the key, not the scratch file the user never sees.
        raise OnboardError(
            "; ".join(p.replace(f"{scratch}: ", "") for p in error.problems)
        ) from None
    finally:
        scratch.unlink(missing_ok=True)
    return target


def remove_camera(config_path: str | os.PathLike[str], camera_id: str) -> Path:
    """Delete a camera's drop-in file; return the path it had."""
    # The id becomes a file name: checked first, so that no "../x" ever reaches a path.
    if message := check_camera_id(camera_id):
        raise OnboardError(f"camera id: {message}")
    config = load_config(config_path, tolerant=True)
    directory = _drop_in_dir(config)
    file = config.camera_files.get(camera_id)
    if file is None:
        candidate = directory / f"{camera_id}.toml"
        if candidate.is_file():  # a broken file, skipped by the loader: still removable
            file = candidate
        else:
            raise OnboardError(f"no camera {camera_id!r} in {config.path} or {directory}")
    if file == config.path:
        raise OnboardError(
            f"camera {camera_id!r} is defined in {config.path} itself; remove its "
            "[[cameras]] table there"
        )
    file.unlink()
    return file


def camera_rows(config: Config) -> list[dict[str, object]]:
    """One row per camera for ``cameras list``."""
    return [_row(config, camera) for camera in config.cameras]


def _row(config: Config, camera: CameraConfig) -> dict[str, object]:
    file = config.camera_files.get(camera.id, config.path)
    try:
        shown = str(file.relative_to(Path.cwd()))
    except ValueError:
        shown = str(file)
    return {
        "id": camera.id,
        "name": camera.title,
        "source": camera.source.describe(),
        "fps": camera.fps,
        "size": f"{camera.width}x{camera.height}",
        "detectors": [spec.name for spec in camera.detectors],
        "file": shown,
    }
