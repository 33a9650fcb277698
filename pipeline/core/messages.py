"""The wire format: the only module that knows msgpack.

A frame travels as one msgpack map (version, camera, seq, capture time, image
bytes); a result is the same identity plus detections, per-stage timings, the
detector worker's id and the annotated image. Unpacking never trusts its input:
sizes are capped before anything is allocated, every field is type-checked, and
any problem is a ``MessageError`` whose text goes into the dead-letter header.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from pipeline.core.jpeg import JpegError, jpeg_size

WIRE_VERSION = 1
CONTENT_TYPE = "application/msgpack"

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_IMAGE_BYTES = 30 * 1024 * 1024
MAX_STRING_BYTES = 64 * 1024
MAX_ITEMS = 10_000
MAX_DIMENSION = 16_384
MAX_DETECTIONS = 1_000
ENCODINGS = ("jpeg", "raw")
RAW_DTYPES = ("uint8", "uint16", "float32")
# seq starts at the capture worker's clock in ms and grows by under 1000 a
# second, so a real one is never far ahead of the clock. One that is (2**64-1,
# say) would make every real frame after it look out of order.
MAX_SEQ = 2**53 - 1  # also the largest integer a browser's JSON keeps exact
SEQ_AHEAD_OF_CLOCK_MS = 86_400_000  # a day: clocks of other hosts may be off, not by more

# A detection is small metadata that ends up in pages, logs and alarms: its
# shape is fixed here, and everything in it is bounded.
DETECTION_KEYS = frozenset({"label", "score", "box", "extra", "event"})
MAX_LABEL_CHARS = 64
MAX_EXTRA_KEYS = 32
MAX_EXTRA_TEXT_CHARS = 4096
MAX_EXTRA_LIST_ITEMS = 1500  # enough for a face mesh: 468 points
MAX_POINT_ITEMS = 4  # an inner list is a point or a box: a handful of numbers
MAX_BOX_VALUE = 4 * MAX_DIMENSION
MAX_REASON_CHARS = 500
# An event may carry a picture of what it is about (a tracked object's crop): small.
MAX_SNAPSHOT_BYTES = 512 * 1024
MAX_SNAPSHOT_SIDE = 1024
# C0 and C1 control characters (terminal escapes among them), DEL, and the
# bidirectional overrides that make a line read differently from what it holds.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class MessageError(ValueError):
    """A message that cannot be used; the text is the dead-letter reason."""


@dataclass
class Frame:
    """One camera picture on its way from capture to a detector."""

    camera: str
    seq: int
    captured_at: float
    width: int
    height: int
    data: bytes
    encoding: str = "jpeg"
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Result:
    """A detector's output for one frame: what it found and the annotated picture."""

    camera: str
    seq: int
    captured_at: float
    width: int
    height: int
    data: bytes
    detections: list[dict[str, Any]]
    timings: dict[str, float]
    worker: str
    encoding: str = "jpeg"
    # Which of the camera's detectors ran on this frame, and which were skipped
    # because the detector they wait for (``when``) found nothing.
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # The detections are not drawn into ``data`` (``annotate = "page"``): the
    # pages draw them over the camera's own picture.
    overlay: bool = False

    @classmethod
    def of_frame(
        cls,
        frame: Frame,
        worker: str,
        *,
        overlay: bool,
        data: bytes | None = None,
        detections: list[dict[str, Any]] | None = None,
        timings: dict[str, float] | None = None,
        ran: list[str] | None = None,
        skipped: list[str] | None = None,
    ) -> Result:
        """The result of ``frame``, the one way results are made: its camera, number,
        time and size; the picture it carries (by default the frame's own); the
        capture's timings (``capture.*``) with ``timings`` added."""
        return cls(
            camera=frame.camera, seq=frame.seq, captured_at=frame.captured_at,
            width=frame.width, height=frame.height,
            data=frame.data if data is None else data,
            detections=detections or [],
            timings={**{f"capture.{k}": v for k, v in frame.timings.items()}, **(timings or {})},
            worker=worker, ran=ran or [], skipped=skipped or [], overlay=overlay,
        )  # fmt: skip


