"""Changing a drop-in camera file from a program (the camera page's zone editor).

The file is read, changed and written to a scratch file beside it; only when
the scratch file is a valid camera (the very check every config gets) does it
replace the original, in one rename. A bad change leaves the file as it was.
The running site applies the new file as it does any edit of ``cameras.d/``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import camera_from
from pipeline.core.settings import ConfigError


def save_zones(file: Path, zones: Any) -> CameraConfig:
    """Replace the zones of the camera in drop-in ``file``; the camera as it now is.
    ConfigError (keys named as in the file, ``zones[1].points``) and nothing written
    when ``zones`` is not a list of valid zones for this camera."""
    if not isinstance(zones, list) or not all(isinstance(zone, dict) for zone in zones):
        raise ConfigError(["zones: must be an array of zone tables"])
    with file.open("rb") as handle:
        data = tomllib.load(handle)
    if zones:
        data["zones"] = zones
    else:
        data.pop("zones", None)
    try:
        camera = camera_from(data, file)
        text = tomli_w.dumps(data)
    except ConfigError as error:  # keys as in the file: the caller knows which file
        raise ConfigError([p.replace(f"{file}: ", "") for p in error.problems]) from None
    except (TypeError, ValueError) as error:  # what TOML cannot hold (a NaN, a null)
        raise ConfigError([f"zones: {error}"]) from None
    scratch = file.with_name(f".{file.name}.new")  # hidden: the watcher does not read it
    try:
        scratch.write_text(text)
        os.replace(scratch, file)
    finally:
        scratch.unlink(missing_ok=True)
    return camera
