"""The dashboard in a real browser (Debian's headless Chromium, via chromium-driver)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.processes import ROOT, Rabbitcam, free_port, wait_for, wait_for_http
from tests.browser import tiles
from tests.conftest import delete_namespace

pytestmark = pytest.mark.e2e

CAMERAS = [f"cam{i:02d}" for i in range(1, 13)]
ARTIFACTS = Path(os.environ.get("RABBITCAM_ARTIFACTS", ROOT / ".artifacts"))


@pytest.fixture(scope="module")
def twelve(broker_url: str, tmp_path_factory) -> Iterator[dict]:
    work = tmp_path_factory.mktemp("twelve")
    config = work / "twelve.toml"
    config.write_text(
        "[detect]\nworkers = 2\n"
        + "".join(
            f'[[cameras]]\nid = "{c}"\nname = "Camera {c[3:]}"\nsource = "synthetic"\n'
            f"fps = 5\nwidth = 320\nheight = 240\n"
            for c in CAMERAS
        )
    )
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    port = free_port()
    site = {"config": config, "namespace": namespace, "port": port, "work": work}
    roles = Rabbitcam(
        ["run", str(config), "--roles", "capture,detect"], namespace, work / "run.log"
    )
    site["streamer"] = start_streamer(site)
    try:
        yield site
    finally:
        site["streamer"].stop()
        roles.stop()
        delete_namespace(broker_url, namespace, CAMERAS)


def start_streamer(site: dict) -> Rabbitcam:
    streamer = Rabbitcam(
        ["stream", str(site["config"]), "--bind", f"127.0.0.1:{site['port']}"],
        site["namespace"],
        site["work"] / "stream.log",
    )
    wait_for_http(f"http://127.0.0.1:{site['port']}")
    return streamer


def all_live_and_moving(browser, since: dict[str, dict] | None = None) -> bool:
    now = tiles(browser)
    for camera in CAMERAS:
        tile = now.get(camera)
        if not tile or not tile["loaded"] or tile["placeholder"] or not tile["seq"]:
            return False
        if since is not None and tile["seq"] == since[camera]["seq"]:
            return False
    return True


def test_twelve_cameras_live_on_one_page_and_the_page_heals(browser, twelve):
    base = f"http://127.0.0.1:{twelve['port']}"
    browser.get(base + "/")
    wait_for(lambda: all_live_and_moving(browser), timeout=60, interval=0.5)
    first = tiles(browser)
    wait_for(lambda: all_live_and_moving(browser, first), timeout=10, interval=0.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-12-cameras.png"))
    assert browser.execute_script("return document.body.dataset.connection") == "connected"

    # The streamer goes away for 10 s: the page says so, and waits.
    twelve["streamer"].stop()
    wait_for(
        lambda: browser.execute_script("return document.body.dataset.connection") == "reconnecting",
        timeout=6,
    )
    time.sleep(10)
    assert "reconnecting" in browser.find_element("id", "connection").text
    browser.save_screenshot(str(ARTIFACTS / "dashboard-reconnecting.png"))
    frozen = tiles(browser)

    # It comes back: every camera recovers by itself, without a reload.
    twelve["streamer"] = start_streamer(twelve)
    back_at = time.monotonic()
    wait_for(lambda: all_live_and_moving(browser, frozen), timeout=5, interval=0.2)
    recovered_s = time.monotonic() - back_at
    print(f"\n12 cameras recovered {recovered_s:.1f}s after the streamer returned")
    wait_for(
        lambda: browser.execute_script("return document.body.dataset.connection") == "connected",
        timeout=5,
    )


def test_camera_page_shows_stream_figures_chart_and_config(browser, twelve):
    base = f"http://127.0.0.1:{twelve['port']}"
    browser.get(base + "/camera/cam01")

    def page_state():
        return browser.execute_script(
            """
            const img = document.querySelector('img.stream');
            return {
              frames: parseInt(img.dataset.frames || '0', 10),
              placeholder: img.dataset.placeholder,
              p50: document.querySelector('.p50').textContent,
              config: document.querySelector('.config').textContent,
              status: document.querySelector('.status').textContent,
            };
            """
        )

    wait_for(lambda: page_state()["frames"] >= 3 and page_state()["p50"].endswith("ms"), timeout=20)
    state = page_state()
    assert state["status"] == "live" and not state["placeholder"]
    assert '"fps": 5' in state["config"] and '"width": 320' in state["config"]
    browser.save_screenshot(str(ARTIFACTS / "camera-page.png"))
