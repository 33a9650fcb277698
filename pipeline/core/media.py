"""Sample pictures and video from Debian's opencv-doc package (OpenCV's own sample
data), kept in a cache outside the repository by ``scripts/fetch-test-media.sh``
(setup runs it): the synthetic ``fall`` scene and the tests use them."""

from __future__ import annotations

import os
from pathlib import Path


def media_dir() -> Path:
    from pipeline.core.environment import environment

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return environment().media or cache / "rabbitcam" / "media"


def media_file(name: str) -> Path:
    path = media_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run scripts/fetch-test-media.sh (setup does)")
    return path