@dataclass
class Status:
    """A capture worker's heartbeat: is its source delivering pictures?"""

    camera: str
    state: str  # "live" | "offline" | "starting"
    sent_at: float
    reason: str = ""
    fps: float = 0.0
    frames_published: int = 0
    frames_dropped: int = 0
    # The share of its configured frames capture publishes: below 1 while it sheds
    # load because the machine is busy (so a lower fps is not the camera's fault).
    share: float = 1.0


# --- packing -------------------------------------------------------------------------


def _pack(body: dict[str, Any]) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


def pack_frame(frame: Frame) -> bytes:
    body: dict[str, Any] = {
        "v": WIRE_VERSION,
        "type": "frame",
        "camera": frame.camera,
        "seq": frame.seq,
        "captured_at": frame.captured_at,
        "width": frame.width,
        "height": frame.height,
        "encoding": frame.encoding,
        "timings": frame.timings,
        "data": frame.data,
    }
    if frame.encoding == "raw":
        body["dtype"] = frame.dtype
        body["shape"] = list(frame.shape or ())
    return _pack(body)


def pack_result(result: Result) -> bytes:
    return _pack(
        {
            "v": WIRE_VERSION,
            "type": "result",
            "camera": result.camera,
            "seq": result.seq,
            "captured_at": result.captured_at,
            "width": result.width,
            "height": result.height,
            "encoding": result.encoding,
            "detections": result.detections,
            "timings": result.timings,
            "worker": result.worker,
            "ran": result.ran,
            "skipped": result.skipped,
            "overlay": result.overlay,
            "data": result.data,
        }
    )


def pack_status(status: Status) -> bytes:
    return _pack(
        {
            "v": WIRE_VERSION,
            "type": "status",
            "camera": status.camera,
            "state": status.state,
            "sent_at": status.sent_at,
            "reason": status.reason,
            "fps": status.fps,
            "frames_published": status.frames_published,
            "frames_dropped": status.frames_dropped,
            "share": status.share,
        }
    )


def pack_event(
    camera: str,
    seq: int,
    captured_at: float,
    detection: dict[str, Any],
    snapshot: bytes | None = None,
) -> bytes:
    """A detection event: small metadata for alarms, without the frame; with
    ``snapshot``, a small JPEG of what it is about (a tracked object's crop)."""
    body = {
        "v": WIRE_VERSION,
        "type": "event",
        "camera": camera,
        "seq": seq,
        "captured_at": captured_at,
        "detection": detection,
    }
    if snapshot is not None:
        body["snapshot"] = snapshot
    return _pack(body)


# --- unpacking -----------------------------------------------------------------------


def _unpack_map(payload: bytes, expected_type: str) -> dict[str, Any]:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise MessageError(f"payload must be bytes, got {type(payload).__name__}")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        body = msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            max_bin_len=MAX_IMAGE_BYTES,
            max_str_len=MAX_STRING_BYTES,
            max_array_len=MAX_ITEMS,
            max_map_len=MAX_ITEMS,
            max_ext_len=0,
        )
    except msgpack.ExtraData:
        raise MessageError("trailing bytes after the message") from None
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as error:
        # msgpack reports truncation, oversize headers and bad UTF-8 all as ValueError kinds.
        raise MessageError(f"not valid msgpack: {type(error).__name__}: {error}"[:300]) from None
    if not isinstance(body, dict):
        raise MessageError(f"message must be a map, got {type(body).__name__}")
    version = body.get("v")
    if version != WIRE_VERSION:
        raise MessageError(f"unsupported wire version {version!r} (expected {WIRE_VERSION})")
    kind = body.get("type", expected_type)
    if kind != expected_type:
        raise MessageError(f"expected a {expected_type} message, got {kind!r}")
    return body


