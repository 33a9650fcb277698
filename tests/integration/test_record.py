"""The record role on the real broker: clips cut from the broker's stream, with the
seconds before the event, snapshots, crashes and retention."""

from __future__ import annotations

import signal
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.core.eventstore import EventQuery, EventStore
from pipeline.roles.capture import CaptureWorker
from pipeline.roles.detect import DetectorWorker
from pipeline.roles.record import Recorder
from testkit.media import box_is_drawn, pedestrians_with_a_code, shows_code
from testkit.processes import Rabbitcam, wait_for
from tests.conftest import make_config

PAYLOAD = "<img src=x onerror=alert(1)>"


def camera_config(namespace: str, tmp_path: Path, video: Path, annotate=True, **record):
    camera = {"id": "cam1", "source": str(video), "fps": 10, "detectors": ["codes"]}
    return make_config(
        [{**camera, "record": ["qr"], "annotate": annotate}],
        namespace=namespace,
        record={"dir": str(tmp_path / "store"), "pre_s": 3, "post_s": 2, **record},
    )


def ready_events(store: EventStore) -> list:
    return [e for e in store.query(EventQuery()) if e.state == "ready"]


@pytest.mark.parametrize("annotate", [True, "page"], ids=["drawn-by-the-worker", "page-drawn"])
def test_an_event_gets_its_snapshot_and_a_clip_with_the_seconds_before_it(
    namespace, roles, tmp_path, annotate
):
    """Boxes are in the snapshot and the clip either way: drawn into the picture by
    the worker, or, for a camera whose boxes the page draws, by the recorder."""
    video = pedestrians_with_a_code(tmp_path / "square.avi", PAYLOAD, quiet_s=4, shown_s=3)
    config = camera_config(namespace, tmp_path, video, annotate=annotate)
    camera = config.cameras[0]
    recorder = Recorder(config, roles.stop)
    roles.start(recorder.run, "record")
    wait_for(recorder.subscribed.is_set, timeout=15)
    roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
    roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")

    store = EventStore(config.store_dir)
    (event,) = wait_for(lambda: ready_events(store), timeout=40, interval=0.25)
    assert event.labels == ["qr"] and event.camera == "cam1"
    assert event.count >= 2, "the code stays in view: its events are one event"
    assert event.detection["extra"]["text"] == PAYLOAD
    pre_roll = event.started_at - event.clip_from
    print(f"\nclip: {event.clip_frames} frames, {event.clip_to - event.clip_from:.1f} s, "
          f"{pre_roll:.2f} s before the event, {event.bytes} bytes with the snapshot")  # fmt: skip
    assert 2.0 <= pre_roll <= 3.2, "the clip starts about pre_s before the event"
    assert event.clip_to >= event.ended_at + 1.5, "and goes on about post_s after the last"

    with av.open(str(store.file(event.id, "clip"))) as container:
        pictures = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(pictures) == event.clip_frames >= 50
    # Frames from before the event show the square without the code; later ones, the code.
    shown = [shows_code(picture, PAYLOAD) for picture in pictures]
    assert not any(shown[:15]), "the first 1.5 s are from before the code was held up"
    assert all(shown[35:50]), "then the code is in view"

    snapshot = cv2.imdecode(
        np.frombuffer(store.file(event.id, "snapshot").read_bytes(), np.uint8), cv2.IMREAD_COLOR
    )
    assert snapshot.shape == (480, 640, 3)
    assert shows_code(snapshot, PAYLOAD), "the snapshot is the event's own frame"
    assert box_is_drawn(snapshot, event.detection["box"], "qr"), "with its box drawn in"
    assert box_is_drawn(pictures[40], event.detection["box"], "qr"), "and so is the clip"
    assert (
        store.file(event.id, "thumb").stat().st_size
        < store.file(event.id, "snapshot").stat().st_size
    )


