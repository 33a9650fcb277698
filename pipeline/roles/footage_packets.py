"""A camera's compressed packets, taken as they came, for the footage recorder.

A network camera that sends H.264 or H.265 has already paid for compressing
its pictures: its packets are kept as they are (no decode, no re-encode) and
travel to the recorder on the camera's footage stream. The reader thread of the
camera hands each packet to a ``FootageBacklog``; capture's own thread, the one
that holds the broker connection, takes them from there and publishes them.

Packets travel in Annex B form (start codes, the codec's setup before each key
picture), whatever the container said: a camera read from an MP4 or an RTSP
session both give packets that a segment can start with at any key picture.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from pipeline.core.logs import Throttled
from pipeline.core.messages import Packet

LOGGER = logging.getLogger(__name__)

COPIED_CODECS = {"h264": "h264", "hevc": "hevc"}
# What may wait for capture's thread: a few seconds of a 4K camera. Past it, packets
# are dropped up to the next key picture (one without those before it is useless).
MOST_WAITING_BYTES = 64 * 1024 * 1024


class FootageBacklog:
    """Packets between a camera's reader thread and capture's thread, bounded."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self._packets: deque[Packet] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._skipping = False  # dropped one: dropping until the next key picture
        self.dropped = 0
        self.drops = Throttled(LOGGER)

    def put(self, packet: Packet) -> None:
        with self._lock:
            if self._skipping and not packet.key:
                self.dropped += 1
                return
            if self._bytes + len(packet.data) > MOST_WAITING_BYTES:
                self._skipping = True
                self.dropped += 1
                self.drops.warning(
                    "camera %s: footage waits for the broker; dropping it to the next key picture",
                    self.camera_id, camera=self.camera_id,
                )  # fmt: skip
                return
            self._skipping = False
            self._packets.append(packet)
            self._bytes += len(packet.data)

    def take(self) -> list[Packet]:
        """Everything waiting, oldest first."""
        with self._lock:
            taken = list(self._packets)
            self._packets.clear()
            self._bytes = 0
        return taken

    def interrupt(self) -> None:
        """The camera's stream broke off: what follows starts at a key picture."""
        with self._lock:
            self._skipping = True


class PacketCopier:
    """Turns one demuxed video stream's packets into ``Packet`` messages."""

    def __init__(self, stream: Any, camera_id: str) -> None:
        from av.bitstream import BitStreamFilterContext

        context = stream.codec_context
        self.codec = COPIED_CODECS[context.name]
        self.camera_id = camera_id
        self.width, self.height = context.width, context.height
        self.time_base = (stream.time_base.numerator, stream.time_base.denominator)
        extradata = bytes(context.extradata or b"")
        self.filter = None
        self.extradata = b""
        if extradata[:1] == b"\x01":
            # An MP4's (avcC / hvcC): packets are length-prefixed; the filter makes
            # them Annex B and puts the setup in front of each key picture.
            self.filter = BitStreamFilterContext(f"{self.codec}_mp4toannexb", stream)
        else:
            self.extradata = extradata[: 64 * 1024]  # RTSP's: already Annex B

    def packets(self, packet: Any, captured_at: float) -> list[Packet]:
        if packet.size == 0:
            return []
        filtered = self.filter.filter(packet) if self.filter is not None else [packet]
        return [
            Packet(
                camera=self.camera_id,
                seq=0,
                captured_at=captured_at,
                codec=self.codec,
                width=self.width,
                height=self.height,
                data=bytes(each),
                key=each.is_keyframe,
                pts=each.pts,
                dts=each.dts,
                time_base=self.time_base,
                extradata=self.extradata if each.is_keyframe else b"",
            )
            for each in filtered
            if each.size
        ]
