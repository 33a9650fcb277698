"""What keeping footage would cost a camera, each way measured beside its floor.

    python -m benchmarks.footage [--frames 300] [--fps 15] [--repeats 3]

Two clips of 640x480: the synthetic camera's scene and OpenCV's pedestrian clip
(real footage; ``scripts/fetch-test-media.sh`` caches it). For pictures that
arrive as JPEG (the synthetic camera, MJPEG cameras) it times, per frame:

- the floor: what capture already does (the picture drawn or read, then
  encoded as JPEG);
- ``mjpeg``: the JPEGs muxed as they are into a Matroska file (no encoding);
- ``x264``: each JPEG decoded and encoded again as H.264 (libx264 ``veryfast``,
  CRF 23, a keyframe every 2 s) into a fragmented MP4; ``x264-uf`` the same at
  ``ultrafast``.

``recorder`` is the footage recorder's own code on those JPEGs (``SegmentWriter``:
x264 ``veryfast`` CRF 23 into fragmented MP4 segments).

For a camera that already sends H.264 (the ``x264`` file above, as a camera would
send it) it times, per packet, the footage recorder's own code: ``taken``, what
capture adds (each packet taken as it came and packed for the wire), and
``copied``, what the recorder does (unpacked, muxed into segments, each synced),
both against ``decode``: what capture does with those packets anyway (decoded and
scaled while YUV, as ``StreamSource`` does).

CPU time of the process, every thread (medians of ``--repeats``), and megabytes an hour at
``--fps``. The libraries are PyAV's own FFmpeg (libx264 included) and OpenCV.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from pipeline.core.camera_config import CameraConfig, SourceSpec
from pipeline.core.media import media_file
from pipeline.core.messages import Packet, pack, unpack
from pipeline.roles.footage_packets import PacketCopier
from pipeline.roles.segments import SegmentWriter
from pipeline.roles.sources import SyntheticSource

JPEG_QUALITY = 80
# Fragmented MP4: playable while written, and a crash loses one fragment at most.
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
SIZE = (640, 480)


def synthetic_pictures(frames: int) -> Iterator[np.ndarray]:
    source = SyntheticSource(CameraConfig(id="c1", source=SourceSpec("synthetic", "")))
    for n in range(frames):
        yield source.render(1_795_000_000_000 + n, 1_700_000_000 + n / 15)


def clip_pictures(frames: int) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(media_file("vtest.avi")))
    try:
        for _ in range(frames):
            ok, picture = capture.read()
            if not ok:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, picture = capture.read()
            yield cv2.resize(picture, SIZE)
    finally:
        capture.release()


def cpu_ms_per_item(work: Callable[[], int], repeats: int) -> float:
    """Median CPU milliseconds of the process (FFmpeg and libx264 work on threads of
    their own) per item ``work`` reports doing."""
    runs = []
    for _ in range(repeats):
        started = time.process_time()
        items = work()
        runs.append((time.process_time() - started) * 1000 / items)
    return statistics.median(runs)


def floor(pictures: list[np.ndarray]) -> int:
    for picture in pictures:
        cv2.imencode(".jpg", picture.copy(), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return len(pictures)


def mjpeg(jpegs: list[bytes], fps: int, out: io.BytesIO) -> int:
    with av.open(out, "w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=fps)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuvj420p"
        stream.time_base = Fraction(1, fps)
        for n, jpeg in enumerate(jpegs):
            packet = av.Packet(jpeg)
            packet.stream, packet.pts, packet.dts = stream, n, n
            packet.time_base = stream.time_base
            container.mux(packet)
    return len(jpegs)


def x264(jpegs: list[bytes], fps: int, out: io.BytesIO, preset: str = "veryfast") -> int:
    with av.open(out, "w", format="mp4", options=FRAGMENTED) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": preset, "crf": "23", "g": str(2 * fps)}
        for n, jpeg in enumerate(jpegs):
            picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts = n
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return len(jpegs)


def camera_side(h264: bytes) -> list[bytes]:
    """What capture adds for a footage camera that sends H.264: each packet demuxed
    taken as it came (``PacketCopier``) and packed for the wire; the messages."""
    with av.open(io.BytesIO(h264)) as source:
        stream = source.streams.video[0]
        copier = PacketCopier(stream, "c1")
        return [pack(piece) for packet in source.demux(stream)
                for piece in copier.packets(packet, time.time())]  # fmt: skip


def recorder_side(messages: list[bytes], folder: Path, segment_s: float = 10.0) -> int:
    """What the footage recorder does with them: unpacked, written into segments
    (``SegmentWriter``), a segment finished and synced every ``segment_s``."""
    writer, count = None, 0
    for body in messages:
        packet = unpack(body, Packet)
        if writer is not None and packet.key and writer.seconds_to(packet) >= segment_s:
            writer.finish()
            writer = None
        if writer is None:
            count += 1
            writer = SegmentWriter(folder / f"{count}.mp4", packet)
        writer.add(packet)
    if writer is not None:
        writer.finish()
    return len(messages)


def recorder_jpeg(jpegs: list[bytes], fps: int, folder: Path) -> int:
    """The recorder's work for a JPEG camera: each picture into a ``SegmentWriter``
    (decoded and compressed once by x264 ``veryfast``)."""
    messages = [pack(Packet(camera="c1", seq=n, captured_at=1.7e9 + n / fps, codec="jpeg",
                            width=SIZE[0], height=SIZE[1], data=jpeg, key=True))
                for n, jpeg in enumerate(jpegs)]  # fmt: skip
    return recorder_side(messages, folder)


def decode_h264(h264: bytes) -> int:
    """What capture does with an H.264 camera's packets anyway: decoded and scaled to
    the camera's size while still YUV, as ``StreamSource`` does."""
    frames = 0
    scaler = VideoReformatter()
    with av.open(io.BytesIO(h264)) as source:
        stream = source.streams.video[0]
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = 1
        for frame in source.decode(stream):
            scaler.reformat(frame, SIZE[0], SIZE[1], "yuv420p", interpolation="BILINEAR",
                            dst_color_range="JPEG", threads=1).to_ndarray()  # fmt: skip
            frames += 1
    return frames


