import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.roles.sources import CapturedFrame, StreamSource, SyntheticSource, VideoSource
from testkit.mjpeg_camera import MjpegCamera
from testkit.processes import free_port, wait_for
from tests.conftest import make_config


def write_video(path: Path, frames: int = 12, fps: float = 30.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    assert writer.isOpened()
    for index in range(frames):
        image = np.full((120, 160, 3), index * 20 % 255, np.uint8)
        writer.write(image)
    writer.release()
    return path


def camera_for(source: str, tmp_path: Path, **extra):
    config = make_config(
        [{"id": "cam1", "source": source, "width": 320, "height": 240, **extra}],
        file=tmp_path / "site.toml",
    )
    return config.cameras[0]


def test_synthetic_frames_have_the_configured_size_and_change(tmp_path: Path):
    source = SyntheticSource(camera_for("synthetic", tmp_path))
    first = source.next_frame(1)
    second = source.next_frame(2)
    assert first.image.shape == (240, 320, 3)
    assert not np.array_equal(first.image, second.image)
    assert abs(first.captured_at - time.time()) < 1


def test_video_file_is_read_resized_and_looped(tmp_path: Path):
    write_video(tmp_path / "clip.avi", frames=6, fps=30)
    source = VideoSource(camera_for("clip.avi", tmp_path, fps=30))
    source.start()
    try:
        frames = []

        def collect():
            frame = source.next_frame(0)
            if frame is not None:
                frames.append(frame)
            return len(frames) >= 15

        # 15 frames from a 6-frame file at its own 30 fps: only possible if it loops.
        wait_for(collect, timeout=10, interval=0.005)
        assert source.state == "live"
        assert frames[0].image.shape == (240, 320, 3)
    finally:
        source.stop()


def test_next_frame_never_hands_out_the_same_picture_twice(tmp_path: Path):
    write_video(tmp_path / "clip.avi", frames=3, fps=2)
    source = VideoSource(camera_for("clip.avi", tmp_path, fps=2))
    source.start()
    try:
        wait_for(lambda: source.next_frame(0), timeout=5)
        started = time.monotonic()
        assert source.next_frame(0) is None  # the file gives a new frame only every 0.5 s
        assert time.monotonic() - started < 0.05
    finally:
        source.stop()


def test_unreachable_stream_is_offline_and_retried(tmp_path: Path):
    source = VideoSource(camera_for("rtsp://127.0.0.1:9/none", tmp_path))
    source.start()
    try:
        wait_for(lambda: source.state == "offline", timeout=15)
        assert "cannot open" in source.reason
        failures = source.backoff.failures
        wait_for(lambda: source.backoff.failures > failures, timeout=15)
        assert source.next_frame(0) is None
    finally:
        source.stop()


def test_frame_allowance_keeps_the_rate_and_lets_jitter_through():
    from pipeline.roles.capture import FrameAllowance

    allowance = FrameAllowance(fps=10.0, burst=2.0)
    start = allowance.at
    # A 10 fps camera whose pictures come 70 ms, then 130 ms apart: none is refused.
    arrivals = [start + 0.1 * i + (-0.03 if i % 2 else 0.03) for i in range(1, 101)]
    assert all(allowance.take(at) for at in arrivals)
    # A 30 fps camera into a 10 fps camera config: a third of its pictures go.
    fast = FrameAllowance(fps=10.0, burst=2.0)
    begin = fast.at
    taken = sum(fast.take(begin + i / 30) for i in range(1, 301))
    assert 100 <= taken <= 103
    assert fast.wait_s(begin + 10.0) > 0


# Blue, green, red and grey bands (BGR), as a decoder must give them back.
BANDS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)]


