"""The wire format: every message is declared once here, as a msgspec ``Struct``.

A message's class is its schema: the fields, their types and their bounds
(``Meta``) are what packing writes and what unpacking demands, and a message's
``check`` adds the rules a type cannot say (a time not ahead of every clock, a
raw picture whose bytes fill its shape). Unpacking never trusts its input: the
length is capped before anything is read, msgspec allocates nothing a header
merely claims, and every problem is a ``MessageError`` whose text goes into the
dead-letter header. This is the only module that knows msgpack.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct, field

from declared.blocks import NAME_PATTERN
from pipeline.core.jpeg import JpegError, jpeg_size
from pipeline.core.text import printable

WIRE_VERSION = 1
CONTENT_TYPE = "application/msgpack"

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_IMAGE_BYTES = 30 * 1024 * 1024
MAX_DIMENSION = 16_384
MAX_DETECTIONS = 1_000
DTYPE_BYTES = {"uint8": 1, "uint16": 2, "float32": 4}  # a raw frame's values, and their sizes
MAX_EXTRA_KEYS = 32
MAX_BOX_VALUE = 4 * MAX_DIMENSION
# An event may carry a picture of what it is about (a tracked object's crop): small.
MAX_SNAPSHOT_BYTES = 512 * 1024
MAX_SNAPSHOT_SIDE = 1024
# seq starts at the capture worker's clock in ms and grows by under 1000 a
# second, so a real one is never far ahead of the clock. One that is (2**64-1,
# say) would make every real frame after it look out of order.
MAX_SEQ = 2**53 - 1  # also the largest integer a browser's JSON keeps exact
SEQ_AHEAD_OF_CLOCK_MS = 86_400_000  # a day: clocks of other hosts may be off, not by more


class MessageError(ValueError):
    """A message that cannot be used; the text is the dead-letter reason."""


# --- the values messages are made of ---------------------------------------------------

# Bounds refuse NaN and the infinities too (no comparison with them holds): a
# number from the wire is finite by its type.
FINITE_BOUND = sys.float_info.max
Finite = Annotated[float, Meta(ge=-FINITE_BOUND, le=FINITE_BOUND)]
Name = Annotated[str, Meta(min_length=1, max_length=64)]  # a label, a timing's, a detector's
Camera = Annotated[str, Meta(pattern=f"^{NAME_PATTERN.pattern}$")]
Seq = Annotated[int, Meta(ge=0, le=MAX_SEQ)]
Time = Annotated[float, Meta(ge=0, le=FINITE_BOUND)]  # seconds since the epoch
Dimension = Annotated[int, Meta(ge=1, le=MAX_DIMENSION)]
Count = Annotated[int, Meta(ge=0, le=MAX_SEQ)]
Timings = Annotated[dict[Name, Finite], Meta(max_length=MAX_EXTRA_KEYS * 4)]
Names = Annotated[list[Name], Meta(max_length=64)]
Number = int | Finite
Stamp = Annotated[int, Meta(ge=-(2**62), le=2**62)] | None  # a video packet's pts or dts
Rate = Annotated[int, Meta(ge=1, le=2**31 - 1)]
# What a detection's ``extra`` may hold: a short text, a number, a flag, nothing,
# or one list (up to a face mesh's 468 points) whose items may be short lists of
# numbers (a point, a box).
Point = Annotated[list[Number], Meta(max_length=4)]
Scalar = Annotated[str, Meta(max_length=4096)] | Number | bool | None
ExtraValue = Scalar | Annotated[list[Scalar | Point], Meta(max_length=1500)]
# A detection on the wire: a map, its values bounded while decoding, then held to ``Detection``.
Extra = Annotated[dict[Name, ExtraValue], Meta(max_length=MAX_EXTRA_KEYS)]
DetectionMap = Annotated[dict[Name, Scalar | list[Number] | Extra], Meta(max_length=8)]


class Detection(Struct, forbid_unknown_fields=True):
    """What a detection may be: small metadata that ends up in pages, logs and alarms.
    Detections travel and are handled as maps (``detectors.base.Detection.to_dict``);
    this is their schema, which ``check_detection`` holds each one to."""

    label: Name
    score: Finite = 1.0
    box: Annotated[list[Annotated[int, Meta(ge=-MAX_BOX_VALUE, le=MAX_BOX_VALUE)]],
                   Meta(min_length=4, max_length=4)] | None = None  # fmt: skip
    extra: Extra = {}
    # An occurrence (a blink, a fall) rather than a state seen in every frame.
    event: bool = False

    def check(self) -> None:
        if printable(self.label) != self.label:
            raise MessageError(f"detection label {printable(self.label)!r} has control characters")
        if self.box is not None and (self.box[2] < 0 or self.box[3] < 0):
            raise MessageError(f"detection {self.label!r}: a box's width and height are >= 0")


# --- the messages ------------------------------------------------------------------------


class Message(Struct, kw_only=True):
    """What every message carries: the wire's version (and, as its tag, its type)."""

    v: int = WIRE_VERSION

    def check(self, now: float) -> None:
        """The rules a type cannot say; run on every message unpacked."""


