"""What the operator's tools do with hostile input: a path in a camera id, a
terminal escape in a status from the wire, a forged line in a log."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import threading
from pathlib import Path

import pytest

from pipeline.core.logs import setup_logging
from testkit.processes import rabbitcam_command
from tests.security.conftest import CAMERA


@pytest.mark.parametrize("camera_id", ["../../victim", "../victim", "/tmp/victim", "vic.tim", ".."])
def test_cameras_remove_refuses_a_path(tmp_path: Path, camera_id: str):
    site = tmp_path / "site"
    (site / "cameras.d").mkdir(parents=True)
    config = site / "site.toml"
    config.write_text('cameras_dir = "cameras.d"\n' + CAMERA.format(id="cam1"))
    victim = tmp_path / "victim.toml"
    victim.write_text("precious = true\n")
    (site / "victim.toml").write_text("precious = true\n")
    finished = subprocess.run(
        [*rabbitcam_command(), "cameras", "remove", camera_id, "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert finished.returncode == 2
    assert "camera id: must be" in finished.stderr
    assert victim.exists() and (site / "victim.toml").exists()


@pytest.mark.integration
def test_status_prints_no_terminal_escapes_from_the_wire(make_site):
    site, publisher = make_site(CAMERA.format(id="cam1"))
    reason = "\x1b]0;owned\x07\x1b[2J\x1b[1;1Hall good\r\x9b31m\u202eevil"
    stop = threading.Event()

    def heartbeat() -> None:  # like a capture worker: once every 0.3 s
        while not stop.is_set():
            publisher.status(state="offline", reason=reason)
            publisher.connection.process_data_events(0.3)

    beating = threading.Thread(target=heartbeat, daemon=True)
    beating.start()
    try:
        finished = subprocess.run(
            [*rabbitcam_command(), "status", str(site.config)],
            env={**os.environ, "RABBITCAM_NAMESPACE": site.namespace},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        stop.set()
        beating.join(5)
    assert "offline" in finished.stdout, finished.stdout + finished.stderr
    assert "all good" in finished.stdout
    for control in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
        assert control not in finished.stdout


def test_text_logs_defuse_control_characters():
    stream = io.StringIO()
    setup_logging("test", "INFO", "text")
    root = logging.getLogger()
    root.handlers[0].stream = stream
    try:
        logging.getLogger("pipeline.test").warning(
            "rejected: %s", "bad\n2026-01-01 00:00:00.000 INFO    role=forged\x1b[2J"
        )
    finally:
        root.handlers.clear()
    line = stream.getvalue()
    assert line.count("\n") == 1, "one event, one line: no forged second line"
    assert "\x1b" not in line and "role=forged" in line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--label", "Person/x"], "--label must match [A-Za-z0-9_-]{1,64}"),
        (["--label", "#"], "--label must match"),
        (["--camera", "Door"], "--camera must match [a-z0-9_-]{1,64}"),
    ],
)
def test_events_checks_a_label_as_a_label_and_a_camera_as_a_camera(args: list[str], said: str):
    run = subprocess.run([*rabbitcam_command(), "events", *args, "--count", "1"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 2 and said in run.stderr, run.stderr