def write_bands(path: Path, codec: str, pixel_format: str) -> Path:
    image = np.zeros((240, 320, 3), np.uint8)
    for index, colour in enumerate(BANDS):
        image[:, index * 80 : (index + 1) * 80] = colour
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, pixel_format
        # Key frames often and longer than FFmpeg's one-second probe, which a live
        # source's reader skips (``nobuffer``), as cameras send them.
        stream.codec_context.gop_size = 5
        for _ in range(40):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format=pixel_format)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize(
    "codec, pixel_format",
    # H.264 as cameras send it (limited range), and JPEG (full range), as RTP/JPEG
    [("libx264", "yuv420p"), ("mjpeg", "yuvj420p")],
)
@pytest.mark.parametrize("drawn_on", [False, True])
def test_a_decoded_stream_keeps_its_colours(tmp_path: Path, codec, pixel_format, drawn_on):
    """Pictures kept as YUV planes (nothing drawn on them) and pictures turned into
    pixels (a direct camera's banner) both come out of the JPEG in their colours, at
    the configured size."""
    write_bands(tmp_path / "bands.mkv", codec, pixel_format)
    extra = {} if drawn_on else {"detectors": ["motion"]}
    camera = camera_for("bands.mkv", tmp_path, width=160, height=120, **extra)
    source = StreamSource(camera)
    source.start()
    try:
        frame = wait_for(lambda: source.next_frame(0), timeout=10, interval=0.01)
    finally:
        source.stop()
    assert (frame.image is not None) == drawn_on
    assert frame.size == (160, 120)
    picture = cv2.imdecode(np.frombuffer(frame.jpeg(95), np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (120, 160, 3)
    for index, colour in enumerate(BANDS):
        middle = picture[40:80, index * 40 + 12 : index * 40 + 28].reshape(-1, 3).mean(axis=0)
        assert np.abs(middle - colour).max() < 12, (index, middle, colour)


def test_planes_the_encoder_refuses_give_no_jpeg_and_no_crash():
    """A frame whose planes do not add up to I420 is refused (capture counts it as
    an encode failure and goes on)."""
    broken = CapturedFrame(None, time.time(), np.zeros((7, 10), np.uint8))
    assert broken.jpeg(80) is None


def test_an_mjpeg_camera_s_jpegs_of_the_camera_s_size_are_published_as_they_came(tmp_path):
    """Nothing decoded, nothing re-encoded: the camera's own bytes, at no cost."""
    camera_server = MjpegCamera(free_port(), fps=20)
    camera_server.start()
    sent = {camera_server.frame(number) for number in range(200)}
    sources = {
        size: StreamSource(
            camera_for(
                camera_server.url, tmp_path, width=size[0], height=size[1], detectors=["motion"]
            )
        )
        for size in ((320, 240), (160, 120))
    }
    try:
        for source in sources.values():
            source.start()
        kept = wait_for(lambda: sources[(320, 240)].next_frame(0), timeout=15)
        assert kept.encoded is not None and kept.size == (320, 240)
        assert kept.jpeg(80) in sent, "the camera's own bytes"
        # Another size: decoded, scaled, encoded anew.
        scaled = wait_for(lambda: sources[(160, 120)].next_frame(0), timeout=15)
        assert scaled.encoded is None and scaled.size == (160, 120)
        picture = cv2.imdecode(np.frombuffer(scaled.jpeg(80), np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (120, 160, 3)
    finally:
        for source in sources.values():
            source.stop()
        camera_server.stop()


def test_a_camera_that_capture_draws_on_is_decoded_even_at_its_size(tmp_path):
    camera_server = MjpegCamera(free_port(), fps=20)
    camera_server.start()
    camera = camera_for(camera_server.url, tmp_path, direct=True, annotate=True)
    assert camera.direct and camera.drawing == "picture"
    source = StreamSource(camera)
    try:
        source.start()
        frame = wait_for(lambda: source.next_frame(0), timeout=15)
        assert frame.encoded is None and frame.image is not None  # pixels to draw the banner on
    finally:
        source.stop()
        camera_server.stop()
