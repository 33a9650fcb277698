"""A zone drawn with the mouse on the camera page, in Chromium: saved to the camera's
drop-in file, applied live, drawn over the picture, its occupancy shown."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Iterator

import pytest

from testkit.processes import Rabbitcam, add_user, free_port, wait_for, wait_for_http
from tests.conftest import delete_namespace
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(broker_url: str, tmp_path_factory) -> Iterator[dict]:
    work = tmp_path_factory.mktemp("zones")
    port = free_port()
    (work / "cameras.d").mkdir()
    porch = work / "cameras.d" / "porch.toml"
    # Moving shapes, their motion tracked as objects: what a zone counts here.
    porch.write_text(
        'name = "Porch"\nsource = "synthetic"\nqr = false\nfps = 10\n'
        'detectors = ["motion", { name = "track", labels = ["motion"], min_frames = 2 }]\n'
        "[filters.motion]\nmin_score = 0\nthreshold = 0\n"
    )
    config = work / "site.toml"
    config.write_text(f'cameras_dir = "cameras.d"\n[web]\nbind = "127.0.0.1:{port}"\n'
                      "[detect]\nworkers = 1\n")  # fmt: skip
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    add_user(config, namespace, "ada", "admin", "ada-password")  # zones are an admin's to change
    run = Rabbitcam(["run", str(config)], namespace, work / "run.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}")
        yield {"base": f"http://127.0.0.1:{port}", "porch": porch, "run": run}
    finally:
        run.stop(timeout=10)
        delete_namespace(broker_url, namespace, ["porch"])


def click_at(browser, element, x: float, y: float) -> None:
    """Click ``element`` at (x, y) of its own box, in CSS pixels from its top left."""
    from selenium.webdriver import ActionChains

    size = element.size
    offset_x, offset_y = x - size["width"] / 2, y - size["height"] / 2
    ActionChains(browser).move_to_element_with_offset(element, offset_x, offset_y).click().perform()


def test_a_zone_drawn_with_the_mouse_is_saved_applied_and_shown(browser, site):
    log_in(browser, site["base"], "ada", "ada-password")
    browser.get(f"{site['base']}/camera/porch")
    wait_for(lambda: browser.execute_script("return document.body.dataset.connection")
             == "connected", timeout=15)  # fmt: skip
    layer = browser.find_element("css selector", "svg.zones")
    browser.find_element("css selector", ".zone-editor .draw").click()
    size = layer.size
    # The whole lower half of the picture: the shapes move through it.
    for fx, fy in ((0.02, 0.5), (0.98, 0.5), (0.98, 0.98), (0.02, 0.98)):
        click_at(browser, layer, fx * size["width"], fy * size["height"])
    browser.find_element("css selector", ".zone-editor input[name=zone]").send_keys("yard")
    browser.find_element("css selector", ".zone-editor .save").click()
    wait_for(lambda: "saved to porch.toml" in browser.find_element(
        "css selector", ".zone-message").text, timeout=10)  # fmt: skip

    saved = tomllib.loads(site["porch"].read_text())
    assert [zone["name"] for zone in saved["zones"]] == ["yard"]
    corners = saved["zones"][0]["points"]
    assert len(corners) == 4
    assert all(0 <= x <= 640 and 0 <= y <= 480 for x, y in corners)
    assert 230 <= corners[0][1] <= 250 and corners[2][1] >= 460, "in the camera's pixels"
    assert saved["name"] == "Porch", "the rest of the camera's file is kept"

    # Applied live: the page draws it from the camera's config, and counts what is in it.
    wait_for(lambda: browser.execute_script(
        "return [...document.querySelectorAll('svg.zones text')].map(t => t.textContent)")
        == ["yard"], timeout=20)  # fmt: skip
    wait_for(lambda: "yard" in browser.find_element("css selector", ".occupancy").text,
             timeout=20)  # fmt: skip
    counted = wait_for(lambda: "motion" in (text := browser.find_element(
        "css selector", ".occupancy").text) and text, timeout=30)  # fmt: skip
    assert counted.startswith("yard ")


def test_a_zone_the_server_refuses_is_reported_on_the_page(browser, site):
    browser.get(f"{site['base']}/camera/porch")
    before = site["porch"].read_bytes()
    browser.find_element("css selector", ".zone-editor .draw").click()
    layer = browser.find_element("css selector", "svg.zones")
    size = layer.size
    # A bow tie: its edges cross.
    for fx, fy in ((0.1, 0.1), (0.5, 0.5), (0.5, 0.1), (0.1, 0.5)):
        click_at(browser, layer, fx * size["width"], fy * size["height"])
    browser.find_element("css selector", ".zone-editor input[name=zone]").send_keys("tie")
    browser.find_element("css selector", ".zone-editor .save").click()
    message = wait_for(lambda: "crosses itself" in (text := browser.find_element(
        "css selector", ".zone-message").text) and text, timeout=10)  # fmt: skip
    assert "zones[" in message
    assert site["porch"].read_bytes() == before
