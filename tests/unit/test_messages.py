import struct

import cv2
import msgpack
import numpy as np
import pytest

from pipeline.core.messages import (
    MAX_MESSAGE_BYTES,
    Event,
    Frame,
    MessageError,
    Result,
    Status,
    pack,
    unpack,
)


def frame(**changes) -> Frame:
    values = dict(
        camera="cam1", seq=7, captured_at=1700000000.25, width=4, height=2, data=b"\xff\xd8jpeg"
    )
    values.update(changes)
    return Frame(**values)


def body(**changes) -> dict:
    values = {
        "v": 1,
        "type": "frame",
        "camera": "cam1",
        "seq": 1,
        "captured_at": 1.5,
        "width": 4,
        "height": 2,
        "encoding": "jpeg",
        "data": b"x",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not ...}


def packed(**changes) -> bytes:
    return msgpack.packb(body(**changes), use_bin_type=True)


def test_frame_round_trip_keeps_every_field():
    original = frame(timings={"encode_ms": 1.25})
    decoded = unpack(pack(original), Frame)
    assert decoded == original


def test_raw_frame_round_trip():
    original = frame(encoding="raw", dtype="uint8", shape=(2, 4, 3), data=bytes(24))
    decoded = unpack(pack(original), Frame)
    assert decoded.shape == (2, 4, 3) and decoded.dtype == "uint8" and decoded.data == bytes(24)


def test_result_status_and_event_round_trips():
    result = Result(
        "cam1", 3, 10.0, 4, 2, b"jpg", [{"label": "qr", "score": 1.0}], {"a_ms": 1.0}, "w1"
    )
    assert unpack(pack(result), Result) == result
    status = Status("cam1", "offline", 12.0, "cannot open", 0.0, 5, 1)
    assert unpack(pack(status), Status) == status
    shedding = Status("cam1", "live", 12.0, fps=11.2, share=0.75)
    assert unpack(pack(shedding), Status).share == 0.75
    event = unpack(pack(Event("cam1", 3, 10.0, {"label": "motion"})), Event)
    assert event.detection["label"] == "motion" and event.seq == 3
    crop = cv2.imencode(".jpg", np.zeros((90, 40, 3), np.uint8))[1].tobytes()
    event = unpack(pack(Event("cam1", 3, 10.0, {"label": "person"}, crop)), Event)
    assert event.snapshot == crop


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A JPEG's start and a SOF segment that claims this size, and nothing else."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof


@pytest.mark.parametrize(
    ("snapshot", "reason"),
    [
        (b"<script>alert(1)</script>", "no SOI marker"),
        (_jpeg_claiming(30000, 30000), "larger than 1024 px a side"),
        (b"\xff\xd8" + b"\0" * (600 * 1024), "'snapshot' must be of length <= 524288"),
        ("a string", "must be bytes"),
    ],
)
def test_an_events_snapshot_is_a_small_jpeg_or_the_event_is_refused(snapshot, reason):
    body = msgpack.packb({"v": 1, "type": "event", "camera": "cam1", "seq": 1,
                          "captured_at": 10.0, "detection": {"label": "person"},
                          "snapshot": snapshot})  # fmt: skip
    with pytest.raises(MessageError, match=reason):
        unpack(body, Event)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not valid msgpack"),
        (b"\x00\x01garbage\xff", "must be a map, got int"),
        (packed() + b"\x00", "trailing characters"),
        (packed()[:-3], "not valid msgpack"),
        (msgpack.packb([1, 2, 3]), "must be a map"),
        # A bin header that claims 4 GB must be refused before anything is allocated.
        (b"\x81\xa4data\xc6" + struct.pack(">I", 0xFFFFFFFF) + b"abc", "not valid msgpack"),
        (b"\x91" * 100_000 + b"\x00", "must be a map, got list"),
        (packed(v=2), "unsupported wire version"),
        (packed(v=...), "unsupported wire version"),
        (packed(type="result"), "expected a frame"),
        (packed(camera=...), "missing field 'camera'"),
        (packed(camera="../etc"), "'camera' must match"),
        (packed(camera=5), "field 'camera' must be str"),
        (packed(seq="1"), "field 'seq' must be int"),
        (packed(seq=True), "got bool"),
        (packed(seq=-1), "'seq' must be >= 0"),
        (packed(captured_at=float("nan")), "finite"),
        (packed(width=0), "'width' must be >= 1"),
        (packed(height=100_000), "'height' must be <= 16384"),
        (packed(encoding="png"), "unknown encoding"),
        (packed(data=b""), "'data' must be of length >= 1"),
        (packed(data="text"), "field 'data' must be bytes"),
        (packed(timings=[1]), "'timings' must be a map"),
        (packed(timings={"a": "b"}), r"'timings\[...\]' must be a number, got str"),
        (packed(encoding="raw", dtype="uint8", shape=[2, 4, 3], data=b"short"), "shape needs"),
        (
            packed(encoding="raw", dtype="object", shape=[2, 4], data=bytes(8)),
            "unknown dtype 'object'",
        ),
        (packed(encoding="raw", dtype="uint8", shape=[3, 4], data=bytes(12)), "does not match"),
        (msgpack.packb({1: 2}), "map keys must be short strings"),
    ],
)
def test_frame_rejections_say_why(payload: bytes, reason: str):
    with pytest.raises(MessageError, match=reason):
        unpack(payload, Frame)


