"""A JPEG whose header claims a huge picture is refused before anything is decoded.

A decoder allocates what a JPEG's header claims: a message of under a kilobyte
claiming 8000x8000 used to cost half a gigabyte and most of a second per
frame, and 30000x30000 tried to allocate 2.7 GB. The size is now read from the
header itself (SOF marker) and checked against the envelope and the camera's
configured size first; OpenCV's own pixel cap stands behind that.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.core.jpeg import JpegError, check_jpeg_size, jpeg_size
from pipeline.core.messages import Frame, Result, pack, unpack
from pipeline.roles.detect import DetectorWorker
from pipeline.roles.sources import StreamSource
from testkit.mjpeg_camera import MjpegCamera
from testkit.processes import free_port, wait_for
from tests.conftest import make_config
from tests.integration.conftest import wait_for_consumers
from tests.security.conftest import PHOTO, claim_size, photo_jpeg


def encode(image: np.ndarray, *flags: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, list(flags))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(("width", "height"), [(640, 480), (1, 1), (1920, 1080), (333, 777)])
def test_size_is_read_from_real_jpegs(width, height):
    assert jpeg_size(photo_jpeg(width, height)) == (width, height)


def test_size_of_progressive_greyscale_and_restart_marker_jpegs():
    image = cv2.resize(cv2.imdecode(np.frombuffer(PHOTO, np.uint8), cv2.IMREAD_COLOR), (320, 200))
    assert jpeg_size(encode(image, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)) == (320, 200)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert jpeg_size(encode(grey)) == (320, 200)
    assert jpeg_size(encode(image, cv2.IMWRITE_JPEG_RST_INTERVAL, 4)) == (320, 200)


@pytest.mark.parametrize(("width", "height"), [(8000, 8000), (30000, 30000), (65535, 65535)])
def test_a_forged_header_is_refused_without_decoding(width, height):
    bomb = claim_size(PHOTO, width, height)
    assert len(bomb) == len(PHOTO)
    assert jpeg_size(bomb) == (width, height)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(JpegError, match=f"JPEG header says {width}x{height}"):
        check_jpeg_size(bomb, 640, 480)
    assert time.perf_counter() - started < 0.05  # read a header, decoded nothing
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 10_000  # KiB


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no SOI marker"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "no SOI marker"),
        (PHOTO[:20], "truncated"),
        (b"\xff\xd8\xff\xda\x00\x08" + bytes(8), "before its size"),
        (b"\xff\xd8" + b"\xff\xe0\x00\x02" * 300, "too long"),
        (b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x10", "declares no size"),
        (b"\xff\xd8\xff\xe0\x00\x01", "segment length"),
        (b"\xff\xd8\x00\x00", "expected a marker"),
    ],
)
def test_malformed_headers_are_refused(data, reason):
    with pytest.raises(JpegError, match=reason):
        jpeg_size(data)


def test_detector_worker_dead_letters_bombs_and_keeps_working(broker_url, namespace, roles):
    """On the real broker: bombs of every shape go to the dead-letter queue with the
    reason; the worker's memory does not jump, and the next real frame is served."""
    import pika

    from pipeline.core.topology import Topology
    from tests.security.conftest import Publisher

    config = make_config(
        [{"id": "cam1", "source": "synthetic", "detectors": ["motion"], "max_age_ms": 60_000}],
        namespace=namespace,
    )
    worker = DetectorWorker(config, list(config.cameras), roles.stop, worker_id="bombed")
    roles.start(worker.run, "detect")
    publisher = Publisher(broker_url, namespace)
    topology = Topology(namespace)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    wait_for_consumers(connection, topology.frame_queue("cam1"))
    results = publisher.channel.queue_declare("", exclusive=True).method.queue
    publisher.channel.queue_bind(results, topology.results_exchange, "cam1")

    def send(data: bytes, width: int = 640, height: int = 480, seq: int = 1) -> None:
        frame = Frame("cam1", seq, time.time(), width, height, data)
        publisher.raw(topology.frames_exchange, "cam1", pack(frame))

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bombs = [
        (claim_size(PHOTO, 8000, 8000), 640, 480),  # header disagrees with the envelope
        (claim_size(PHOTO, 8000, 8000), 8000, 8000),  # both lie: over the camera's size
        (b"GIF89a" + PHOTO[6:], 640, 480),  # not a JPEG at all
    ]
    reasons = []
    for data, width, height in bombs:
        send(data, width, height)
        reasons += wait_for(publisher.dead_letters, timeout=10)
    send(PHOTO, seq=2)
    method = wait_for(
        lambda: publisher.channel.basic_get(results, auto_ack=True)[0] and True, timeout=10
    )
    assert method
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    connection.close()
    publisher.close()
    text = " | ".join(reason for _, reason in reasons)
    assert "JPEG header says 8000x8000" in text, text
    assert "larger than the camera's configured 640x480" in text, text
    assert "not a decodable JPEG (no SOI marker)" in text, text
    assert worker.counters.rejected == 3 and worker.counters.processed == 1
    assert rss_after - rss_before < 100_000, "decoding a bomb would cost 450 MB and more"  # KiB