def _not_ahead(now: float, seq: int, stamp: float, name: str) -> None:
    """A seq or a time far ahead of every clock would outrank every real one after it."""
    if seq > now * 1000 + SEQ_AHEAD_OF_CLOCK_MS:
        raise MessageError(f"field 'seq' is implausible ({seq}: ahead of the clock)")
    if stamp > now + SEQ_AHEAD_OF_CLOCK_MS / 1000:
        raise MessageError(f"field {name!r} is implausible ({stamp}: ahead of the clock)")


class Captured(Message):
    """Which camera, which of its frames, when it was captured."""

    camera: Camera
    seq: Seq
    captured_at: Time

    def check(self, now: float) -> None:
        _not_ahead(now, self.seq, self.captured_at, "captured_at")


class Pictured(Captured):
    """And the picture itself."""

    width: Dimension
    height: Dimension
    data: Annotated[bytes, Meta(min_length=1, max_length=MAX_IMAGE_BYTES)]


class Frame(Pictured, tag_field="type", tag="frame"):
    """One camera picture on its way from capture to a detector."""

    encoding: Literal["jpeg", "raw"] = "jpeg"
    dtype: Literal["uint8", "uint16", "float32"] | None = None
    shape: Annotated[tuple[Dimension, ...], Meta(min_length=2, max_length=3)] | None = None
    timings: Timings = field(default_factory=dict)

    def check(self, now: float) -> None:
        super().check(now)
        if self.encoding != "raw":
            return
        if self.dtype is None or self.shape is None:
            raise MessageError("a raw frame needs its 'dtype' and 'shape'")
        if self.shape[:2] != (self.height, self.width):
            raise MessageError("raw shape does not match width and height")
        expected = math.prod(self.shape) * DTYPE_BYTES[self.dtype]
        if expected != len(self.data):
            raise MessageError(f"raw data holds {len(self.data)} bytes, shape needs {expected}")


class Result(Pictured, tag_field="type", tag="result"):
    """A detector's output for one frame: what it found and the annotated picture."""

    detections: Annotated[list[DetectionMap], Meta(max_length=MAX_DETECTIONS)]
    timings: Timings = field(default_factory=dict)
    worker: Annotated[str, Meta(max_length=128)] = ""  # the detector worker's id
    encoding: Literal["jpeg", "raw"] = "jpeg"
    # Which of the camera's detectors ran on this frame, and which were skipped
    # because the detector they wait for (``when``) found nothing.
    ran: Names = field(default_factory=list)
    skipped: Names = field(default_factory=list)
    overlay: bool = False  # detections not drawn into ``data``: the pages draw them over it

    def check(self, now: float) -> None:
        super().check(now)
        if self.encoding != "jpeg":
            raise MessageError(f"results must carry a jpeg image, got {self.encoding!r}")
        for detection in self.detections:
            check_detection(detection)
        self.worker = printable(self.worker)
        self.ran = [printable(name) for name in self.ran]
        self.skipped = [printable(name) for name in self.skipped]

    @classmethod
    def of_frame(
        cls, frame: Frame, worker: str, *, overlay: bool, data: bytes | None = None,
        detections: list[dict[str, Any]] | None = None, timings: dict[str, float] | None = None,
        ran: list[str] | None = None, skipped: list[str] | None = None,
    ) -> Result:  # fmt: skip
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


class Status(Message, tag_field="type", tag="status"):
    """A capture worker's heartbeat: is its source delivering pictures?"""

    camera: Camera
    state: Literal["live", "offline", "starting"]
    sent_at: Time
    reason: Annotated[str, Meta(max_length=64 * 1024)] = ""
    fps: Annotated[float, Meta(ge=0, le=10_000)] = 0.0
    frames_published: Count = 0
    frames_dropped: Count = 0
    # The share of its configured frames capture publishes: below 1 while it sheds load
    # because the machine is busy (a lower fps is not the camera's fault); unsaid, 1.
    share: Annotated[float, Meta(gt=0, le=1)] = 1.0

    def check(self, now: float) -> None:
        _not_ahead(now, 0, self.sent_at, "sent_at")
        self.reason = printable(self.reason, 500)


class Event(Captured, tag_field="type", tag="event"):
    """A detection event: small metadata for alarms and the recorder, without the
    frame; with ``snapshot``, a small JPEG of what it is about (a tracked object's crop)."""

    detection: DetectionMap
    snapshot: Annotated[bytes, Meta(max_length=MAX_SNAPSHOT_BYTES)] | None = None

    def check(self, now: float) -> None:
        super().check(now)
        check_detection(self.detection)
        if self.snapshot is None:
            return
        try:
            width, height = jpeg_size(self.snapshot)
        except JpegError as error:
            raise MessageError(f"event snapshot: {error}") from None
        if max(width, height) > MAX_SNAPSHOT_SIDE:
            raise MessageError(
                f"event snapshot of {width}x{height} is larger than {MAX_SNAPSHOT_SIDE} px a side"
            )


