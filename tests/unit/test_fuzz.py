"""The unpacker never trusts its input: whatever bytes arrive, it returns a valid
message or raises MessageError — never anything else, never a crash."""

from __future__ import annotations

import contextlib

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.messages import Event, Frame, MessageError, Result, Status, pack, unpack

KINDS = (Frame, Result, Status, Event)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=64)
)
msgpack_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


def only_message_errors(payload: bytes) -> None:
    for kind in KINDS:
        with contextlib.suppress(MessageError):  # the one error allowed
            unpack(payload, kind)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes(payload: bytes) -> None:
    only_message_errors(payload)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(msgpack_values)
def test_any_msgpack_document(value) -> None:
    only_message_errors(msgpack.packb(value, use_bin_type=True))


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(
            ["v", "type", "camera", "seq", "captured_at", "width", "height", "encoding",
             "data", "dtype", "shape", "timings", "detections", "worker", "state", "sent_at"]
        ),
        msgpack_values,
        max_size=12,
    )
)  # fmt: skip
def test_envelopes_with_wrong_fields(body: dict) -> None:
    only_message_errors(msgpack.packb({"v": 1, **body}, use_bin_type=True))


@given(st.integers(min_value=0, max_value=200), st.binary(min_size=1, max_size=1))
def test_every_truncation_and_corruption_of_a_valid_frame(cut: int, byte: bytes) -> None:
    payload = pack(Frame("cam1", 5, 1.5, 4, 2, b"\xff\xd8" + b"x" * 100))
    only_message_errors(payload[:cut])
    position = cut % len(payload)
    only_message_errors(payload[:position] + byte + payload[position + 1 :])
