"""What an operator runs: `rabbitcam status`, `rabbitcam probe`, and the logs they read."""

from __future__ import annotations

import json
import subprocess

import cv2
import pika
import pytest

from pipeline.core.topology import Topology
from testkit.media import media_file
from testkit.mjpeg_camera import MjpegCamera
from testkit.processes import Rabbitcam, free_port, rabbitcam_command, wait_for, wait_for_http
from tests.rtsp import RtspCamera

pytestmark = pytest.mark.e2e


def cli(
    *args: str, namespace: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **({"RABBITCAM_NAMESPACE": namespace} if namespace else {})}
    return subprocess.run(
        [*rabbitcam_command(), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def status(site, namespace: str) -> dict:
    result = cli("status", str(site), "--json", namespace=namespace)
    assert result.returncode == 0, result.stderr
    snapshot = json.loads(result.stdout)
    snapshot["by_camera"] = {row["camera"]: row for row in snapshot["cameras"]}
    return snapshot


def test_status_shows_every_camera_from_broker_capture_and_streamer(namespace, tmp_path):
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}/nothing.mjpg"
    site = tmp_path / "site.toml"
    site.write_text(
        f'[detect]\nworkers = 1\n[web]\nbind = "127.0.0.1:{port}"\n'
        # Through a detector worker, so that the status shows one serving each camera.
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\nfps = 10\nwidth = 320\nheight = 240\n'
        "direct = false\n"
        f'[[cameras]]\nid = "cam2"\nsource = "{dead}"\nfps = 10\ndirect = false\n'
    )
    roles = Rabbitcam(
        ["run", str(site), "--roles", "capture,detect"], namespace, tmp_path / "r.log"
    )
    streamer = Rabbitcam(["stream", str(site)], namespace, tmp_path / "s.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}")

        def settled():
            rows = status(site, namespace)["by_camera"]
            cam1 = rows["cam1"]
            ready = cam1["status"] == "live" and cam1["latency_p50_ms"] is not None
            ready = ready and (cam1["fps_in"] or 0) >= 7  # its 2 s window has filled
            return ready and rows["cam2"]["status"] == "offline" and rows

        rows = wait_for(settled, timeout=40, interval=0.5)
        cam1, cam2 = rows["cam1"], rows["cam2"]
        assert 7 <= cam1["fps_in"] <= 12, cam1
        assert cam1["fps_out"] > 5, cam1
        assert cam1["latency_p99_ms"] >= cam1["latency_p50_ms"] > 0
        assert cam1["queue_depth"] <= 2 and cam1["detector_workers"] == 1, cam1
        assert "cannot open" in cam2["reason"], cam2
        assert cam2["detector_workers"] == 1

        table = cli("status", str(site), namespace=namespace).stdout
        header = table.splitlines()[0].split()
        assert header[:2] == ["CAMERA", "STATUS"] and "WORKERS" in header, table
        assert any(line.startswith("cam1") and " live " in line for line in table.splitlines())
        assert "cam2: cannot open" in table

        # --watch refreshes: two documents, two seconds or so apart, until stopped.
        import os
        import signal

        watch = subprocess.Popen(
            [*rabbitcam_command(), "status", str(site), "--watch", "--json"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "RABBITCAM_NAMESPACE": namespace},
        )
        try:
            first = json.loads(watch.stdout.readline())
            second = json.loads(watch.stdout.readline())
        finally:
            watch.send_signal(signal.SIGTERM)
            assert watch.wait(10) == 0
        assert 1.5 <= second["taken_at"] - first["taken_at"] <= 6
        assert [row["camera"] for row in second["cameras"]] == ["cam1", "cam2"]

        # The streamer goes: the broker's and captures' columns remain, and it is said.
        streamer.stop()
        snapshot = status(site, namespace)
        assert any("streamer at" in note and "not reachable" in note for note in snapshot["notes"])
        cam1 = snapshot["by_camera"]["cam1"]
        assert cam1["fps_out"] is None and cam1["fps_in"] > 5 and cam1["detector_workers"] == 1
    finally:
        streamer.stop()
        roles.stop()


def test_status_without_a_broker_says_so(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(
        '[broker]\nurl = "amqp://guest:guest@127.0.0.1:1/"\n[web]\nbind = "127.0.0.1:1"\n'
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\n'
    )
    snapshot = json.loads(cli("status", str(site), "--json").stdout)
    assert any("broker not reachable" in note for note in snapshot["notes"]), snapshot
    assert snapshot["cameras"][0]["queue_depth"] is None


def test_probe_reports_a_video_file_and_saves_a_frame(tmp_path):
    saved = tmp_path / "frame.jpg"
    result = cli("probe", str(media_file("vtest.avi")), "--save", str(saved), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["frames"] > 10
    assert (report["width"], report["height"]) == (768, 576)
    assert report["claimed_fps"] == 10
    assert cv2.imread(str(saved)).shape == (576, 768, 3)


@pytest.mark.parametrize("kind", ["http", "rtsp"])
def test_probe_reads_a_network_camera_as_capture_does(tmp_path, kind):
    # Both serve 320x240 JPEG pictures at 10 fps: MJPEG over HTTP, RTP/JPEG over RTSP.
    if kind == "http":
        camera = MjpegCamera(free_port(), fps=10)
        stop = camera.stop
    else:
        camera = RtspCamera(free_port())
        stop = camera.kill
    camera.start()
    saved = tmp_path / "frame.jpg"
    try:
        result = cli("probe", camera.url, "--seconds", "3", "--save", str(saved), "--json")
    finally:
        stop()
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], report
    # The camera's own size (capture scales later), what FFmpeg decodes, its rate.
    assert (report["width"], report["height"]) == (320, 240)
    assert report["codec"] == "mjpeg", report
    assert report["keeps_jpegs_at"] == [320, 240], "a camera of that size publishes them as sent"
    assert 6 <= report["measured_fps"] <= 14, report
    assert cv2.imread(str(saved)).shape == (240, 320, 3)


def test_probe_says_when_nothing_arrives(tmp_path):
    dead = cli("probe", f"http://127.0.0.1:{free_port()}/x.mjpg", "--save", "")
    assert dead.returncode == 1 and "NO FRAMES" in dead.stdout and "could not open" in dead.stdout
    no_rtsp = cli("probe", f"rtsp://127.0.0.1:{free_port()}/cam", "--save", "")
    assert no_rtsp.returncode == 1 and "could not open" in no_rtsp.stdout, no_rtsp.stdout
    bad = cli("probe", "ftp://somewhere/cam")
    assert bad.returncode == 2 and "unsupported URL scheme" in bad.stderr


def frames_waiting(url: str, namespace: str) -> int:
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        queue = Topology(namespace).frame_queue("cam1")
        return connection.channel().queue_declare(queue, passive=True).method.message_count


def test_logs_are_one_json_object_per_line_with_role_and_camera(broker_url, namespace, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(
        '[log]\nformat = "json"\nlevel = "DEBUG"\n'
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\nfps = 5\ndirect = false\n'
    )
    log = tmp_path / "capture.log"
    capture = Rabbitcam(["capture", "--camera", "cam1", str(site)], namespace, log)
    try:
        wait_for(lambda: "connected to" in log.read_text(), timeout=20)
    finally:
        capture.stop()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) >= 3, lines
    for line in lines:
        record = json.loads(line)  # every line, not most of them
        assert record["role"] == "capture" and record["camera"] == "cam1", record
        assert record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR"}
    assert any("guest:***@" in json.loads(line)["message"] for line in lines)
    assert "guest:guest@" not in log.read_text(), "a password reached the log"

    # --log-level on the command line wins over the config.
    with pika.BlockingConnection(pika.URLParameters(broker_url)) as connection:
        connection.channel().queue_purge(Topology(namespace).frame_queue("cam1"))
    quiet = tmp_path / "quiet.log"
    capture = Rabbitcam(
        ["--log-level", "WARNING", "capture", "--camera", "cam1", str(site)], namespace, quiet
    )
    try:
        # Frames in its queue prove it connected and ran (and would have logged that).
        wait_for(lambda: frames_waiting(broker_url, namespace) > 0, timeout=20)
    finally:
        capture.stop()
    assert quiet.read_text().strip() == "", quiet.read_text()


@pytest.mark.parametrize(
    ("url", "key", "message"),
    [
        ("amqp://guest:guest@no-such-host.invalid:5672/", "broker.url", "does not resolve"),
        ("amqp://guest:guest@127.0.0.1:1/", "broker.url", "no broker answers"),
        ("amqp://guest:not-the-password@127.0.0.1:5672/", "broker.url", "refused the login"),
        ("amqp://guest:guest@127.0.0.1:5672/no-such-vhost", "broker.url", "virtual host"),
        (
            ["amqp://guest:guest@127.0.0.1:1/", "amqp://guest:guest@127.0.0.1:2/"],
            "broker.url[1]",
            "no broker answers",
        ),
    ],
)
def test_run_refuses_a_broker_it_cannot_use_before_starting_anything(
    broker_url, tmp_path, url, key, message
):
    site = tmp_path / "bad.toml"
    urls = json.dumps(url)  # a JSON string or array is a TOML one
    site.write_text(f'[broker]\nurl = {urls}\n[[cameras]]\nid = "cam1"\nsource = "synthetic"\n')
    result = cli("run", str(site), timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"bad.toml: {key}: " in result.stderr and message in result.stderr, result.stderr
    assert "starting" not in result.stderr, "nothing may start"
    assert "not-the-password" not in result.stderr


def test_run_with_a_list_starts_when_one_broker_answers(broker_url, namespace, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(
        f'[broker]\nurl = ["amqp://guest:guest@127.0.0.1:1/", "{broker_url}"]\n'
        f'[web]\nbind = "127.0.0.1:{free_port()}"\n[detect]\nworkers = 1\n'
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\nfps = 5\n'
    )
    log = tmp_path / "run.log"
    run = Rabbitcam(["run", str(site)], namespace, log)
    try:
        wait_for(lambda: log.read_text().count("connected to") >= 3, timeout=30)
    finally:
        assert run.stop() == 0
