"""The record role on the real broker: clips cut from the broker's stream, with the
seconds before the event, snapshots, crashes and retention."""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
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
from testkit.processes import Rabbitcam, free_port, wait_for
from tests.conftest import make_config
from tests.webhook_server import WebhookEndpoint

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
                        auth=Auth(anonymous=True)).test_client()  # fmt: skip
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


def _publish_events(url: str, namespace: str, events: list[tuple[float, str]]) -> None:
    """(captured_at, label) events of cam1 on the events exchange, as workers send them."""
    import pika

    from pipeline.core.messages import Event, pack
    from pipeline.core.topology import Topology

    topology = Topology(namespace)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for captured_at, label in events:
        body = pack(Event("cam1", int(captured_at * 1000), captured_at, {"label": label}))
        channel.basic_publish(topology.events_exchange, f"cam1.{label}", body)
    connection.close()


def _recorder_until_subscribed(config) -> tuple[Recorder, threading.Event, threading.Thread]:
    stop = threading.Event()
    recorder = Recorder(config, stop)
    thread = threading.Thread(target=recorder.run, daemon=True)
    thread.start()
    wait_for(recorder.subscribed.is_set, timeout=15)
    return recorder, stop, thread


def _synthetic_recording_site(namespace: str, tmp_path: Path):
    camera = {"id": "cam1", "source": "synthetic", "detectors": ["motion"], "record": ["motion"]}
    return make_config(
        [camera], namespace=namespace,
        record={"dir": str(tmp_path / "store"), "pre_s": 3, "post_s": 2},
    )  # fmt: skip


def test_a_storm_of_events_worked_off_late_is_one_incident_with_every_detection_counted(
    namespace, broker_url, tmp_path
):
    config = _synthetic_recording_site(namespace, tmp_path)
    recorder, stop, thread = _recorder_until_subscribed(config)  # declares its queue
    stop.set()
    thread.join(10)
    # 10,000 events over 20 s, all waiting when the recorder comes back: far behind.
    start = time.time() - 60
    storm = [(start + i * 0.002, "motion") for i in range(10_000)]
    _publish_events(broker_url, namespace, storm)
    recorder, stop, thread = _recorder_until_subscribed(config)
    store = EventStore(config.store_dir)
    try:

        def worked_off():
            events = store.query(EventQuery())
            return events if sum(e.count for e in events) >= len(storm) else None

        events = wait_for(worked_off, timeout=90, interval=0.5)
        wait_for(lambda: not recorder.active, timeout=15)
        events = store.query(EventQuery())
        assert len(events) == 1, [(e.started_at - start, e.ended_at - start) for e in events]
        assert events[0].count == len(storm) and recorder.counters.late == 0
    finally:
        stop.set()
        thread.join(10)


def test_an_event_from_the_future_is_refused_and_recording_goes_on(namespace, broker_url, tmp_path):
    config = _synthetic_recording_site(namespace, tmp_path)
    recorder, stop, thread = _recorder_until_subscribed(config)
    store = EventStore(config.store_dir)
    try:
        now = time.time()
        _publish_events(broker_url, namespace, [(now + 300 * 86_400, "motion"), (now, "motion")])
        (event,) = wait_for(lambda: store.query(EventQuery()), timeout=15)
        assert abs(event.started_at - now) < 1
        wait_for(lambda: recorder.counters.rejected == 1, timeout=10)
        # An hour ahead passes the wire's check (a day) but not the recorder's clock.
        _publish_events(broker_url, namespace, [(now + 3600, "motion")])
        wait_for(lambda: recorder.counters.rejected == 2, timeout=10)
        wait_for(lambda: not recorder.active, timeout=15)  # closed by the clock, as always
        _publish_events(broker_url, namespace, [(time.time(), "motion")])
        wait_for(lambda: len(store.query(EventQuery())) == 2, timeout=15)
    finally:
        stop.set()
        thread.join(10)


def players_come_and_go(path: Path, fps: float = 10.0) -> Path:
    """A video of two basketball players (a photograph) sliding in for 3 s, then an
    empty court for 4 s: people who come, walk and go."""
    from testkit.media import basketball

    picture = cv2.resize(basketball(), (400, 300))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for index in range(int(7 * fps)):
        frame = np.full((480, 640, 3), 100, np.uint8)
        if index < 3 * fps:
            x = 4 * index
            frame[120:420, x : x + 400] = picture
        writer.write(frame)
    writer.release()
    return path