def test_streamer_refuses_results_carrying_a_bomb(make_site):
    """Viewers' browsers decode what the streamer sends: it checks the header too."""
    from tests.security.conftest import CAMERA

    site, publisher = make_site(CAMERA.format(id="cam1"))
    site.streamer()
    publisher.result(data=claim_size(PHOTO, 8000, 8000))
    reasons = wait_for(publisher.dead_letters, timeout=10)
    assert any("JPEG header says 8000x8000" in reason for _, reason in reasons), reasons
    publisher.result()
    wait_for(lambda: site.camera()["last_seq"] is not None, timeout=10)
    assert site.camera()["dropped"]["invalid"] == 1


def test_result_packing_keeps_real_jpegs_intact():
    """The check costs nothing to honest frames: a real result round-trips."""
    from pipeline.core.messages import pack

    result = Result("cam1", 1, time.time(), 640, 480, PHOTO, [], {}, "w")
    unpacked = unpack(pack(result), Result)
    check_jpeg_size(unpacked.data, unpacked.width, unpacked.height)


@contextmanager
def mjpeg_camera_source(
    tmp_path: Path, every_other: bytes, size: tuple[int, int]
) -> Iterator[tuple[StreamSource, bytes]]:
    """A started source of an MJPEG camera whose every other picture is
    ``every_other`` (the others a plain 320x240 JPEG), read at ``size``."""
    good = encode(np.full((240, 320, 3), 80, np.uint8))
    camera_server = MjpegCamera(
        free_port(), fps=20, picture=lambda number: every_other if number % 2 else good
    )
    camera_server.start()
    config = make_config(
        [{"id": "cam1", "source": camera_server.url, "width": size[0], "height": size[1],
          "detectors": ["motion"]}],
        file=tmp_path / "site.toml",
    )  # fmt: skip
    source = StreamSource(config.cameras[0])
    try:
        source.start()
        yield source, good
    finally:
        source.stop()
        camera_server.stop()


def frames_shown(source: StreamSource, count: int) -> list:
    """The next ``count`` frames the source hands out (within 10 s)."""
    shown = []

    def enough() -> bool:
        frame = source.next_frame(0)
        if frame is not None:
            shown.append(frame)
        return len(shown) >= count

    wait_for(enough, timeout=10)
    return shown


def test_a_camera_sending_bombs_among_its_pictures_loses_only_the_bombs(tmp_path):
    """An MJPEG camera is a JPEG source too: a picture whose header claims
    30000x30000 is dropped unread, the camera's other pictures keep coming."""
    bomb = claim_size(encode(np.full((240, 320, 3), 80, np.uint8)), 30000, 30000)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with mjpeg_camera_source(tmp_path, bomb, (320, 240)) as (source, good):
        wait_for(lambda: source.refused >= 10, timeout=20)
        kept = wait_for(lambda: source.next_frame(0), timeout=5)
        assert kept.jpeg(80) == good and source.state == "live"
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 200, f"the process peaked {grown_mb:.0f} MB higher"


def test_a_broken_picture_from_an_mjpeg_camera_costs_only_itself(tmp_path):
    """Truncated or garbled pictures (a camera on a poor link): each is dropped, the
    stream stays up and the pictures around them are shown."""
    broken = b"\xff\xd8" + bytes(range(256)) * 4  # a JPEG's start, then noise
    with mjpeg_camera_source(tmp_path, broken, (160, 120)) as (source, _good):
        wait_for(lambda: source.refused >= 10, timeout=20)
        shown = frames_shown(source, 5)
        assert all(frame.size == (160, 120) for frame in shown) and source.state == "live"


@pytest.mark.parametrize("size", [(320, 240), (160, 120)], ids=["kept-as-sent", "decoded"])
def test_a_picture_cut_short_by_an_mjpeg_camera_is_dropped_not_shown_half_grey(tmp_path, size):
    """A picture cut off mid-way (a camera's link dropping) still has a good header.
    Kept as sent, browsers would show half of it grey and detectors refuse it;
    decoded, FFmpeg fills in the missing part. Dropped and counted instead."""
    good = encode(np.full((240, 320, 3), 80, np.uint8))
    cut_short = good[: len(good) // 2]
    with mjpeg_camera_source(tmp_path, cut_short, size) as (source, sent):
        assert sent == good
        wait_for(lambda: source.refused >= 10, timeout=20)
        shown = frames_shown(source, 5)
        assert source.state == "live"
        for frame in shown:
            jpeg = frame.jpeg(90)
            assert jpeg.endswith(b"\xff\xd9")
            picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
            assert picture is not None and picture.shape == (size[1], size[0])
            assert np.abs(picture.astype(int) - 80).max() <= 4, "a filled-in picture was shown"
        if size == (320, 240):
            assert all(frame.jpeg(90) == good for frame in shown)
