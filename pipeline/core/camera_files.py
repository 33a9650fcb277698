"""Changing a drop-in camera file from a program (the camera page's zone editor).

The file is read, changed and checked (the very check every config gets);
only a valid camera replaces the original, written as ``files.replace_file``
does (a scratch file of its own, the old mode and owner kept, synced, one
rename). A bad change leaves the file as it was. One change at a time
(``files.one_writer``), and only of the version the editor read: its
``version`` (a digest of the file's bytes, the API's ``ETag``) must still be
the file's, else ``StaleEdit`` and nothing is written. The running site
applies the new file as it does any edit of ``cameras.d/``.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import camera_from
from pipeline.core.files import one_writer, replace_file
from pipeline.core.settings import ConfigError


class StaleEdit(Exception):
    """The file changed since the editor read it: its change would undo another's."""


def version_of(file: Path) -> str:
    """The version of a camera file an editor read (its ``ETag``)."""
    return _digest(file.read_bytes())


def save_zones(
    file: Path, zones: Any, expected_version: str | None = None
) -> tuple[CameraConfig, str]:
    """Replace the zones of the camera in drop-in ``file``; the camera as it now is
    and the file's new version. ConfigError (keys named as in the file,
    ``zones[1].points``) and nothing written when ``zones`` is not a list of valid
    zones for this camera; StaleEdit when ``expected_version`` is given and the
    file is no longer at it."""
    if not isinstance(zones, list) or not all(isinstance(zone, dict) for zone in zones):
        raise ConfigError(["zones: must be an array of zone tables"])
    with one_writer(file):
        original = file.read_bytes()
        if expected_version is not None and expected_version != _digest(original):
            raise StaleEdit(f"{file.name} changed since it was read")
        camera, text = _with_zones(file, tomllib.loads(original.decode("utf-8")), zones)
        replace_file(file, text.encode("utf-8"))
        return camera, _digest(text.encode("utf-8"))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _with_zones(file: Path, data: dict[str, Any], zones: list[Any]) -> tuple[CameraConfig, str]:
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
    return camera, text
