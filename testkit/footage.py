"""Real H.264 for the footage tests: a file x264 makes, and its packets as capture
publishes them."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.core.messages import Packet
from pipeline.roles.footage_packets import PacketCopier

FPS = 10


def h264_file(
    path: Path, seconds: float, size: tuple[int, int] = (160, 120), gop: int = 20
) -> Path:
    """A real H.264 MP4 (length-prefixed packets, avcC setup), as a camera file would be."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast",
                                                                     "g": str(gop)})  # fmt: skip
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for index in range(round(seconds * FPS)):
            picture = np.full((size[1], size[0], 3), (index * 7) % 255, np.uint8)
            cv2.putText(picture, str(index), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255,) * 3)
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def camera_packets(
    path: Path, start: float = 1_700_000_000.0, camera: str = "porch"
) -> list[Packet]:
    """The file's packets as capture publishes them for ``camera`` (Annex B, timed as
    they came from ``start``)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        copier = PacketCopier(stream, camera)
        packets = []
        for packet in container.demux(stream):
            at = start + (float(packet.pts * packet.time_base) if packet.pts is not None else 0)
            packets += copier.packets(packet, at)
    return packets
