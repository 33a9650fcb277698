"""The streamer's routes, with the hub fed directly (no broker needed)."""

import threading
import time

import cv2
import numpy as np
import pytest

from pipeline.messages import Result
from tests.conftest import make_config
from web import create_app
from web.hub import FrameHub


@pytest.fixture
def hub():
    config = make_config(
        [
            {"id": "cam1", "source": "synthetic", "width": 160, "height": 120},
            {"id": "cam2", "source": "synthetic", "width": 160, "height": 120},
        ]
    )
    hub = FrameHub(config)
    yield hub
    hub.close()


@pytest.fixture
def client(hub):
    return create_app(hub.config, hub).test_client()


def result(seq: int, camera: str = "cam1", age_s: float = 0.01) -> Result:
    image = np.full((120, 160, 3), seq % 255, np.uint8)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    return Result(camera, seq, time.time() - age_s, 160, 120, jpeg, [{"label": "qr"}], {}, "w1")


def read_parts(response, count: int) -> list[tuple[dict[str, str], bytes]]:
    """Parse ``count`` MJPEG parts from a streamed response, by Content-Length."""
    stream = response.response
    buffer = b""
    parts = []
    for chunk in stream:
        buffer += chunk
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            lines = buffer[:head_end].decode().split("\r\n")
            assert lines[0] == "--frame"
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers["Content-Length"])
            end = head_end + 4 + length
            if len(buffer) < end + 2:
                break
            parts.append((headers, buffer[head_end + 4 : end]))
            assert buffer[end : end + 2] == b"\r\n"
            buffer = buffer[end + 2 :]
            if len(parts) == count:
                response.close()
                return parts
    raise AssertionError("stream ended early")


def test_stream_starts_with_a_placeholder_then_shows_frames_in_order(hub, client):
    response = client.get("/video/cam1", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "multipart/x-mixed-replace"

    def feed():
        time.sleep(0.3)
        for seq in (10, 11, 9, 12):  # 9 arrives late and must never be shown
            hub.feed("cam1").offer(result(seq))
            time.sleep(0.05)

    threading.Thread(target=feed, daemon=True).start()
    parts = read_parts(response, 4)
    placeholder, frames = parts[0], parts[1:]
    assert placeholder[0]["X-Placeholder"] == "waiting"
    assert cv2.imdecode(np.frombuffer(placeholder[1], np.uint8), 1) is not None
    seqs = [int(headers["X-Frame-Seq"]) for headers, _ in frames]
    assert seqs == sorted(seqs) and 9 not in seqs and seqs[-1] == 12
    for headers, jpeg in frames:
        assert abs(float(headers["X-Captured-At"]) - time.time()) < 5
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), 1).shape == (120, 160, 3)
    assert hub.feed("cam1").dropped["out_of_order"] == 1


def test_stale_results_are_dropped_and_counted(hub):
    feed = hub.feed("cam1")
    assert not feed.offer(result(1, age_s=5.0))
    assert feed.dropped["stale"] == 1 and feed.latest is None


def test_sequence_gaps_count_as_not_delivered(hub):
    feed = hub.feed("cam1")
    feed.offer(result(1))
    feed.offer(result(5))
    assert feed.dropped["not_delivered"] == 3


def test_snapshot(hub, client):
    waiting = client.get("/snapshot/cam1.jpg")
    assert waiting.status_code == 503 and waiting.mimetype == "image/jpeg"
    hub.feed("cam1").offer(result(42))
    live = client.get("/snapshot/cam1.jpg")
    assert live.status_code == 200 and live.headers["X-Frame-Seq"] == "42"
    assert cv2.imdecode(np.frombuffer(live.data, np.uint8), 1) is not None


def test_api_cameras_shape(hub, client):
    hub.feed("cam1").offer(result(3))
    cameras = client.get("/api/cameras").get_json()
    assert [c["id"] for c in cameras] == ["cam1", "cam2"]
    cam1, cam2 = cameras
    assert cam1["status"] == "live" and cam2["status"] in ("stale", "offline")
    for camera in cameras:
        assert set(camera["latency_ms"]) >= {"p50", "p95", "p99"}
        assert isinstance(camera["fps"], float) and isinstance(camera["dropped"], dict)
        assert "last_detections" in camera
    assert cam1["last_detections"] == [{"label": "qr"}]


@pytest.mark.parametrize(
    "path",
    [
        "/video/nope",
        "/snapshot/nope.jpg",
        "/video/..%2f..%2fetc%2fpasswd",
        "/camera/x/y",
        "/nothing",
    ],
)
def test_unknown_paths_are_plain_404_pages(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"Traceback" not in response.data
    assert b"404" in response.data


def test_unknown_camera_in_api_is_json_404(client):
    response = client.get("/api/cameras/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "Not Found"


def test_dashboard_lists_every_camera(client):
    page = client.get("/").get_data(as_text=True)
    assert 'data-camera="cam1"' in page and 'data-camera="cam2"' in page
    assert "/video/cam1" in page


def test_healthz(client):
    body = client.get("/healthz").get_json()
    assert body["broker_connected"] is False and body["cameras"] == 2
