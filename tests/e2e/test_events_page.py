"""Events end to end, as a user meets them: `rabbitcam run` with a camera playing a real
video in which a QR code is held up (the detector fires), the event on the events page
in Chromium with its snapshot, its clip playing in place with the seconds before the
event in it, and a delete that takes its files."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from testkit.media import pedestrians_with_a_code
from testkit.processes import ROOT, Rabbitcam, add_user, free_port, wait_for, wait_for_http
from tests.conftest import delete_namespace
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(os.environ.get("RABBITCAM_ARTIFACTS", ROOT / ".artifacts"))
# What the camera reads: markup that would run if the page took it as HTML.
PAYLOAD = "<img src=x onerror=window.pwned=1>"


@pytest.fixture(scope="module")
def site(broker_url: str, tmp_path_factory) -> Iterator[dict]:
    work = tmp_path_factory.mktemp("events")
    video = pedestrians_with_a_code(work / "square.avi", PAYLOAD, quiet_s=4, shown_s=3)
    port = free_port()
    config = work / "site.toml"
    config.write_text(
        f'[web]\nbind = "127.0.0.1:{port}"\n[detect]\nworkers = 1\n'
        '[record]\ndir = "store"\npre_s = 3\npost_s = 2\n'
        f'[[cameras]]\nid = "square"\nname = "Town square"\nsource = "{video}"\nfps = 10\n'
        'detectors = ["codes"]\nrecord = ["qr"]\n'
    )
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    add_user(config, namespace, "ada", "admin", "ada-password")  # deleting is an admin's
    run = Rabbitcam(["run", str(config)], namespace, work / "run.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}")
        yield {"base": f"http://127.0.0.1:{port}", "store": work / "store", "run": run}
    finally:
        run.stop(timeout=10)
        delete_namespace(broker_url, namespace, ["square"])


def cards(browser) -> list[dict]:
    return browser.execute_script(
        """
        return [...document.querySelectorAll('article.event')].map((card) => ({
          id: card.dataset.id, state: card.dataset.state,
          text: card.textContent,
          thumb: card.querySelector('img.thumb').complete
                 && card.querySelector('img.thumb').naturalWidth,
        }));
        """
    )


def test_an_event_shows_with_its_snapshot_and_its_clip_plays_in_place(browser, site):
    base = site["base"]
    browser.get(base + "/")
    browser.find_element("link text", "events").click()
    assert browser.current_url == base + "/events"

    ready = wait_for(
        lambda: [c for c in cards(browser) if c["state"] == "ready" and c["thumb"]],
        timeout=60,
        interval=0.5,
    )
    card = ready[-1]  # the oldest ready one: the first time the code was held up
    assert "Town square" in card["text"] and "qr" in card["text"]
    assert PAYLOAD in card["text"], "what the camera read is shown, as text"
    assert browser.execute_script("return window.pwned") is None, "and nothing of it ran"
    assert not browser.execute_script("return document.querySelector('img[src=\"x\"]')")

    event = requests.get(f"{base}/api/events/{card['id']}", timeout=5).json()
    assert event["clip_from"] < event["started_at"] - 2, "the clip holds the seconds before"
    snapshot = requests.get(base + event["snapshot"], timeout=5)
    assert snapshot.status_code == 200 and snapshot.content[:2] == b"\xff\xd8"

    selector = f'article.event[data-id="{card["id"]}"]'
    browser.find_element("css selector", f"{selector} button.open").click()
    playing = wait_for(
        lambda: browser.execute_script(
            f"const v = document.querySelector('{selector} video');"
            "return v && !v.error && v.currentTime > 1.0 && [v.currentTime, v.duration, "
            "v.videoWidth];"
        ),
        timeout=20,
        interval=0.25,
    )
    current, duration, width = playing
    print(f"\nclip playing in Chromium: at {current:.1f} s of {duration:.1f} s, {width} px wide")
    assert width == 640 and duration >= 6
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "events-page.png"))

    # Filters: another label finds nothing; this camera finds it.
    browser.get(f"{base}/events?label=person")
    wait_for(lambda: browser.execute_script("return document.getElementById('events')"
                                            ".dataset.state") == "empty", timeout=10)  # fmt: skip
    browser.get(f"{base}/events?camera=square&label=qr")
    wait_for(lambda: any(c["id"] == card["id"] for c in cards(browser)), timeout=10)

    # Delete (an admin's): the card goes, and so do the event and its files.
    log_in(browser, base, "ada", "ada-password")
    browser.get(f"{base}/events?camera=square&label=qr")
    wait_for(lambda: any(c["id"] == card["id"] for c in cards(browser)), timeout=10)
    browser.find_element("css selector", f"{selector} button.open").click()
    browser.find_element("css selector", f"{selector} button.delete").click()
    browser.switch_to.alert.accept()
    wait_for(lambda: all(c["id"] != card["id"] for c in cards(browser)), timeout=10)
    assert requests.get(f"{base}/api/events/{card['id']}", timeout=5).status_code == 404
    assert requests.get(base + event["clip"], timeout=5).status_code == 404
    assert not list((site["store"] / "media").glob(f"{card['id']}.*"))


def test_the_camera_page_links_to_its_events(browser, site):
    browser.get(site["base"] + "/camera/square")
    link = browser.find_element("link text", "events of this camera")
    assert link.get_attribute("href") == site["base"] + "/events?camera=square"


def test_a_tracked_objects_stay_path_and_best_snapshot_show_on_its_event(browser, site):
    """An event with a person who stayed 42 s, walked through a zone (its name markup
    from the wire) and left a best snapshot: the card lists them, as text, with the
    crop, and draws the path over the thumbnail."""
    import cv2
    import numpy as np

    from pipeline.core.eventstore import EventStore

    store = EventStore(site["store"])
    frame = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()
    crop = cv2.imencode(".jpg", np.full((200, 90, 3), 180, np.uint8))[1].tobytes()
    event_id = store.open_event("square", "person", 1, 1_000_000.0, {"label": "person"})
    store.save_snapshot(event_id, frame, frame)
    store.add_object(event_id, 7, "person", 1_000_000.0)
    path = [[60, 400], [200, 380], [330, 300], [600, 260]]
    store.end_object("square", 7, "person", (999_999.0, 1_000_041.0), zones=[PAYLOAD],
                     path=path, snapshot=crop)  # fmt: skip
    store.close()

    browser.get(f"{site['base']}/events?label=person")
    selector = f'article.event[data-id="{event_id}"]'
    shown = wait_for(
        lambda: browser.execute_script(
            f"const card = document.querySelector('{selector}');"
            "const item = card && card.querySelector('li.object');"
            "const crop = item && item.querySelector('img.crop');"
            "const line = card && card.querySelector('svg.paths polyline');"
            "return item && crop.complete && crop.naturalWidth && line && "
            "[item.textContent, crop.naturalWidth, crop.naturalHeight,"
            " line.getAttribute('points'),"
            " card.querySelector('svg.paths').getAttribute('viewBox')];"
        ),
        timeout=20,
        interval=0.25,
    )
    text, width, height, points, view = shown
    assert "person 7" in text and "stayed 42 s" in text and f"zones: {PAYLOAD}" in text
    assert (width, height) == (90, 200), "its best snapshot, cropped around it"
    assert points == "60,400 200,380 330,300 600,260" and view == "0 0 640 480"
    assert browser.execute_script("return window.pwned") is None, "the zone's name ran nothing"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "events-page-objects.png"))