def _written(
    write: Callable[[list[bytes], int, io.BytesIO], int],
    jpegs: list[bytes], fps: int, outputs: dict[str, io.BytesIO], way: str,
) -> int:  # fmt: skip
    outputs[way] = io.BytesIO()  # the last run's file, to weigh
    return write(jpegs, fps, outputs[way])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    hour = 3600 * args.fps
    print(f"{args.frames} frames of {SIZE[0]}x{SIZE[1]}, {args.repeats} runs, CPU ms a frame; "
          f"MB an hour at {args.fps} fps")  # fmt: skip
    print(f"{'clip':10} {'way':8} {'ms/frame':>9} {'x floor':>8} {'MB/hour':>8}")
    for name, pictures in (("synthetic", synthetic_pictures), ("pedestrians", clip_pictures)):
        frames = list(pictures(args.frames))
        jpegs = [cv2.imencode(".jpg", p, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
                 for p in frames]  # fmt: skip
        floor_ms = cpu_ms_per_item(lambda: floor(frames), args.repeats)  # noqa: B023
        print(f"{name:10} {'floor':8} {floor_ms:9.2f} {1.0:8.2f} "
              f"{sum(map(len, jpegs)) / len(jpegs) * hour / 1e6:8.0f}")  # fmt: skip
        outputs: dict[str, io.BytesIO] = {}
        for way, write in (
            ("mjpeg", mjpeg), ("x264", x264), ("x264-uf", partial(x264, preset="ultrafast"))
        ):  # fmt: skip
            run = partial(_written, write, jpegs, args.fps, outputs, way)
            ms = cpu_ms_per_item(run, args.repeats)
            size = len(outputs[way].getvalue()) / len(jpegs) * hour / 1e6
            print(f"{name:10} {way:8} {ms:9.2f} {ms / floor_ms:8.2f} {size:8.0f}")
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            ms = cpu_ms_per_item(lambda: recorder_jpeg(jpegs, args.fps, folder), args.repeats)  # noqa: B023
            size = sum(f.stat().st_size for f in folder.glob("*.mp4")) / len(jpegs) * hour / 1e6
            print(f"{name:10} {'recorder':8} {ms:9.2f} {ms / floor_ms:8.2f} {size:8.0f} "
                  "(the footage recorder, JPEG camera)")  # fmt: skip
        h264 = outputs["x264"].getvalue()
        decode_ms = cpu_ms_per_item(lambda: decode_h264(h264), args.repeats)  # noqa: B023
        print(f"{name:10} {'decode':8} {decode_ms:9.2f} {'':8} (an H.264 camera: capture's work)")
        taken_ms = cpu_ms_per_item(lambda: len(camera_side(h264)), args.repeats)  # noqa: B023
        messages = camera_side(h264)
        with tempfile.TemporaryDirectory() as scratch:
            run = partial(recorder_side, messages, Path(scratch))
            record_ms = cpu_ms_per_item(run, args.repeats)
        print(f"{name:10} {'taken':8} {taken_ms:9.3f} {taken_ms / decode_ms:8.3f} "
              "(x decode: what capture adds to send the packets)")  # fmt: skip
        print(f"{name:10} {'copied':8} {record_ms:9.3f} {record_ms / decode_ms:8.3f} "
              "(x decode: the footage recorder's work)")  # fmt: skip


if __name__ == "__main__":
    main()
