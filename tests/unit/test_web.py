"""The streamer's routes, with the hub fed directly (no broker needed)."""

import time

import cv2
import numpy as np
import pytest

from pipeline.core.messages import Result, Status
from testkit.media import box_is_drawn
from tests.conftest import make_config
from web import create_app
from web.auth import Auth
from web.hub import FrameHub
from web.metrics import StreamMetrics


@pytest.fixture
def metrics():
    return StreamMetrics()


@pytest.fixture
def hub(metrics):
    config = make_config(
        [
            {"id": "cam1", "source": "synthetic", "width": 160, "height": 120},
            {"id": "cam2", "source": "synthetic", "width": 160, "height": 120},
        ]
    )
    hub = FrameHub(config, observer=metrics)
    yield hub
    hub.close()


@pytest.fixture
def client(hub, metrics):
    return create_app(hub.config, hub, auth=Auth(anonymous=True), metrics=metrics).test_client()


def result(seq: int, camera: str = "cam1", age_s: float = 0.01) -> Result:
    image = np.full((120, 160, 3), seq % 255, np.uint8)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    return Result(camera, seq, time.time() - age_s, 160, 120, jpeg, [{"label": "qr"}], {}, "w1")


class PartReader:
    """MJPEG parts of a streamed response, one at a time, by Content-Length. The
    test client runs the stream's generator only while a part is asked for, so a
    test can offer frames between parts and know what the viewer was ready for."""

    def __init__(self, response) -> None:
        self.response = response
        self.chunks = iter(response.response)
        self.buffer = b""

    def next(self) -> tuple[dict[str, str], bytes]:
        while True:
            part = self._parse()
            if part is not None:
                return part
            chunk = next(self.chunks, None)
            if chunk is None:
                raise AssertionError("stream ended early")
            self.buffer += chunk

    def _parse(self) -> tuple[dict[str, str], bytes] | None:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        lines = self.buffer[:head_end].decode().split("\r\n")
        assert lines[0] == "--frame"
        headers = dict(line.split(": ", 1) for line in lines[1:])
        end = head_end + 4 + int(headers["Content-Length"])
        if len(self.buffer) < end + 2:
            return None
        assert self.buffer[end : end + 2] == b"\r\n"
        jpeg, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end + 2 :]
        return headers, jpeg


def read_parts(response, count: int) -> list[tuple[dict[str, str], bytes]]:
    """The first ``count`` parts of a streamed response, which is then closed."""
    reader = PartReader(response)
    parts = [reader.next() for _ in range(count)]
    response.close()
    return parts


