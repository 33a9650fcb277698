"""Reading a JPEG's own dimensions from its header, before anything is decoded.

A JPEG states its size in its SOF (start of frame) segment. A decoder
allocates what that header claims: a 734-byte message whose header says
8000x8000 costs half a gigabyte and most of a second to decode, and one that
says 30000x30000 asks for 2.7 GB. So every JPEG from the wire is measured
here first, by walking its segment headers (a few dozen bytes read, nothing
allocated), and refused when its size is not the one its envelope declares.
"""

from __future__ import annotations


class JpegError(ValueError):
    """Picture data that is not a JPEG of the size it claims; the text says why."""


# Start-of-frame markers of every coding process (baseline, progressive,
# lossless, arithmetic); C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
# Markers that stand alone, with no length after them.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_START_OF_SCAN = 0xDA
_MAX_SEGMENTS = 256  # a real header has a dozen; more is a file built to make us walk


def jpeg_size(data: bytes | memoryview) -> tuple[int, int]:
    """(width, height) from the JPEG's SOF segment; JpegError if it has none."""
    view = memoryview(data)
    if len(view) < 4 or view[0] != 0xFF or view[1] != 0xD8:
        raise JpegError("image data is not a decodable JPEG (no SOI marker)")
    at = 2
    for _ in range(_MAX_SEGMENTS):
        # A marker is 0xFF, optional 0xFF fill bytes, then its code.
        if at >= len(view):
            break
        if view[at] != 0xFF:
            raise JpegError("JPEG header is malformed (expected a marker)")
        while at < len(view) and view[at] == 0xFF:
            at += 1
        if at >= len(view):
            break
        marker = view[at]
        at += 1
        if marker in _STANDALONE:
            continue
        if at + 2 > len(view):
            break
        length = view[at] << 8 | view[at + 1]
        if length < 2:
            raise JpegError("JPEG header is malformed (segment length < 2)")
        if marker in _SOF_MARKERS:
            if at + 7 > len(view):
                break
            height = view[at + 3] << 8 | view[at + 4]
            width = view[at + 5] << 8 | view[at + 6]
            if width == 0 or height == 0:
                raise JpegError("JPEG header declares no size")
            return width, height
        if marker == _START_OF_SCAN:
            raise JpegError("JPEG has image data before its size (no SOF marker)")
        at += length
    raise JpegError("JPEG header is truncated or too long (no SOF marker found)")


def check_jpeg_size(data: bytes, width: int, height: int) -> None:
    """Refuse a JPEG whose own header disagrees with the size its envelope declares."""
    actual = jpeg_size(data)
    if actual != (width, height):
        raise JpegError(
            f"JPEG header says {actual[0]}x{actual[1]}, the message says {width}x{height}"
        )
