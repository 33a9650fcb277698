"""What a camera sees, or a publisher sends, reaches a page as text and never runs.

A QR code held up to any camera, a plugin's label, a camera's status reason
and a camera's configured name are all strings an attacker can choose. Each is
planted here with a script in it, the real camera page and dashboard are
opened in Chromium, and the test checks that the text is shown as text and
that no script ran.
"""

from __future__ import annotations

import time

import pytest

from testkit.processes import wait_for
from tests.security.conftest import CAMERA

pytestmark = pytest.mark.e2e

# Each payload, if it were ever parsed as HTML, would count itself in window.__pwned.
PAYLOADS = {
    "img": '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">',
    "svg": "<svg/onload=window.__pwned=1>",
    "script": "<script>window.__pwned=1</script>",
    "attribute": '" autofocus onfocus="window.__pwned=1" x="',
}
NAME = '</title><script>window.__pwned=1</script><b x="'


def config() -> str:
    return CAMERA.format(id="cam1") + f"name = '{NAME}'\n"


def test_planted_markup_shows_as_text_and_runs_nothing(make_site, browser):
    site, publisher = make_site(config())
    site.streamer()
    # The QR code's text (the codes detector's extra.text) and a plugin's label.
    detections = [
        {"label": "qr", "score": 1.0, "box": [10, 10, 50, 50], "extra": {"text": text}}
        for text in PAYLOADS.values()
    ]
    detections.append({"label": PAYLOADS["svg"], "score": 1.0})

    def plant() -> None:
        publisher.result(detections=detections)
        publisher.status(state="offline", reason=PAYLOADS["img"])

    plant()
    browser.get(f"{site.base}/camera/cam1")
    shown = wait_for(
        lambda: (
            plant()
            or browser.execute_script(
                "const list = document.querySelector('.detections');"
                "return list.textContent.includes('onerror') ? list.textContent : null;"
            )
        ),
        timeout=20,
        interval=0.5,
    )
    for text in PAYLOADS.values():
        assert text in shown, (text, shown)
    counts = browser.execute_script(
        "return {pwned: window.__pwned === undefined ? 0 : window.__pwned,"
        " planted: document.querySelectorAll('.detections *:not(li):not(time)').length,"
        " title: document.title, heading: document.querySelector('h1').textContent,"
        " scripts: document.scripts.length};"
    )
    assert counts["pwned"] == 0, counts
    assert counts["planted"] == 0, "markup became elements in the detections list"
    assert NAME in counts["title"] and NAME in counts["heading"], counts
    assert counts["scripts"] == 4, "only the page's own four scripts"

    # The dashboard: the same camera's name and status reason, in its tile.
    browser.get(site.base + "/")
    reason = wait_for(
        lambda: (
            plant()
            or browser.execute_script(
                "const badge = document.querySelector('.camera .status');"
                "return badge.textContent.includes('onerror') ? badge.textContent : null;"
            )
        ),
        timeout=20,
        interval=0.5,
    )
    assert PAYLOADS["img"] in reason
    time.sleep(1.0)  # a handler would have run by now
    assert browser.execute_script("return window.__pwned === undefined")
    assert NAME in browser.execute_script(
        "return document.querySelector('.camera .title').textContent"
    )


def test_pages_send_a_content_security_policy(make_site):
    site, _ = make_site(config())
    site.streamer()
    for path in ("/", "/camera/cam1", "/api/cameras", "/no/such/page", "/static/camera.js"):
        response = site.get(path)
        policy = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, (path, policy)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") == "no-referrer", path
    # The error page puts the requested path in its text: escaped, never markup.
    response = site.get("/camera/%3Cscript%3Ealert(1)")
    assert response.status_code == 404
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;" in response.text
    # No inline script anywhere: the policy would block it, so none may be needed.
    for path in ("/", "/camera/cam1"):
        page = site.get(path).text
        assert page.count("<script") == page.count('<script src="/static/'), path


def test_a_camera_shedding_load_says_so_on_both_pages(make_site, browser):
    """The share capture holds back reaches both pages, as text, and goes when every
    frame is published again."""
    site, publisher = make_site(CAMERA.format(id="cam1"))
    site.streamer()
    script = "const el = document.querySelector('.shed'); return [el.hidden, el.textContent];"

    def shown(share: float) -> tuple[bool, str] | None:
        """What the page shows once it shows this share (published until it does)."""
        publisher.result()
        publisher.status(share=share, fps=9.0)
        hidden, text = browser.execute_script(script)
        return (hidden, text) if hidden == (share >= 1) else None

    for path in ("/", "/camera/cam1"):
        browser.get(site.base + path)
        hidden, text = wait_for(lambda: shown(0.6), timeout=20, interval=0.5)
        assert not hidden and text == "40 % held back", (path, text)
        hidden, text = wait_for(lambda: shown(1.0), timeout=20, interval=0.5)
        assert hidden and text == "", (path, text)