def test_a_recorder_killed_mid_clip_lists_no_broken_event_and_resumes(namespace, roles, tmp_path):
    video = pedestrians_with_a_code(tmp_path / "square.avi", PAYLOAD, quiet_s=4, shown_s=3)
    site = tmp_path / "site.toml"
    site.write_text(
        f'[record]\ndir = "store"\npre_s = 3\npost_s = 4\n[[cameras]]\nid = "cam1"\n'
        f'source = "{video}"\nfps = 10\ndetectors = ["codes"]\nrecord = ["qr"]\n'
    )
    config = camera_config(namespace, tmp_path, video, post_s=4)
    camera = config.cameras[0]
    recorder = Rabbitcam(["record", str(site)], namespace, tmp_path / "record-1.log")
    try:
        store = EventStore(tmp_path / "store")
        wait_for(lambda: "record: connected to" in recorder.tail(), timeout=20)
        roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
        roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")
        (event,) = wait_for(lambda: store.recording(), timeout=40, interval=0.1)
        wait_for(lambda: store.scratch(event.id, "clip").exists(), timeout=10, interval=0.05)
        recorder.process.send_signal(signal.SIGKILL)
        recorder.process.wait(5)
    finally:
        recorder.stop()

    # Killed mid-clip: the event is listed as recording, with no clip to play.
    listed = store.get(event.id)
    assert listed.state == "recording" and not listed.has_clip
    assert not store.file(event.id, "clip").exists()
    from web.app import create_app
    from web.auth import Auth

    client = create_app(make_config(namespace=namespace, record={"dir": str(tmp_path / "store")}),
                        auth=Auth()).test_client()  # fmt: skip
    shown = client.get("/api/events").get_json()["events"]
    assert [(e["id"], e["state"], e["clip"]) for e in shown] == [(event.id, "recording", None)]
    assert client.get(f"/events/{event.id}/clip.mp4").status_code == 404

    # Started again, it cuts the clip afresh from the broker's stream.
    with Rabbitcam(["record", str(site)], namespace, tmp_path / "record-2.log") as again:
        done = wait_for(
            lambda: (e := store.get(event.id)) and e.state == "ready" and e,
            timeout=40,
            interval=0.2,
        )
        assert "was not finished; cutting it again" in again.tail()
    assert done.started_at - done.clip_from >= 2.0, "the pre-roll is still in the stream"
    assert done.clip_frames >= 40 and store.file(event.id, "clip").is_file()
    assert not store.scratch(event.id, "clip").exists()
    assert client.get(f"/events/{event.id}/clip.mp4").status_code == 200


def test_the_recorder_keeps_its_events_within_the_size_bound(namespace, roles, tmp_path):
    video = pedestrians_with_a_code(tmp_path / "square.avi", "size", quiet_s=2, shown_s=1)
    config = camera_config(namespace, tmp_path, video, pre_s=1, post_s=0.5, max_mb=1)
    camera = config.cameras[0]
    recorder = Recorder(config, roles.stop)
    roles.start(recorder.run, "record")
    wait_for(recorder.subscribed.is_set, timeout=15)
    roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
    roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")
    store = EventStore(config.store_dir)
    wait_for(lambda: recorder.counters.deleted_by_retention >= 2, timeout=60, interval=0.5)
    listed = store.query(EventQuery(states=("ready",)))
    newest = max(e.id for e in store.query(EventQuery()))
    assert listed and listed[0].id >= newest - 1, "the newest stay"
    assert min(e.id for e in listed) > 1, "the oldest went"
    assert sum(e.bytes for e in listed) <= 1024 * 1024
    for event in listed:
        for kind in ("clip", "snapshot", "thumb"):
            assert store.file(event.id, kind).is_file(), (event.id, kind)
    known = {e.id for e in store.query(EventQuery())}
    for path in store.media.iterdir():
        if not path.name.startswith(".partial-"):  # the clip being written now
            assert int(path.name.split(".")[0]) in known, f"{path.name}: a file of no event"
