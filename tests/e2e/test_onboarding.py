"""Cameras added, changed, broken and removed while `rabbitcam run` runs, seen in a browser."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

from testkit.processes import (
    Rabbitcam,
    alive,
    children_of,
    cmdline,
    free_port,
    rabbitcam_command,
    wait_for,
    wait_for_http,
)
from tests.browser import tiles

pytestmark = pytest.mark.e2e

APPLY_WITHIN_S = 10.0
ROLE_NAMES = ("run", "detect:w1", "stream")

PORCH = """
name = "Porch"
source = "synthetic"
fps = 10
width = 320
height = 240
"""


def roles(supervisor: int) -> dict[str, int]:
    """Role name (``capture:porch``, ``detect``, ``stream``) -> pid, for a run's children."""
    found = {}
    for pid in children_of(supervisor):
        words = cmdline(pid).split()
        if "capture" in words:
            found[f"capture:{words[words.index('--camera') + 1]}"] = pid
        elif "detect" in words:
            found["detect"] = pid
        elif "stream" in words:
            found["stream"] = pid
    return found


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*rabbitcam_command(), *args], capture_output=True, text=True, timeout=60)


def cameras(base: str) -> dict[str, dict]:
    return {c["id"]: c for c in requests.get(f"{base}/api/cameras", timeout=5).json()}


def tile_moving(browser, camera: str, since: str | None = None) -> bool:
    tile = tiles(browser).get(camera)
    return bool(
        tile
        and tile["loaded"]
        and not tile["placeholder"]
        and tile["seq"]
        and tile["seq"] != since
        and tile["status"] == "live"
    )