def test_boxes_drawn_by_the_page_show_hostile_text_as_text(make_site, browser):
    """``annotate = "page"``: the page draws the frame's detections (its X-Overlay
    header) over the picture, on both pages: boxes where the frame says, and a
    code's text, however evil, as SVG text that never runs."""
    site, publisher = make_site(config())
    site.streamer()
    detections = [
        {"label": "qr", "score": 1.0, "box": [20 + 150 * i, 40, 100, 100], "extra": {"text": text}}
        for i, text in enumerate(PAYLOADS.values())
    ]
    detections.append({"label": "person", "score": 0.5, "box": [300, 200, 120, 240]})
    drawn = """
        const svg = document.querySelector('svg.overlay');
        if (svg.dataset.items !== '5') return null;
        return {
          boxes: [...svg.querySelectorAll('rect.box')].map((r) =>
            ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a)))),
          captions: [...svg.querySelectorAll('text.caption')].map((t) => t.textContent),
          elements: [...new Set([...svg.querySelectorAll('*')].map((e) => e.tagName))].sort(),
          viewBox: svg.getAttribute('viewBox'),
          pwned: window.__pwned === undefined ? 0 : window.__pwned,
        };
    """
    for path in ("/camera/cam1", "/"):
        browser.get(site.base + path)
        shown = wait_for(
            lambda: (
                publisher.result(detections=detections, overlay=True)
                or browser.execute_script(drawn)
            ),
            timeout=20,
            interval=0.5,
        )
        assert shown["viewBox"] == "0 0 640 480", shown
        assert shown["boxes"] == [d["box"] for d in detections], shown
        for text in PAYLOADS.values():
            assert f"qr {text}"[:60] in shown["captions"], (text, shown["captions"])
        assert "person 0.50" in shown["captions"]
        assert shown["elements"] == ["rect", "text"], "nothing but boxes and their captions"
        assert shown["pwned"] == 0
        # A frame drawn into the picture (the default) clears what the page drew.
        cleared = wait_for(
            lambda: (
                publisher.result(detections=detections)
                or browser.execute_script(
                    "const s = document.querySelector('svg.overlay');"
                    "return s.dataset.items === '0' && s.childElementCount === 0;"
                )
            ),
            timeout=20,
            interval=0.5,
        )
        assert cleared
    time.sleep(1.0)  # a handler would have run by now
    assert browser.execute_script("return window.__pwned === undefined")


def test_the_page_draws_skeletons_meshes_and_head_axes_from_the_overlay(make_site, browser):
    """The shapes a picture would carry, drawn by the page: a skeleton's bones as one
    path of segments, a mesh's points, a head's three axes in red, green and blue."""
    site, publisher = make_site(config())
    site.streamer()
    detections = [
        {"label": "person", "score": 0.9, "box": [100, 100, 80, 200],
         "extra": {"lines": [[110, 120, 150, 160], [150, 160, 140, 290]]}},
        {"label": "face-mesh", "score": 1.0, "extra": {"points": [[300, 100], [302, 104]]}},
        {"label": "head-pose", "score": 1.0,
         "extra": {"axes": [[400, 200], [440, 200], [400, 160], [396, 204]]}},
    ]  # fmt: skip
    shapes = """
        const svg = document.querySelector('svg.overlay');
        if (svg.dataset.items !== '3') return null;
        return {
          lines: [...svg.querySelectorAll('path.lines')].map((p) => p.getAttribute('d')),
          points: [...svg.querySelectorAll('path.points')].map((p) => p.getAttribute('d')),
          axes: [...svg.querySelectorAll('path.axis')].map(
            (p) => [p.getAttribute('d'), p.getAttribute('stroke')]),
        };
    """
    browser.get(f"{site.base}/camera/cam1")
    shown = wait_for(
        lambda: (
            publisher.result(detections=detections, overlay=True) or browser.execute_script(shapes)
        ),
        timeout=20,
        interval=0.5,
    )
    assert shown["lines"] == ["M110 120L150 160M150 160L140 290"], shown
    assert shown["points"] == ["M300 100h0.01M302 104h0.01"], shown
    assert shown["axes"] == [
        ["M400 200L440 200", "#ff0000"],
        ["M400 200L400 160", "#00ff00"],
        ["M400 200L396 204", "#0000ff"],
    ], shown