class Packet(Pictured, tag_field="type", tag="packet"):
    """A piece of a camera's footage as it came, for the footage recorder: one
    compressed video packet (``pts``, ``dts`` in ``time_base``; ``extradata``, the
    codec's setup, with each key packet), or one JPEG picture."""

    codec: Literal["h264", "hevc", "jpeg"]
    key: bool = False  # a picture that needs none before it: a segment may start here
    pts: Stamp = None
    dts: Stamp = None
    time_base: tuple[Rate, Rate] = (1, 1000)
    extradata: Annotated[bytes, Meta(max_length=64 * 1024)] = b""


# --- packing and unpacking ---------------------------------------------------------------

_encoder = msgspec.msgpack.Encoder()
M = TypeVar("M", bound=Message)


class _Envelope(Struct):
    """Read first: which version and type a message says it is, before its fields."""

    v: Any = None
    type: Any = None


@functools.cache  # a decoder per kind, made when first needed: a new message is declared once
def _decoder(kind: type) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(kind)


def pack(message: Message) -> bytes:
    """The message as msgpack bytes, its type and version with it."""
    return _encoder.encode(message)


def unpack(payload: bytes | bytearray | memoryview, kind: type[M], now: float | None = None) -> M:
    """Decode a message of ``kind`` and hold it to its declaration; MessageError on anything off."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise MessageError(f"payload must be bytes, got {type(payload).__name__}")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    expected = kind.__struct_config__.tag
    try:
        envelope = _decoder(_Envelope).decode(payload)
        if envelope.v != WIRE_VERSION:
            version = printable(repr(envelope.v), 40)
            raise MessageError(f"unsupported wire version {version} (expected {WIRE_VERSION})")
        if envelope.type not in (None, expected):
            said = printable(repr(envelope.type), 40)
            raise MessageError(f"expected a {expected} message, got {said}")
        message = _decoder(kind).decode(payload)
    except msgspec.ValidationError as error:
        raise MessageError(_reason(str(error))) from None
    except (msgspec.DecodeError, RecursionError) as error:
        raise MessageError(f"not valid msgpack: {error}"[:300]) from None
    message.check(time.time() if now is None else now)
    return message


def check_detection(detection: Any) -> dict[str, Any]:
    """Refuse a detection outside ``Detection``; return it unchanged when it fits.

    The detector worker checks what every detector (a plugin too) returns; the
    streamer and the events tail check what arrives from the wire."""
    try:
        msgspec.convert(detection, Detection).check()
    except msgspec.ValidationError as error:
        label = detection.get("label") if isinstance(detection, dict) else None
        where = f"detection {printable(label, 40)!r}" if isinstance(label, str) else "a detection"
        raise MessageError(f"{where}: {_reason(str(error))}") from None
    return detection


# --- wording -------------------------------------------------------------------------------

_KIND_WORDS = {"object": "a map", "array": "a list", "float": "a number", "null": "nil"}


def _kind(kinds: str) -> str:
    named = kinds.split(" | ")
    if "int" in named and "float" in named:
        named.remove("int")  # both are numbers to whoever reads the reason
    return " or ".join(_KIND_WORDS.get(kind, kind) for kind in named)


def _reason(text: str) -> str:
    """msgspec's account of a value that does not fit, in the words of this wire."""
    text, _, at = text.partition(" - at `")
    where = at.removesuffix("`").removeprefix("$").removeprefix(".")
    if where.startswith("key"):
        return "map keys must be short strings"
    subject = f"field {where!r}" if where else "message"
    if match := re.fullmatch(r"Expected `(.+?)`, got `(.+?)`", text):
        return f"{subject} must be {_kind(match[1])}, got {_kind(match[2]).removeprefix('a ')}"
    if match := re.fullmatch(r"Expected `(.+?)` (.+)", text):
        if match[1] == "float":  # NaN fails every bound: say what a number must be
            bound = "" if str(FINITE_BOUND) in match[2] else f" {match[2]}"
            return f"{subject} must be a finite number{bound}"
        rule = match[2].replace("matching regex", "match", 1)
        return f"{subject} must {rule}" if rule.startswith("match") else f"{subject} must be {rule}"
    if match := re.fullmatch(r"Object missing required field `(.+)`", text):
        return f"missing field {match[1]!r}" + (f" in {where}" if where else "")
    if match := re.fullmatch(r"Object contains unknown field `(.+)`", text):
        return f"unknown field {printable(match[1], 40)!r}" + (f" in {where}" if where else "")
    if match := re.fullmatch(r"Invalid enum value (.+)", text):
        return f"unknown {where or 'value'} {printable(match[1], 40)}"
    return printable(text, 300)