def _field(body: dict[str, Any], key: str, kinds: type | tuple[type, ...]) -> Any:
    if key not in body:
        raise MessageError(f"missing field {key!r}")
    value = body[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise MessageError(f"field {key!r} must be {_kinds_name(kinds)}, got bool")
    if not isinstance(value, kinds):
        raise MessageError(
            f"field {key!r} must be {_kinds_name(kinds)}, got {type(value).__name__}"
        )
    return value


def _kinds_name(kinds: type | tuple[type, ...]) -> str:
    if isinstance(kinds, tuple):
        return " or ".join(kind.__name__ for kind in kinds)
    return kinds.__name__


def _camera(body: dict[str, Any]) -> str:
    from pipeline.core.config import CAMERA_ID_PATTERN

    camera = _field(body, "camera", str)
    if not CAMERA_ID_PATTERN.fullmatch(camera):
        raise MessageError(f"invalid camera id {camera[:80]!r}")
    return camera


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with control characters (terminal escapes) replaced, for a terminal or a log."""
    text = text[:limit] if limit is not None else text
    return _UNPRINTABLE.sub("\ufffd", text)


def is_number(value: Any) -> bool:
    """An int or a float as msgpack or JSON gives it (a boolean is none)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: Any, what: str) -> float:
    if not is_number(value):
        raise MessageError(f"{what} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise MessageError(f"{what} must be a finite number, got {number!r}")
    return number


def _count(body: dict[str, Any], key: str) -> int:
    if key not in body:
        return 0
    value = _field(body, key, int)
    if not 0 <= value <= MAX_SEQ:
        raise MessageError(f"field {key!r} must be between 0 and {MAX_SEQ}")
    return value


def _seq(body: dict[str, Any], now: float | None = None) -> int:
    seq = _field(body, "seq", int)
    if seq < 0:
        raise MessageError(f"field 'seq' must be >= 0, got {seq}")
    now_ms = (now if now is not None else time.time()) * 1000
    if seq > MAX_SEQ or seq > now_ms + SEQ_AHEAD_OF_CLOCK_MS:
        raise MessageError(f"field 'seq' is implausible ({seq}: ahead of the clock)")
    return seq


def _timestamp(body: dict[str, Any], key: str, now: float | None = None) -> float:
    value = float(_field(body, key, (int, float)))
    if not math.isfinite(value) or value < 0:
        raise MessageError(f"field {key!r} must be a finite non-negative time, got {value!r}")
    # Like seq: a time far ahead of every clock would outrank every real one after it.
    if value > (now if now is not None else time.time()) + SEQ_AHEAD_OF_CLOCK_MS / 1000:
        raise MessageError(f"field {key!r} is implausible ({value}: ahead of the clock)")
    return value


def _dimension(body: dict[str, Any], key: str) -> int:
    value = _field(body, key, int)
    if not 0 < value <= MAX_DIMENSION:
        raise MessageError(f"field {key!r} must be between 1 and {MAX_DIMENSION}, got {value}")
    return value


def _timings(body: dict[str, Any]) -> dict[str, float]:
    raw = body.get("timings", {})
    if not isinstance(raw, dict):
        raise MessageError("field 'timings' must be a map")
    if len(raw) > MAX_EXTRA_KEYS * 4:
        raise MessageError(f"field 'timings' has {len(raw)} entries")
    timings: dict[str, float] = {}
    for key, value in raw.items():
        if (
            not isinstance(key, str)
            or len(key) > MAX_LABEL_CHARS
            or isinstance(value, bool)
            or not isinstance(value, int | float)
        ):
            raise MessageError("field 'timings' must map names to numbers")
        timings[key] = _finite(value, f"timings[{printable(key)!r}]")
    return timings


def _image(body: dict[str, Any]) -> tuple[str, bytes]:
    encoding = _field(body, "encoding", str)
    if encoding not in ENCODINGS:
        raise MessageError(f"unknown encoding {encoding[:40]!r} (expected one of {ENCODINGS})")
    data = _field(body, "data", bytes)
    if not data:
        raise MessageError("field 'data' is empty")
    return encoding, data


def unpack_frame(payload: bytes) -> Frame:
    """Decode and validate a frame message; raise MessageError on anything off."""
    body = _unpack_map(payload, "frame")
    encoding, data = _image(body)
    frame = Frame(
        camera=_camera(body),
        seq=_seq(body),
        captured_at=_timestamp(body, "captured_at"),
        width=_dimension(body, "width"),
        height=_dimension(body, "height"),
        data=data,
        encoding=encoding,
        timings=_timings(body),
    )
    if encoding == "raw":
        dtype = _field(body, "dtype", str)
        if dtype not in RAW_DTYPES:
            raise MessageError(f"unsupported raw dtype {dtype[:40]!r}")
        shape = _field(body, "shape", list)
        if not 2 <= len(shape) <= 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_DIMENSION for n in shape
        ):
            raise MessageError(f"invalid raw shape {shape[:4]!r}")
        if tuple(shape[:2]) != (frame.height, frame.width):
            raise MessageError("raw shape does not match width and height")
        import numpy as np

        expected = math.prod(shape) * np.dtype(dtype).itemsize
        if expected != len(data):
            raise MessageError(f"raw data holds {len(data)} bytes, shape needs {expected}")
        frame.dtype, frame.shape = dtype, tuple(shape)
    return frame


