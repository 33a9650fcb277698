"""`rabbitcam run configs/demo.toml` as a user runs it, read by a plain HTTP client."""

from __future__ import annotations

import itertools
import json
import os
import signal

import cv2
import numpy as np
import pytest
import requests

from testkit.processes import (
    Rabbitcam,
    alive,
    children_of,
    cmdline,
    free_port,
    read_parts,
    real_frames,
    wait_for,
)

pytestmark = pytest.mark.e2e


def demo_roles() -> int:
    """Capture processes (6 cameras: 5 in demo.toml, 1 in cameras.d, spread over one
    process per core) + 2 detector workers + 1 streamer + 1 recorder (the hallway
    records its falls, the walkway its people) + 1 footage recorder (the walkway keeps
    its footage)."""
    from pipeline.core.config import load_config
    from pipeline.roles.supervisor import capture_groups

    config = load_config("configs/demo.toml")
    assert len(config.cameras) == 6 and config.recording and config.keeping_footage
    return len(capture_groups(config)) + config.detect.workers + 3


def test_demo_streams_live_annotated_frames_and_stops_cleanly(namespace, tmp_path):
    port = free_port()
    run = Rabbitcam(
        ["run", "configs/demo.toml", "--bind", f"127.0.0.1:{port}"], namespace, tmp_path / "run.log"
    )
    base = f"http://127.0.0.1:{port}"
    roles = demo_roles()
    try:
        children = wait_for(
            lambda: len(children_of(run.pid)) == roles and children_of(run.pid), timeout=20
        )

        def page_up():
            try:
                return requests.get(f"{base}/", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(page_up, timeout=30)
        qr = cv2.QRCodeDetector()
        with requests.get(f"{base}/video/front-door", stream=True, timeout=30) as response:
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            seqs, latencies, decoded_codes = [], [], []
            frames = real_frames(read_parts(response.raw))
            for index, (headers, jpeg, received_at) in enumerate(itertools.islice(frames, 50)):
                image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                assert image is not None and image.shape == (480, 640, 3)
                seqs.append(int(headers["X-Frame-Seq"]))
                latencies.append(received_at - float(headers["X-Captured-At"]))
                if index % 10 == 0:
                    decoded_codes.append((qr.detectAndDecode(image)[0], seqs[-1]))
        assert all(b > a for a, b in itertools.pairwise(seqs)), seqs
        assert max(latencies) < 1.0, latencies
        # The picture itself proves which frame it is: its QR code says <camera>:<seq>.
        assert any(text == f"front-door:{seq}" for text, seq in decoded_codes), decoded_codes

        # The backyard's boxes are drawn by the page: its parts carry them beside the picture.
        with requests.get(f"{base}/mux?cameras=backyard", stream=True, timeout=30) as response:
            parts = real_frames(read_parts(response.raw))
            overlays = [json.loads(h["X-Overlay"]) for h, _, _ in itertools.islice(parts, 30)]
        assert all((o["width"], o["height"]) == (640, 480) for o in overlays), overlays[:1]
        assert any(item["label"] == "motion" for o in overlays for item in o["items"]), overlays

        cameras = requests.get(f"{base}/api/cameras", timeout=5).json()
        assert {c["id"]: c["status"] for c in cameras} == dict.fromkeys(
            ("front-door", "backyard", "lobby", "hallway", "walkway", "garage"), "live"
        )
        front = next(c for c in cameras if c["id"] == "front-door")
        assert front["latency_ms"]["p50"] is not None and front["latency_ms"]["p95"] < 1000
        print(f"\ndemo latency capture→viewer: {front['latency_ms']}")
    finally:
        # SIGTERM; a run that needs more than 5 s is killed and fails the check below.
        code = run.stop(timeout=5)
    assert code == 0, run.tail()
    survivors = [pid for pid in children if alive(pid)]
    assert survivors == [], f"children left behind: {survivors}"


def test_a_killed_role_is_restarted_and_the_picture_moves_on(namespace, tmp_path):
    config = tmp_path / "one.toml"
    config.write_text(
        '[detect]\nworkers = 1\n[[cameras]]\nid = "cam1"\nsource = "synthetic"\nfps = 15\n'
    )
    port = free_port()
    run = Rabbitcam(
        ["run", str(config), "--bind", f"127.0.0.1:{port}"], namespace, tmp_path / "run.log"
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def capture_pid():
            pids = [p for p in children_of(run.pid) if " capture " in cmdline(p)]
            return pids[0] if pids else None

        def last_seq():
            try:
                return requests.get(f"{base}/api/cameras/cam1", timeout=2).json()["last_seq"]
            except requests.ConnectionError:
                return None

        first = wait_for(capture_pid, timeout=20)
        before = wait_for(last_seq, timeout=30)
        os.kill(first, signal.SIGKILL)
        replacement = wait_for(lambda: (pid := capture_pid()) and pid != first and pid, timeout=10)
        assert replacement != first
        # The new capture worker's seq continues above the old one's (seq starts at
        # the wall clock), so the viewer's never-go-back rule does not freeze it.
        wait_for(lambda: (seq := last_seq()) and seq > before + 30, timeout=15)
    finally:
        run.stop()
    text = run.tail(20_000)
    assert "capture:cam1 exited with -9; restarting" in text, text[-3000:]