def test_a_person_who_comes_and_goes_is_one_object_with_its_stay_path_and_best_snapshot(
    namespace, roles, tmp_path, mosquitto
):
    """Through capture, ``objects`` + ``track``, the recorder and Home Assistant's MQTT:
    the event lists the person as an object with its end, duration and path, and its
    best snapshot (cropped around the person); the events API serves both; the MQTT
    camera's topic gets the same picture."""
    from tests.mqtt_client import MQTT_HOST, MQTT_PORT, Subscriber, clear_retained

    video = players_come_and_go(tmp_path / "court.avi")
    hook = WebhookEndpoint(free_port())
    hook.start()
    prefix = f"rabbitcam-test/{namespace}"
    config = make_config(
        [{"id": "cam1", "source": str(video), "fps": 10, "record": ["person"],
          "detectors": ["objects", "track"]}],
        namespace=namespace,
        record={"dir": str(tmp_path / "store"), "pre_s": 1, "post_s": 1},
        alarms=[{"name": "home", "url": f"mqtt://{MQTT_HOST}:{MQTT_PORT}", "topic": prefix,
                 "labels": ["person"]},
                {"name": "phone", "url": hook.url, "labels": ["person", "gone"]}],
    )  # fmt: skip
    camera = config.cameras[0]
    listener = Subscriber(prefix)
    try:
        from pipeline.roles.alarms import run_alarms

        recorder = Recorder(config, roles.stop)
        roles.start(recorder.run, "record")
        roles.start(lambda: run_alarms(config, roles.stop, list(config.alarms)), "alarms")
        wait_for(recorder.subscribed.is_set, timeout=15)
        wait_for(lambda: listener.last(f"{prefix}/status") == "online", timeout=15)
        roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
        roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")

        store = EventStore(config.store_dir)

        def ended() -> list:
            return [(e, o) for e in store.query(EventQuery()) for o in e.objects
                    if o.ended_at is not None]  # fmt: skip

        event, person = wait_for(ended, timeout=60, interval=0.25)[0]
        assert event.labels == ["person"] and person.label == "person"
        # In view for 3 s of video (a loaded machine plays a file a little slower);
        # the stay ends at the last sighting, checked against the gone event below.
        assert 2.0 <= person.ended_at - person.started_at <= 4.5, "in view for about 3 s"
        assert len(person.path) >= 3 and person.path[-1][0] > person.path[0][0], "rightwards"
        crop = cv2.imdecode(
            np.frombuffer(store.file(event.id, f"object-{person.object}").read_bytes(), np.uint8),
            cv2.IMREAD_COLOR,
        )
        assert max(crop.shape[:2]) <= 320
        assert crop.shape[1] < 0.8 * crop.shape[0], "one standing person, not the (wide) frame"

        from web.app import create_app
        from web.auth import Auth

        client = create_app(config, auth=Auth(anonymous=True)).test_client()
        (shown,) = [e for e in client.get("/api/events").get_json()["events"]
                    if e["id"] == event.id]  # fmt: skip
        listed = next(o for o in shown["objects"] if o["object"] == person.object)
        assert listed["duration_s"] == round(person.ended_at - person.started_at, 1)
        assert listed["path"] == person.path
        picture = client.get(listed["snapshot"])
        assert picture.status_code == 200 and picture.mimetype == "image/jpeg"
        assert client.get(f"/events/{event.id}/object-999999.jpg").status_code == 404

        # Home Assistant's MQTT camera: the last picture of a person, a JPEG.
        snapshot = wait_for(lambda: listener.last_bytes(f"{prefix}/cam1/person/snapshot"),
                            timeout=15)  # fmt: skip
        assert snapshot[:2] == b"\xff\xd8"

        # A webhook (a phone's notification service) gets the person's picture with the
        # alarm when it comes, and the best one when it has gone.
        def by_label() -> dict:
            got = {alarm["label"]: alarm for alarm in hook.alarms()}
            return got if {"person", "gone"} <= got.keys() else {}

        alarms = wait_for(by_label, timeout=15)
        judged_gone_after = alarms["gone"]["captured_at"] - person.ended_at
        # ended_at travels rounded to the millisecond: it may be up to 0.5 ms later.
        assert judged_gone_after >= 2.0 - 0.0005, "ended when last seen, gone max_missing_s later"
        for label in ("person", "gone"):
            jpeg = base64.b64decode(alarms[label]["snapshot_jpeg"])
            assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is not None
        mqtt_event = json.loads(listener.last(f"{prefix}/cam1/person"))
        assert "snapshot_jpeg" not in mqtt_event, "MQTT has the picture on its own topic"
    finally:
        hook.stop()
        listener.close()
        clear_retained(prefix, ["status", "cam1/person/snapshot", "cam1/person/state",
                                "cam1/person/count", "cam1/state"])  # fmt: skip