def test_oversize_message_is_refused_by_length_alone():
    with pytest.raises(MessageError, match="exceeds"):
        unpack(b"\x00" * (MAX_MESSAGE_BYTES + 1), Frame)


def test_result_rejections():
    good = msgpack.packb(
        {**body(type="result", detections=[], worker="w"), "type": "result"}, use_bin_type=True
    )
    assert unpack(good, Result).worker == "w"
    with pytest.raises(MessageError, match="detections"):
        unpack(msgpack.packb({**body(type="result", worker="w")}, use_bin_type=True), Result)
    with pytest.raises(MessageError, match="a detection: unknown field 'x'"):
        unpack(
            msgpack.packb(
                body(type="result", worker="w", detections=[{"x": 1}]), use_bin_type=True
            ),
            Result,
        )
    with pytest.raises(MessageError, match="'detections' must be of length <= 1000"):
        unpack(
            msgpack.packb(
                body(type="result", worker="w", detections=[{"label": "a"}] * 1001),
                use_bin_type=True,
            ),
            Result,
        )
    with pytest.raises(MessageError, match="jpeg"):
        unpack(
            msgpack.packb(
                body(type="result", worker="w", detections=[], encoding="raw"), use_bin_type=True
            ),
            Result,
        )


def test_status_rejects_unknown_state_and_bad_counts():
    with pytest.raises(MessageError, match="unknown state 'exploded'"):
        unpack(pack(Status("cam1", "exploded", 1.0)), Status)
    bad = msgpack.packb(
        {
            "v": 1,
            "type": "status",
            "camera": "cam1",
            "state": "live",
            "sent_at": 1.0,
            "frames_published": "many",
        }
    )
    with pytest.raises(MessageError, match="frames_published"):
        unpack(bad, Status)


def test_status_share_is_a_fraction_and_defaults_to_every_frame():
    fields = {"v": 1, "type": "status", "camera": "cam1", "state": "live", "sent_at": 1.0}
    assert unpack(msgpack.packb(fields), Status).share == 1.0  # a capture that does not say
    for share, reason in ((0.0, "> 0"), (1.5, "<= 1"), (float("nan"), "finite"),
                          ("half", "number")):  # fmt: skip
        with pytest.raises(MessageError, match=reason):
            unpack(msgpack.packb({**fields, "share": share}), Status)


def test_result_overlay_flag_round_trips_and_defaults_to_drawn_in():
    result = Result("cam1", 3, 1.5, 4, 2, b"\xff\xd8", [], {}, "w", overlay=True)
    assert unpack(pack(result), Result).overlay is True
    older = msgpack.packb(body(type="result", detections=[], worker="w"), use_bin_type=True)
    assert unpack(older, Result).overlay is False, "older workers send none: drawn in"
    with pytest.raises(MessageError, match="field 'overlay' must be bool, got str"):
        unpack(
            msgpack.packb(
                body(type="result", detections=[], worker="w", overlay="yes"), use_bin_type=True
            ),
            Result,
        )


def test_a_capture_time_far_ahead_of_the_clock_is_refused():
    import time

    now = time.time()
    assert unpack(pack(Event("cam1", 1, now + 3600, {"label": "fall"})), Event).captured_at
    with pytest.raises(MessageError, match=r"captured_at.*ahead of the clock"):
        unpack(pack(Event("cam1", 1, now + 366 * 86_400, {"label": "fall"})), Event)
