"""Footage segments: a camera's packets into fragmented MP4 files of about
``[record] segment_s`` each, every one starting at a key picture.

Two kinds, by what the camera sends:

- **copied**: an H.264 or H.265 camera's own packets, muxed as they came (no
  decode, no re-encode: ``python -m benchmarks.footage`` measures the cost
  against decoding the same stream). Their timestamps are the camera's own,
  moved to start at zero.
- **compressed**: JPEG pictures (synthetic and MJPEG cameras, files), encoded
  once by x264 ``veryfast`` (docs/benchmarks.md, "Keeping footage": the disk,
  not the CPU, decides for these), timed by their capture times.

Fragmented MP4 (``frag_keyframe``): the file is playable up to its last whole
fragment, and browsers play it as any MP4.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path

import av

from pipeline.core.eventstore import create_new
from pipeline.core.messages import Packet
from pipeline.roles.clips import ClipWriter

FRAGMENTED = "+frag_keyframe+empty_moov+delay_moov+default_base_moof"
FOOTAGE_CRF = 23
# A picture's length when a segment has only one, or the camera's clock says none.
DEFAULT_PICTURE_S = 0.1


class SegmentWriter:
    """One segment being written to ``path`` (a scratch file) from its first packet, a
    key picture. ``fits`` says whether a packet belongs in it; ``finish`` syncs it."""

    def __init__(self, path: Path, first: Packet) -> None:
        if not first.key:
            raise ValueError("a segment starts at a key picture")
        self.path = path
        self.codec, self.width, self.height = first.codec, first.width, first.height
        self.extradata = first.extradata
        self.started_at = first.captured_at
        self.copied = first.codec != "jpeg"
        self.pictures = 0
        self.last_captured_at = first.captured_at
        self.clip: ClipWriter | None = None
        self.container: av.container.OutputContainer | None = None
        if self.copied:
            os.close(create_new(path))
            self.container = av.open(
                str(path), mode="w", format="mp4", options={"movflags": FRAGMENTED}
            )
            self.stream = self.container.add_mux_stream(
                first.codec, width=first.width, height=first.height
            )
            self.time_base = Fraction(*first.time_base)
            self.stream.time_base = self.time_base
            self.base = _decoding_time(first)
            self.last_dts: int | None = None
            self.end_pts = 0
        else:
            self.clip = ClipWriter(path, movflags=FRAGMENTED, crf=FOOTAGE_CRF)

    def fits(self, packet: Packet) -> bool:
        """Whether ``packet`` may go in this segment: same codec, size and setup, and
        (copied) its decoding time after the last one (not a restarted camera)."""
        if (packet.codec, packet.width, packet.height) != (self.codec, self.width, self.height):
            return False
        if not self.copied:
            return True
        if packet.key and packet.extradata and packet.extradata != self.extradata:
            return False
        return self.last_dts is None or _decoding_time(packet) > self.last_dts

    def add(self, packet: Packet) -> bool:
        """Write one packet; False if it could not be used (an undecodable JPEG)."""
        if not self.copied:
            assert self.clip is not None
            if not self.clip.add(packet.data, packet.captured_at):
                return False
        else:
            data = packet.data
            if self.pictures == 0 and self.extradata:
                data = self.extradata + data  # the codec's setup ahead of the first picture
            dts = _decoding_time(packet)
            pts = packet.pts if packet.pts is not None else dts
            out = av.Packet(data)
            out.stream = self.stream
            out.time_base = self.time_base
            out.pts, out.dts = pts - self.base, dts - self.base
            out.is_keyframe = packet.key
            assert self.container is not None
            self.container.mux(out)
            self.last_dts = dts
            self.end_pts = max(self.end_pts, pts - self.base)
        self.pictures += 1
        self.last_captured_at = packet.captured_at
        return True

    def seconds_to(self, packet: Packet) -> float:
        """How far into the segment ``packet`` would start."""
        if self.copied:
            return float((_decoding_time(packet) - self.base) * self.time_base)
        return packet.captured_at - self.started_at

    def seconds(self) -> float:
        """How long the segment plays so far."""
        if self.copied:
            return float(self.end_pts * self.time_base)
        return self.last_captured_at - self.started_at

    def ended_at(self) -> float:
        """The end of its last picture: that picture's start plus a picture's length."""
        picture_s = self.seconds() / (self.pictures - 1) if self.pictures > 1 else 0.0
        if not 0 < picture_s < 5:
            picture_s = DEFAULT_PICTURE_S
        return self.started_at + self.seconds() + picture_s

    def finish(self) -> int:
        """Close the file and sync it to disk; its size in bytes."""
        if self.clip is not None:
            self.clip.close()
        elif self.container is not None:
            self.container.close()
            self.container = None
        with open(self.path, "rb") as handle:
            os.fsync(handle.fileno())
            return os.fstat(handle.fileno()).st_size

    def abandon(self) -> None:
        """Stop without finishing, and remove the file."""
        if self.clip is not None:
            self.clip.abandon()
        elif self.container is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                self.container.close()
            self.container = None
        self.path.unlink(missing_ok=True)


def _decoding_time(packet: Packet) -> int:
    if packet.dts is not None:
        return packet.dts
    if packet.pts is not None:
        return packet.pts
    return round(packet.captured_at / Fraction(*packet.time_base))
