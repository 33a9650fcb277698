"""Sample pictures and video from Debian's opencv-doc package (OpenCV's own sample
data), kept in a cache outside the repository by ``scripts/fetch-test-media.sh``
(setup runs it): the synthetic ``fall`` scene and the tests use them."""

from __future__ import annotations

import os
from pathlib import Path


def media_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rabbitcam" / "media"
    return Path(os.environ.get("RABBITCAM_MEDIA", default))


def media_file(name: str) -> Path:
    path = media_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run scripts/fetch-test-media.sh (setup does)")
    return path
