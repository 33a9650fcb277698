"""A real RTSP server for tests (GStreamer's, run by the system Python: see
testkit/rtsp_camera.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "testkit" / "rtsp_camera.py"
CHECK = (
    "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
)


def gstreamer_python() -> str:
    """A Python that has GStreamer's RTSP server bindings; fails in CI, skips elsewhere."""
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if (
            candidate
            and subprocess.run([candidate, "-c", CHECK], capture_output=True).returncode == 0
        ):
            return candidate
    message = (
        "NO GSTREAMER RTSP SERVER (python3-gi, gir1.2-gst-rtsp-server-1.0): the RTSP test "
        "cannot run (scripts/ensure-test-tools.sh installs them)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class RtspCamera:
    def __init__(self, port: int, h264: str | None = None) -> None:
        self.port = port
        self.h264 = h264  # "WxH@FPS": H.264 as IP cameras send it; default RTP/JPEG
        self.python = gstreamer_python()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.python, str(SCRIPT), str(self.port), *([self.h264] if self.h264 else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "ready", f"RTSP server did not start: {line!r}"

    def kill(self) -> None:
        """Gone at once, as a camera that loses power (SIGKILL: no goodbye)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None
