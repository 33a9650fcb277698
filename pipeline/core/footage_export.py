"""A range of kept footage as one MP4: the segments' packets copied, not re-encoded.

It starts at the key picture at or before the range's start (a picture needs
those since its key picture) and ends at the range's end; each segment's
packets keep their place in time, so a gap in the footage is a jump in the
file's clock, not footage that plays too soon. Only segments of the first
one's codec and size go in (a camera changed mid-range: the rest is its own
export).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av

from pipeline.core.footage_store import Segment

MAX_EXPORT_S = 3600.0


class ExportError(ValueError):
    """Nothing that can be exported in the range."""


def export_range(
    segments: list[Segment], open_segment: Callable[[Segment], BinaryIO | None],
    since: float, until: float, out: Path,
) -> int:  # fmt: skip
    """Write the footage of ``segments`` (time order) from ``since`` to ``until`` into
    ``out``; how many pictures it holds. ExportError if none."""
    written = 0
    output: av.container.OutputContainer | None = None
    stream = None
    first: Segment | None = None
    last_dts: int | None = None
    try:
        for segment in segments:
            if first is not None and (segment.codec, segment.width, segment.height) != (
                first.codec, first.width, first.height,
            ):  # fmt: skip
                continue
            handle = open_segment(segment)
            if handle is None:
                continue
            with handle, av.open(handle, mode="r", format="mp4") as source:
                video = source.streams.video[0]
                if output is None:
                    first = segment
                    output = av.open(str(out), mode="w", format="mp4",
                                     options={"movflags": "+faststart"})  # fmt: skip
                    stream = output.add_stream_from_template(video)
                    stream.time_base = video.time_base
                out_base = stream.time_base
                shift = Fraction(segment.started_at - first.started_at).limit_denominator(1000)
                for packet in _packets_in(source, video, segment, since, until):
                    in_base = packet.time_base
                    pts = round((packet.pts * in_base + shift) / out_base)
                    dts = round(((packet.dts if packet.dts is not None else packet.pts)
                                 * in_base + shift) / out_base)  # fmt: skip
                    if last_dts is not None and dts <= last_dts:
                        dts = last_dts + 1
                        pts = max(pts, dts)
                    packet.stream = stream
                    packet.time_base = out_base
                    packet.pts, packet.dts = pts, dts
                    output.mux(packet)
                    last_dts = dts
                    written += 1
    finally:
        if output is not None:
            with contextlib.suppress(av.error.FFmpegError):
                output.close()
    if written == 0:
        raise ExportError("no footage in that range")
    return written


def _packets_in(source, video, segment: Segment, since: float, until: float):
    """The segment's packets from the last key picture at or before ``since`` (any
    segment after the first starts at one) up to ``until``."""
    held: list = []
    started = False
    for packet in source.demux(video):
        if packet.size == 0 or packet.pts is None:
            continue
        at = segment.started_at + float(packet.pts * packet.time_base)
        if at > until:
            break
        if started:
            yield packet
            continue
        if packet.is_keyframe:
            held = []
        held.append(packet)
        if at >= since:
            started = True
            yield from held
            held = []