def _extra_value(value: Any, where: str, depth: int = 0) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int | float):
        _finite(value, where)
    elif isinstance(value, str):
        if len(value) > MAX_EXTRA_TEXT_CHARS:
            raise MessageError(f"{where} is longer than {MAX_EXTRA_TEXT_CHARS} characters")
    elif isinstance(value, list) and depth < 2:
        # One list, whose items may be short lists of numbers (points, boxes).
        limit = MAX_EXTRA_LIST_ITEMS if depth == 0 else MAX_POINT_ITEMS
        if len(value) > limit:
            raise MessageError(f"{where} has more than {limit} items")
        for index, item in enumerate(value):
            if depth == 1 and not isinstance(item, int | float):
                raise MessageError(f"{where}[{index}] must be a number")
            _extra_value(item, f"{where}[{index}]", depth + 1)
    else:
        raise MessageError(
            f"{where} must be a string, a finite number, a boolean or a short list, "
            f"got {type(value).__name__}"
        )


def check_detection(detection: Any) -> dict[str, Any]:
    """Refuse a detection outside the schema; return it unchanged when it fits.

    ``{"label": str, "score": finite number, "box"?: [x, y, w, h] ints,
    "extra"?: {name: str | finite number | bool | null | short list}, "event"?: bool}``.
    The detector worker checks what every detector (a plugin too) returns; the
    streamer and the events tail check what arrives from the wire.
    """
    label = detection.get("label") if isinstance(detection, dict) else None
    if not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL_CHARS:
        raise MessageError(
            f"every detection must be a map with a string 'label' of 1 to {MAX_LABEL_CHARS} "
            "characters"
        )
    unknown = set(detection) - DETECTION_KEYS
    if unknown:
        names = ", ".join(sorted(printable(str(k), 40) for k in unknown))
        raise MessageError(f"detection {printable(label)!r} has unknown keys: {names}")
    if _UNPRINTABLE.search(label):
        raise MessageError(f"detection label {printable(label)!r} has control characters")
    _finite(detection.get("score", 1.0), f"detection {label!r}: score")
    box = detection.get("box")
    if box is not None and (
        not isinstance(box, list)
        or len(box) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)
        or not all(abs(v) <= MAX_BOX_VALUE for v in box)
        or box[2] < 0
        or box[3] < 0
    ):
        raise MessageError(f"detection {label!r}: box must be four integers [x, y, w, h]")
    extra = detection.get("extra", {})
    if not isinstance(extra, dict) or len(extra) > MAX_EXTRA_KEYS:
        raise MessageError(f"detection {label!r}: extra must be a map of at most {MAX_EXTRA_KEYS}")
    for key, value in extra.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_LABEL_CHARS:
            raise MessageError(f"detection {label!r}: extra keys must be short strings")
        _extra_value(value, f"detection {label!r}: extra.{printable(key)}")
    if not isinstance(detection.get("event", False), bool):
        raise MessageError(f"detection {label!r}: event must be a boolean")
    return detection


