"""Valid messages holding evil values: NaN, bytes, deep nesting, absurd seqs.

Each used to break something downstream of a message that unpacked fine: a
NaN fps made ``/api/cameras`` invalid JSON, a detection holding bytes or
nested 1,000 deep made it answer 500, an event holding bytes ended
``rabbitcam events``, a seq of 2**64-1 froze a camera until the streamer
restarted. Now values are checked against a schema at the boundary, every bad
message is dead-lettered with its reason and counted, and the role goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from pipeline.core.messages import Event, MessageError, Result, check_detection, pack, unpack
from testkit.processes import rabbitcam_command, wait_for
from tests.security.conftest import (
    CAMERA,
    deep_list,
    now_seq,
    strict_json,
    with_raw_value,
)

pytestmark = pytest.mark.e2e

EVIL_DETECTIONS = {
    "bytes in extra": {"label": "qr", "extra": {"text": b"\x00\xff"}},
    "NaN score": {"label": "face", "score": float("nan")},
    "infinite number in extra": {"label": "face", "extra": {"fraction": float("inf")}},
    "box of five": {"label": "face", "box": [1, 2, 3, 4, 5]},
    "box of floats": {"label": "face", "box": [1.5, 2, 3, 4]},
    "negative box size": {"label": "face", "box": [1, 2, -3, 4]},
    "a label of 10,000 characters": {"label": "x" * 10_000},
    "a label with a terminal escape": {"label": "face\x1b[2J"},
    "a map inside extra": {"label": "qr", "extra": {"nested": {"a": 1}}},
    "a list of 9,000": {"label": "qr", "extra": {"points": list(range(9_000))}},
    "an unknown key": {"label": "qr", "script": "<b>"},
    "a text of 60 KB": {"label": "qr", "extra": {"text": "y" * 60_000}},
}


@pytest.mark.parametrize("name", list(EVIL_DETECTIONS))
def test_detection_schema_refuses(name):
    with pytest.raises(MessageError):
        check_detection(EVIL_DETECTIONS[name])


def test_detection_schema_keeps_what_detectors_send():
    for detection in (
        {"label": "qr", "score": 1.0, "box": [1, 2, 3, 4], "extra": {"text": "<b>hi</b>"}},
        {"label": "eyes_open", "extra": {"eyes": [[1, 2, 3, 4], [5, 6, 7, 8]]}},
        {"label": "face", "extra": {"mesh": [[0.5, 0.25]] * 468, "yaw": -12.5, "ok": True}},
        {"label": "blink", "event": True, "extra": {"duration_ms": 180, "note": None}},
    ):
        assert check_detection(detection) is detection


def test_evil_values_are_dead_lettered_and_the_streamer_goes_on(make_site):
    site, publisher = make_site(CAMERA.format(id="cam1"))
    site.streamer()
    sent = 0
    for detection in EVIL_DETECTIONS.values():
        publisher.result(detections=[detection])
        sent += 1
    deep = publisher.result_body(detections=[{"label": "qr", "extra": {"deep": "DEEP"}}])
    publisher.result(body=with_raw_value(deep, "DEEP", deep_list(1_000)))
    publisher.result(seq=2**64 - 1)  # would freeze the camera for ever
    publisher.result(seq=now_seq() + 10 * 86_400_000)  # ten days ahead: a forged clock
    publisher.result(timings={"detect.total_ms": float("nan")})
    publisher.status(fps=float("nan"))
    publisher.status(fps=float("inf"), frames_published=-5)
    publisher.status(share=float("nan"))
    publisher.status(share=-1.0)
    # accepted, with its escapes defused
    publisher.status(reason="\x1b]0;owned\x07\x1b[2J", share=0.75)
    sent += 8
    reasons = []
    wait_for(lambda: reasons.extend(publisher.dead_letters()) or len(reasons) >= sent, timeout=15)
    assert len(reasons) == sent, reasons
    assert all(reason for _, reason in reasons)
    text = " | ".join(reason for _, reason in reasons)
    for expected in ("finite", "implausible", "'box'", "got bytes", "unknown field 'script'"):
        assert expected in text, (expected, text)
    # The camera still shows real frames, in order, and the API stays valid JSON.
    publisher.result(detections=[{"label": "qr", "extra": {"text": "fine"}}])
    camera = wait_for(lambda: (c := site.camera())["last_seq"] and c, timeout=10)
    assert camera["last_detections"][0]["extra"]["text"] == "fine"
    assert camera["reason"] == "\ufffd]0;owned\ufffd\ufffd[2J"
    assert camera["capture_share"] == 0.75
    assert camera["dropped"]["invalid"] == sent - 4  # the four status messages count apart
    everything = strict_json(site.get("/api/cameras").text)
    assert everything[0]["id"] == "cam1" and everything[0]["status"] == "live"
    assert site.get("/healthz").status_code == 200


def test_a_restarted_capture_with_a_lower_seq_is_followed(make_site):
    """A capture worker restarted after the clock stepped back starts lower: once the
    frame on show is older than max_age_ms, the lower seq is taken as a restart."""
    site, publisher = make_site(CAMERA.format(id="cam1") + "max_age_ms = 500\n")
    site.streamer()
    high = now_seq()
    publisher.result(seq=high)
    wait_for(lambda: site.camera()["last_seq"] == high, timeout=10)
    publisher.result(seq=high - 60_000)  # a minute back, at once: a late frame, refused
    # (a Counter: the key is there once something was dropped for that reason)
    wait_for(lambda: site.camera()["dropped"].get("out_of_order") == 1, timeout=10)
    shown = site.camera()
    assert shown["last_seq"] == high and shown["seq_restarts"] == 0
    # Once the frame on show is older than max_age_ms, the lower seq is a restart.
    wait_for(lambda: time.time() - shown["last_captured_at"] > 0.5, timeout=5, interval=0.05)
    publisher.result(seq=high - 60_000)
    camera = wait_for(lambda: (c := site.camera())["last_seq"] == high - 60_000 and c, timeout=10)
    assert camera["seq_restarts"] == 1
    publisher.result(seq=high - 59_999)
    wait_for(lambda: site.camera()["last_seq"] == high - 59_999, timeout=10)


def test_events_tail_survives_evil_events(make_site):
    site, publisher = make_site(CAMERA.format(id="cam1"))
    tail = subprocess.Popen(
        [*rabbitcam_command(), "events", str(site.config), "--count", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "RABBITCAM_NAMESPACE": site.namespace},
    )
    try:
        # Wait until the tail's queue is bound: a probe event is dead-lettered once it is.
        topology = publisher.topology

        def probe_rejected() -> bool:
            publisher.raw(topology.events_exchange, "cam1.probe", b"not msgpack")
            return bool(publisher.dead_letters())  # the previous probe's, if it was taken

        wait_for(probe_rejected, timeout=20, interval=0.3)
        for detection in list(EVIL_DETECTIONS.values())[:4]:
            body = pack(Event("cam1", now_seq(), time.time(), detection))
            publisher.raw(topology.events_exchange, "cam1.qr", body)
        good = pack(
            Event("cam1", now_seq(), time.time(), {"label": "qr", "extra": {"text": "\x1b[31m"}})
        )
        publisher.raw(topology.events_exchange, "cam1.qr", good)
        out, err = tail.communicate(timeout=20)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 0, err[-2000:]
    lines = out.decode().splitlines()
    assert len(lines) == 1, lines
    event = json.loads(lines[0])
    assert event["label"] == "qr" and event["extra"]["text"] == "\x1b[31m"
    assert b"\x1b" not in out, "escapes reach the terminal only as JSON escapes"
    assert "rejected a bad event" in err.decode()


def test_a_plugin_returning_nan_costs_its_detection_not_the_frame():
    """The detector worker checks what every detector returns against the schema."""
    import threading

    import numpy as np

    import detectors
    from pipeline.core.messages import Frame, pack
    from pipeline.roles.detect import Delivery, DetectorWorker
    from tests.conftest import make_config
    from tests.security.conftest import PHOTO

    @detectors.register
    class NotANumber(detectors.Detector):
        name = "test_nan"

        def detect(self, image: np.ndarray, context: detectors.FrameContext):
            return [
                detectors.Detection("face", float("nan"), (1, 2, 3, 4)),
                detectors.Detection("face", 0.9, (1, 2, 3, 4), {"raw": b"\x00"}),
                detectors.Detection("face", 0.8, (5, 6, 7, 8)),
            ]

    try:
        config = make_config([{"id": "cam1", "source": "synthetic", "detectors": ["test_nan"]}])
        worker = DetectorWorker(config, list(config.cameras), threading.Event())
        body = pack(Frame("cam1", now_seq(), time.time(), 640, 480, PHOTO))
        outcome = worker.process(
            Delivery(1, 1, config.cameras[0], body, None, time.time(), lambda: None)
        )
    finally:
        detectors.REGISTRY.pop("test_nan")
    assert outcome.dead_reason is None
    result = unpack(outcome.result, Result)
    assert [d["score"] for d in result.detections] == [0.8]
    assert worker.counters.detector_errors == 2