def test_stream_starts_with_a_placeholder_then_shows_frames_in_order(hub, client):
    response = client.get("/video/cam1", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "multipart/x-mixed-replace"

    reader = PartReader(response)
    placeholder = reader.next()  # nothing offered yet
    frames = []
    for seq in (10, 11, 9, 12):  # 9 arrives late and must never be shown
        if hub.feed("cam1").offer(result(seq)):
            frames.append(reader.next())
    response.close()
    assert placeholder[0]["X-Placeholder"] == "waiting"
    assert cv2.imdecode(np.frombuffer(placeholder[1], np.uint8), 1) is not None
    assert [int(headers["X-Frame-Seq"]) for headers, _ in frames] == [10, 11, 12]
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
    assert 'href="/camera/cam1"' in page and "mux.js" in page


def test_healthz(client):
    body = client.get("/healthz").get_json()
    assert body["broker_connected"] is False and body["cameras"] == 2


def test_mux_carries_every_camera_in_one_stream_each_part_named(hub, client):
    response = client.get("/mux?cameras=cam1,cam2", buffered=False)
    assert response.status_code == 200

    reader = PartReader(response)
    placeholders = [reader.next() for _ in range(2)]  # nothing offered yet
    assert {h["X-Camera"] for h, _ in placeholders} == {"cam1", "cam2"}
    assert all("X-Placeholder" in h for h, _ in placeholders), "each camera starts with one"
    real = []
    for seq in range(1, 4):
        hub.feed("cam1").offer(result(seq, "cam1"))
        hub.feed("cam2").offer(result(100 + seq, "cam2"))
        real += [(h["X-Camera"], int(h["X-Frame-Seq"])) for h, _ in (reader.next(), reader.next())]
    response.close()
    for camera in ("cam1", "cam2"):
        seqs = [seq for cam, seq in real if cam == camera]
        assert seqs == sorted(seqs) and len(seqs) == 3, (camera, real)


def test_mux_rejects_unknown_cameras(client):
    assert client.get("/mux?cameras=cam1,nope").status_code == 404


def test_viewers_are_counted_while_they_watch(hub, client):
    response = client.get("/video/cam1", buffered=False)
    read_parts(response, 1)  # the placeholder; the generator is now running
    assert hub.feed("cam1").viewers == 0  # read_parts closed the response
    stream = client.get("/video/cam2", buffered=False)
    next(iter(stream.response))
    assert hub.feed("cam2").viewers == 1
    stream.close()
    assert hub.feed("cam2").viewers == 0


def test_camera_page(hub, client):
    hub.feed("cam1").offer(result(5))
    page = client.get("/camera/cam1").get_data(as_text=True)
    assert 'data-camera="cam1"' in page and "<canvas" in page and "camera.js" in page
    assert client.get("/camera/nope").status_code == 404


def test_api_has_a_latency_series_for_the_chart(hub, client):
    feed = hub.feed("cam1")
    feed.offer(result(1))
    feed.note_written(feed.latest, 0)
    camera = client.get("/api/cameras/cam1").get_json()
    assert len(camera["latency_series_ms"]) == 60
    assert camera["latency_series_ms"][-1] is not None


def test_metrics_in_prometheus_format(hub, client):
    feed = hub.feed("cam1")
    frame = result(1)
    frame.timings = {"queue_ms": 12.0, "detect.total_ms": 8.0, "detected_at": time.time() - 0.01}
    feed.offer(frame)
    feed.note_written(feed.latest, 0)
    feed.offer(result(0))  # out of order: dropped
    feed.set_status(Status("cam1", "live", time.time(), fps=12.0, share=0.8))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'rabbitcam_frames_received_total{camera="cam1"} 2.0' in text
    assert 'rabbitcam_frames_written_total{camera="cam1"} 1.0' in text
    assert 'rabbitcam_frames_dropped_total{camera="cam1",reason="out_of_order"} 1.0' in text
    for stage in ("capture_to_detector", "detector", "detector_to_streamer", "streamer_to_viewer"):
        assert f'rabbitcam_stage_latency_seconds_count{{camera="cam1",stage="{stage}"}} 1.0' in text
    assert 'rabbitcam_latency_seconds_count{camera="cam1"} 1.0' in text
    assert 'rabbitcam_viewers{camera="cam2"} 0.0' in text
    assert 'rabbitcam_camera_state{camera="cam1",state="live"} 1.0' in text
    assert 'rabbitcam_capture_share{camera="cam1"} 0.8' in text
    assert 'rabbitcam_capture_share{camera="cam2"}' not in text  # no heartbeat from it yet
    assert "rabbitcam_broker_reconnects_total 0.0" in text


@pytest.fixture
def guarded(hub, metrics):
    auth = Auth(token="s3cret-token", user="viewer", password="pa55")
    return create_app(hub.config, hub, auth=auth, metrics=metrics).test_client()


@pytest.mark.parametrize(
    "path",
    ["/", "/api/cameras", "/video/cam1", "/mux", "/snapshot/cam1.jpg", "/metrics", "/camera/cam1"],
)
def test_auth_protects_every_route_but_healthz(guarded, path):
    response = guarded.get(path)
    if path in ("/", "/camera/cam1"):  # a page: a person is sent to log in, and back
        assert response.status_code == 302
        assert response.headers["Location"] == f"/login?next={path.replace('/', '%2F')}"
    else:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert guarded.get("/healthz").status_code == 200


def test_auth_accepts_bearer_basic_and_a_token_cookie(guarded):
    import base64

    assert (
        guarded.get("/api/cameras", headers={"Authorization": "Bearer s3cret-token"}).status_code
        == 200
    )
    assert guarded.get("/api/cameras", headers={"Authorization": "Bearer wrong"}).status_code == 401
    basic = base64.b64encode(b"viewer:pa55").decode()
    assert (
        guarded.get("/api/cameras", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    )
    wrong = base64.b64encode(b"viewer:nope").decode()
    assert (
        guarded.get("/api/cameras", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    )
    # A browser opens the page once with ?token=…: it gets a cookie and a clean URL.
    visit = guarded.get("/?token=s3cret-token")
    assert visit.status_code == 302 and visit.headers["Location"] == "/"
    assert "HttpOnly" in visit.headers["Set-Cookie"]
    assert guarded.get("/api/cameras").status_code == 200  # the cookie is sent from now on
    assert guarded.get("/api/cameras/nope").status_code == 404


@pytest.fixture
def page_drawn():
    """A streamer of one page-drawn 640x480 camera whose newest frame (seq 7) has
    a person boxed: the client, the hub, the camera's own JPEG and the box."""
    config = make_config(
        [{"id": "cam1", "source": "synthetic", "width": 640, "height": 480, "annotate": "page"}]
    )
    hub = FrameHub(config)
    client = create_app(
        config, hub, auth=Auth(anonymous=True), metrics=StreamMetrics()
    ).test_client()
    jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()
    box = [100, 60, 80, 100]
    detections = [{"label": "person", "box": box, "score": 0.9}]
    hub.feed("cam1").offer(
        Result("cam1", 7, time.time(), 640, 480, jpeg, detections, {}, "w1", overlay=True)
    )
    yield client, hub, jpeg, box
    hub.close()


def test_a_page_drawn_camera_s_snapshot_has_its_boxes_drawn_in_once_a_frame(page_drawn):
    """Snapshot pollers are no page: a page-drawn camera's snapshot gets its boxes
    drawn in as a drawn camera's has them; ``?boxes=0`` is the camera's own JPEG."""
    client, hub, jpeg, box = page_drawn
    drawn = client.get("/snapshot/cam1.jpg")
    assert drawn.status_code == 200 and drawn.headers["X-Frame-Seq"] == "7"
    picture = cv2.imdecode(np.frombuffer(drawn.data, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (480, 640, 3) and box_is_drawn(picture, box, "person")
    assert client.get("/snapshot/cam1.jpg").data == drawn.data
    latest, camera = hub.feed("cam1").latest, hub.config.cameras[0]
    assert latest.drawn == drawn.data, "kept with the frame"
    assert latest.with_boxes(camera) is latest.with_boxes(camera), "drawn once, not per request"
    plain = client.get("/snapshot/cam1.jpg?boxes=0")
    assert plain.data == jpeg, "the camera's picture as it came"
    refused = client.get("/snapshot/cam1.jpg?boxes=yes")
    assert refused.status_code == 400 and b"boxes must be 0 or 1" in refused.data


def test_a_page_drawn_camera_s_video_has_its_boxes_drawn_in_for_plain_viewers(page_drawn):
    """``/video/<camera>`` is for viewers that are no page (VLC, Home Assistant):
    the boxes are drawn into a page-drawn camera's frames, once a frame."""
    client, hub, jpeg, box = page_drawn
    ((headers, drawn),) = read_parts(client.get("/video/cam1", buffered=False), 1)
    assert headers["X-Frame-Seq"] == "7" and "X-Overlay" not in headers
    picture = cv2.imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR)
    assert box_is_drawn(picture, box, "person")
    ((again, _),) = read_parts(client.get("/video/cam1", buffered=False), 1)
    latest, camera = hub.feed("cam1").latest, hub.config.cameras[0]
    assert latest.drawn == drawn and again["X-Frame-Seq"] == "7"
    assert latest.part_with_boxes(camera) is latest.part_with_boxes(camera), "one part a frame"
    ((plain_headers, plain),) = read_parts(client.get("/video/cam1?boxes=0", buffered=False), 1)
    assert plain == jpeg and "X-Overlay" in plain_headers, "the camera's own, boxes beside"
    assert client.get("/video/cam1?boxes=2").status_code == 400


def test_a_drawn_camera_s_snapshot_is_the_picture_as_it_came(hub, client):
    hub.feed("cam1").offer(result(42))
    sent = hub.feed("cam1").latest.result.data
    assert client.get("/snapshot/cam1.jpg").data == sent  # its boxes are in it already
    assert client.get("/snapshot/cam1.jpg?boxes=0").data == sent