def _detections(body: dict[str, Any]) -> list[dict[str, Any]]:
    detections = _field(body, "detections", list)
    if len(detections) > MAX_DETECTIONS:
        raise MessageError(f"too many detections ({len(detections)})")
    for detection in detections:
        check_detection(detection)
    return detections


def unpack_result(payload: bytes) -> Result:
    """Decode and validate a result message; raise MessageError on anything off."""
    body = _unpack_map(payload, "result")
    encoding, data = _image(body)
    if encoding != "jpeg":
        raise MessageError(f"results must carry a jpeg image, got {encoding!r}")
    return Result(
        camera=_camera(body),
        seq=_seq(body),
        captured_at=_timestamp(body, "captured_at"),
        width=_dimension(body, "width"),
        height=_dimension(body, "height"),
        data=data,
        detections=_detections(body),
        timings=_timings(body),
        worker=printable(_field(body, "worker", str), 128),
        encoding=encoding,
        ran=_names(body, "ran"),
        skipped=_names(body, "skipped"),
        # Optional: older workers draw into the picture and do not say so.
        overlay=_field(body, "overlay", bool) if "overlay" in body else False,
    )


def _names(body: dict[str, Any], key: str) -> list[str]:
    """An optional short list of detector names (older workers send none)."""
    names = body.get(key, [])
    if (
        not isinstance(names, list)
        or len(names) > 64
        or not all(isinstance(n, str) and 0 < len(n) <= MAX_LABEL_CHARS for n in names)
    ):
        raise MessageError(f"field {key!r} must be a short list of detector names")
    return [printable(n) for n in names]


def unpack_status(payload: bytes) -> Status:
    body = _unpack_map(payload, "status")
    state = _field(body, "state", str)
    if state not in ("live", "offline", "starting"):
        raise MessageError(f"unknown camera state {state[:40]!r}")
    return Status(
        camera=_camera(body),
        state=state,
        sent_at=_timestamp(body, "sent_at"),
        reason=printable(_field(body, "reason", str), MAX_REASON_CHARS) if "reason" in body else "",
        fps=_status_fps(body),
        frames_published=_count(body, "frames_published"),
        frames_dropped=_count(body, "frames_dropped"),
        share=_status_share(body),
    )


def _status_share(body: dict[str, Any]) -> float:
    if "share" not in body:
        return 1.0  # from a capture that does not say: it publishes every frame
    share = _finite(body["share"], "field 'share'")
    if not 0 < share <= 1:
        raise MessageError(f"field 'share' must be above 0 and at most 1, got {share}")
    return share


def _status_fps(body: dict[str, Any]) -> float:
    if "fps" not in body:
        return 0.0
    fps = _finite(body["fps"], "field 'fps'")
    if not 0 <= fps <= 10_000:
        raise MessageError(f"field 'fps' must be between 0 and 10000, got {fps}")
    return fps


def unpack_event(payload: bytes) -> dict[str, Any]:
    body = _unpack_map(payload, "event")
    _camera(body)
    _seq(body)
    _timestamp(body, "captured_at")
    check_detection(_field(body, "detection", dict))
    if "snapshot" in body:
        _event_snapshot(body)
    return body


def _event_snapshot(body: dict[str, Any]) -> None:
    """An event's picture: a JPEG, small in bytes and in the size its header claims."""
    snapshot = _field(body, "snapshot", bytes)
    if len(snapshot) > MAX_SNAPSHOT_BYTES:
        raise MessageError(f"event snapshot of {len(snapshot)} bytes exceeds {MAX_SNAPSHOT_BYTES}")
    try:
        width, height = jpeg_size(snapshot)
    except JpegError as error:
        raise MessageError(f"event snapshot: {error}") from None
    if max(width, height) > MAX_SNAPSHOT_SIDE:
        raise MessageError(
            f"event snapshot of {width}x{height} is larger than {MAX_SNAPSHOT_SIDE} px a side"
        )