def test_cameras_are_added_changed_and_removed_live(browser, namespace, tmp_path):
    drop_in = tmp_path / "cameras.d"
    drop_in.mkdir()
    (drop_in / "porch.toml").write_text(PORCH)
    port = free_port()
    site = tmp_path / "site.toml"
    site.write_text(
        f'cameras_dir = "cameras.d"\n[detect]\nworkers = 1\n[web]\nbind = "127.0.0.1:{port}"\n'
    )
    base = f"http://127.0.0.1:{port}"
    run = Rabbitcam(["run", str(site)], namespace, tmp_path / "run.log")
    timings: dict[str, float] = {}
    try:
        wait_for_http(base)
        browser.get(base + "/")
        wait_for(lambda: tile_moving(browser, "porch"), timeout=30, interval=0.2)
        before = roles(run.pid)
        assert set(before) == {"capture:porch", "detect", "stream"}, before

        # Added with the CLI: the page grows a tile and shows the camera live.
        started = time.monotonic()
        added = cli(
            "cameras", "add", "garage", "synthetic", "--fps", "10", "--width", "320",
            "--height", "240", "--detectors", "motion", "--config", str(site),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert (drop_in / "garage.toml").is_file()
        wait_for(lambda: tile_moving(browser, "garage"), timeout=APPLY_WITHIN_S, interval=0.1)
        timings["added → live on the page"] = time.monotonic() - started
        assert cameras(base)["garage"]["config"]["detectors"] == ["motion"]
        listed = cli("cameras", "list", "--config", str(site))
        assert "garage" in listed.stdout and "cameras.d/garage.toml" in listed.stdout

        # Changed by hand: only that camera's capture worker restarts.
        during = roles(run.pid)
        seq_before = tiles(browser)["porch"]["seq"]
        started = time.monotonic()
        (drop_in / "porch.toml").write_text(PORCH.replace("fps = 10", "fps = 4"))

        def porch_restarted() -> bool:
            now = roles(run.pid)
            pid = now.get("capture:porch")
            return bool(pid and pid != during["capture:porch"]) and (
                cameras(base)["porch"]["config"]["fps"] == 4
            )

        wait_for(porch_restarted, timeout=APPLY_WITHIN_S, interval=0.1)
        wait_for(lambda: tile_moving(browser, "porch", seq_before), timeout=APPLY_WITHIN_S)
        timings["changed → restarted and live"] = time.monotonic() - started
        after = roles(run.pid)
        for role in ("capture:garage", "detect", "stream"):
            assert after[role] == during[role], f"{role} restarted for another camera's change"

        # Broken: logged with file and key; the camera keeps running as it was.
        (drop_in / "garage.toml").write_text("source = 'synthetic'\nfps = 'fast'\n")

        def every_role_logged_it() -> bool:
            lines = run.log_path.read_text().splitlines()
            problem = [line for line in lines if "garage.toml: fps: must be a number" in line]
            return all(any(f"role={role}" in line for line in problem) for role in ROLE_NAMES)

        # Once each role has logged it, each has made its decision about the file.
        wait_for(every_role_logged_it, timeout=APPLY_WITHIN_S)
        assert roles(run.pid)["capture:garage"] == during["capture:garage"]
        garage = cameras(base)["garage"]
        assert garage["status"] == "live" and garage["config"]["fps"] == 10
        seq = tiles(browser)["garage"]["seq"]
        wait_for(lambda: tile_moving(browser, "garage", seq), timeout=5)

        # Removed with the CLI: its worker stops and it leaves the page.
        started = time.monotonic()
        removed = cli("cameras", "remove", "garage", "--config", str(site))
        assert removed.returncode == 0, removed.stderr
        wait_for(
            lambda: (
                "garage" not in tiles(browser)
                and "garage" not in cameras(base)
                and not alive(during["capture:garage"])
            ),
            timeout=APPLY_WITHIN_S,
            interval=0.1,
        )
        timings["removed → gone from the page"] = time.monotonic() - started
        seq = tiles(browser)["porch"]["seq"]
        wait_for(lambda: tile_moving(browser, "porch", seq), timeout=5)
        assert alive(after["detect"]) and alive(after["stream"])
    finally:
        code = run.stop(timeout=8)
    assert code == 0, run.tail()
    print("\nlive onboarding: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))


def test_cameras_add_refuses_bad_cameras_and_writes_nothing(tmp_path):
    drop_in = tmp_path / "cameras.d"
    drop_in.mkdir()
    site = tmp_path / "site.toml"
    site.write_text('cameras_dir = "cameras.d"\n[[cameras]]\nid = "main"\nsource = "synthetic"\n')
    cases = [
        (["bad/id", "synthetic"], "camera id: must be 1 to 64 of"),
        (["main", "synthetic"], "already exists"),
        (["cam", "ftp://x/y"], "source: unsupported URL scheme"),
        (["cam", "synthetic", "--fps", "0"], "fps: must be between"),
        (["cam", "synthetic", "--detectors", "teleport"], "unknown detector"),
        (["cam", "synthetic", "--detectors", "eyes"], "'eyes' works on what 'faces' found"),
        (["cam", str(tmp_path / "missing.mp4")], "video file not found"),
    ]
    for args, message in cases:
        result = cli("cameras", "add", *args, "--config", str(site))
        assert result.returncode == 2, (args, result.stdout)
        assert message in result.stderr, (args, result.stderr)
    assert list(drop_in.iterdir()) == [], "nothing written, not even a scratch file"

    no_dir = tmp_path / "plain.toml"
    no_dir.write_text('[[cameras]]\nid = "main"\nsource = "synthetic"\n')
    result = cli("cameras", "add", "cam", "synthetic", "--config", str(no_dir))
    assert result.returncode == 2 and "no cameras_dir" in result.stderr
    result = cli("cameras", "remove", "main", "--config", str(site))
    assert result.returncode == 2 and "remove its [[cameras]] table there" in result.stderr
    result = cli("cameras", "remove", "ghost", "--config", str(site))
    assert result.returncode == 2 and "no camera 'ghost'" in result.stderr

    good = cli("cameras", "add", "porch", "0", "--name", 'Porch "east"', "--config", str(site))
    assert good.returncode == 0, good.stderr
    from pipeline.core.config import load_config

    camera = load_config(site).camera("porch")
    assert (camera.source.kind, camera.source.location, camera.name) == (
        "device",
        0,
        'Porch "east"',
    )
