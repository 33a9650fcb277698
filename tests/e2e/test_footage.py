"""Continuous footage end to end, with real pieces: an RTSP camera sending H.264
(GStreamer's server), `rabbitcam run` capturing it, the footage recorder writing
its packets into segments from the broker's stream, killed and started again
mid-recording, the timeline page in Chromium playing across a segment boundary,
and an export that FFmpeg reads. Two minutes of footage, then: the segments cover
at least 99 % of the time, FFmpeg decodes every one, and the pictures in them are
the camera's own packets (no re-encode)."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
import uuid
from collections.abc import Iterator

import av
import pytest
import requests

from testkit.processes import Rabbitcam, delete_namespace, free_port, wait_for, wait_for_http
from tests.rtsp import RtspCamera

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(330)]  # two minutes of footage, and more

RECORD_S = 120.0
SEGMENT_S = 4


@pytest.fixture(scope="module")
def site(broker_url: str, tmp_path_factory) -> Iterator[dict]:
    work = tmp_path_factory.mktemp("footage")
    camera = RtspCamera(free_port(), "320x240@10")  # a key picture every 2 s
    camera.start()
    port = free_port()
    config = work / "site.toml"
    config.write_text(
        f'[web]\nbind = "127.0.0.1:{port}"\n[detect]\nworkers = 0\n'
        f'[record]\ndir = "store"\nsegment_s = {SEGMENT_S}\nfootage_buffer_s = 600\n'
        f'[[cameras]]\nid = "porch"\nsource = "{camera.url}"\nfps = 10\n'
        'width = 320\nheight = 240\nfootage = "continuous"\n'
    )
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    run = Rabbitcam(["run", "--roles", "capture,stream", str(config)], namespace,
                    work / "run.log")  # fmt: skip
    recorder = Rabbitcam(["footage", str(config)], namespace, work / "footage.log")
    recorders = [recorder]
    try:
        wait_for_http(f"http://127.0.0.1:{port}")
        yield {
            "base": f"http://127.0.0.1:{port}", "work": work, "config": config, "run": run,
            "namespace": namespace, "camera": camera, "recorders": recorders,
        }  # fmt: skip
    finally:
        for process in (run, *recorders):
            process.stop(timeout=10)
        camera.kill()
        delete_namespace(broker_url, namespace, ["porch"])


def listing(base: str, since: float = 0.0) -> dict:
    now = time.time()
    query = {"from": max(since, now - 86_000), "to": now + 60}
    response = requests.get(f"{base}/api/recordings/porch", params=query, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def slices(data: bytes, length_prefixed: bool) -> list[bytes]:
    """The coded picture slices (NAL types 1 and 5) of an H.264 packet, as hashes: in
    Annex B (start codes) from the camera, length-prefixed from an MP4."""
    units = []
    if length_prefixed:
        at = 0
        while at + 4 <= len(data):
            size = int.from_bytes(data[at : at + 4], "big")
            units.append(data[at + 4 : at + 4 + size])
            at += 4 + size
    else:
        units = [u.lstrip(b"\x00") for u in data.replace(b"\x00\x00\x01", b"\x00\x00\x00\x01")
                 .split(b"\x00\x00\x00\x01")]  # fmt: skip
    return [hashlib.sha1(u.rstrip(b"\x00")).digest() for u in units
            if u and u[0] & 0x1F in (1, 5)]  # fmt: skip


def read_camera(url: str, seconds: float, into: list[tuple[float, bytes]]) -> None:
    """The camera's own packets, read beside capture (the server shares one encoder),
    each slice with when it came."""
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=10) as container:
        stream = container.streams.video[0]
        ends = time.monotonic() + seconds
        for packet in container.demux(stream):
            if packet.size:
                into += [(time.time(), each) for each in slices(bytes(packet), False)]
            if time.monotonic() > ends:
                return


def test_footage_is_kept_through_a_recorder_restart_and_plays_across_segments(browser, site):
    base = site["base"]
    seen: list[tuple[float, bytes]] = []
    watcher = threading.Thread(target=read_camera, daemon=True,
                               args=(site["camera"].url, 20.0, seen))  # fmt: skip
    watcher.start()
    first = wait_for(lambda: len(listing(base)["segments"]) >= 3 and listing(base), timeout=60)
    assert first["state"] == "recording"

    # Killed outright mid-segment, away for a while, started again: the broker kept the
    # stream, so the recorder carries on from its last segment.
    recorder = site["recorders"][0]
    recorder.process.kill()
    recorder.process.wait(5)
    time.sleep(2.5 * SEGMENT_S)
    again = Rabbitcam(["footage", str(site["config"])], site["namespace"],
                      site["work"] / "footage-2.log")  # fmt: skip
    site["recorders"].append(again)
    watcher.join(30)

    # The timeline: play from just before a boundary, and on into the next segment.
    segments = wait_for(lambda: len(listing(base)["segments"]) >= 6
                        and listing(base)["segments"], timeout=60)  # fmt: skip
    before, after = segments[1], segments[2]
    browser.get(f"{base}/footage/porch?at={before['end'] - 1.0}")
    wait_for(
        lambda: (
            browser.execute_script("return document.getElementById('footage').dataset.state")
            == "ready"
        ),
        timeout=15,
    )
    crossed = wait_for(lambda: browser.execute_script(
        "const v = document.getElementById('video');"
        f"return !v.error && v.dataset.segment === '{after['id']}' && v.currentTime > 0.5"
        " && [v.currentTime, v.videoWidth, document.getElementById('playing').textContent];"
    ), timeout=30, interval=0.25)  # fmt: skip
    print(f"\ntimeline in Chromium: into segment {after['id']} by {crossed[0]:.1f} s, "
          f"{crossed[1]} px wide, {crossed[2]!r}")  # fmt: skip
    assert crossed[1] == 320 and "playing" in crossed[2]
    spans = browser.execute_script("return document.querySelectorAll('#timeline .span').length")
    assert spans >= 1

    # Export a range: one MP4, copied, that FFmpeg reads from end to end. The page's own
    # link first (the minute from where it plays), then a range of the test's choosing.
    link = browser.find_element("id", "export-link").get_attribute("href")
    assert "/api/recordings/porch/export?" in link
    from_page = requests.get(link, timeout=30)
    assert from_page.status_code == 200, from_page.text
    (site["work"] / "page-export.mp4").write_bytes(from_page.content)
    with av.open(str(site["work"] / "page-export.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) > 10 * 5
    since, until = segments[0]["start"] + 1.0, segments[0]["start"] + 13.0
    exported = requests.get(f"{base}/api/recordings/porch/export",
                            params={"from": since, "to": until}, timeout=30)  # fmt: skip
    assert exported.status_code == 200, exported.text
    assert "attachment" in exported.headers["Content-Disposition"]
    path = site["work"] / "export.mp4"
    path.write_bytes(exported.content)
    with av.open(str(path)) as container:
        pictures = sum(1 for _ in container.decode(video=0))
        duration = container.duration / 1e6
    print(f"export of {until - since:.0f} s: {duration:.1f} s, {pictures} pictures")
    assert 12 <= duration <= 12 + 2.5 and pictures >= 10 * 12 * 0.9

    # Two minutes of footage, then the whole of it.
    wait_for(lambda: (lambda s: s and s[-1]["end"] - s[0]["start"] >= RECORD_S)(
        listing(base)["segments"]), timeout=RECORD_S + 60, interval=2)  # fmt: skip
    segments = listing(base)["segments"]
    start, end = segments[0]["start"], segments[-1]["end"]
    covered = sum(s["end"] - s["start"] for s in segments)
    print(f"{len(segments)} segments over {end - start:.1f} s, covering {covered:.1f} s "
          f"({covered / (end - start):.2%})")  # fmt: skip
    assert covered / (end - start) >= 0.99, "no gap, the recorder's restart included"
    for earlier, later in itertools.pairwise(segments):
        assert later["start"] - earlier["end"] < 0.5, (earlier, later)

    recorded: set[bytes] = set()
    for segment in segments:
        assert segment["copied"] and segment["codec"] == "h264"
        response = requests.get(base + segment["url"], timeout=10)
        assert response.status_code == 200
        file = site["work"] / f"segment-{segment['id']}.mp4"
        file.write_bytes(response.content)
        with av.open(str(file)) as container:
            stream = container.streams.video[0]
            decoded = sum(1 for _ in container.decode(stream))
            container.seek(0)
            for packet in container.demux(stream):
                if packet.size:
                    recorded.update(slices(bytes(packet), length_prefixed=True))
        assert decoded >= 0.9 * 10 * (segment["end"] - segment["start"]) - 1, segment
    # What came once the recording had begun (the first segment waits for a key picture).
    watched = {each for at, each in seen if at > segments[0]["start"] + 1.0}
    assert len(watched) > 100
    share = len(watched & recorded) / len(watched)
    print(
        f"of {len(watched)} slices the camera sent while watched, {share:.1%} are in the segments"
    )
    assert share >= 0.95, "the segments hold the camera's own packets"
    assert "lost" not in (site["work"] / "footage-2.log").read_text()
