"""The events database and its files: listing, paging, deleting, retention, crashes."""

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.core.eventstore import OBJECT_ROW_BYTES, EventQuery, EventStore
from pipeline.roles.clips import ClipWriter, thumbnail
from testkit.media import pedestrian_frames

MB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path):
    opened = EventStore(tmp_path / "events")
    yield opened
    opened.close()


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def finished_event(store: EventStore, camera: str, at: float, clip_bytes: int = 1000) -> int:
    event_id = store.open_event(camera, "fall", 1, at, {"label": "fall", "score": 0.9})
    picture = jpeg(np.full((48, 64, 3), 128, np.uint8))
    store.save_snapshot(event_id, picture, picture)
    store.scratch(event_id, "clip").write_bytes(b"\0" * clip_bytes)
    assert store.finish(event_id, at - 5, at + 5, 100)
    return event_id


def test_an_event_is_listed_while_recording_but_its_clip_only_once_finished(store):
    event_id = store.open_event("door", "fall", 7, 1000.0, {"label": "fall", "score": 0.8})
    store.extend(event_id, "person", 1002.5, 0.95)
    (event,) = store.query(EventQuery())
    assert (event.state, event.labels, event.count, event.ended_at) == (
        "recording", ["fall", "person"], 2, 1002.5,
    )  # fmt: skip
    assert event.score == 0.95 and not event.has_clip
    store.scratch(event_id, "clip").write_bytes(b"half a clip")
    assert not store.file(event_id, "clip").exists()
    assert store.recording()[0].id == event_id
    assert store.finish(event_id, 995.0, 1007.5, 125)
    event = store.get(event_id)
    assert event.has_clip and store.file(event_id, "clip").read_bytes() == b"half a clip"
    assert store.recording() == []


def test_filters_and_paging_newest_first(store):
    ids = [finished_event(store, camera, 1000.0 + i) for i, camera in enumerate("abab")]
    person = store.open_event("b", "person", 1, 2000.0, {"label": "person"})
    assert [e.id for e in store.query(EventQuery())] == [person, *reversed(ids)]
    assert [e.id for e in store.query(EventQuery(camera="a"))] == [ids[2], ids[0]]
    assert [e.id for e in store.query(EventQuery(label="person"))] == [person]
    assert [e.id for e in store.query(EventQuery(since=1001, until=1003))] == [ids[2], ids[1]]
    first = store.query(EventQuery(limit=2))
    second = store.query(EventQuery(limit=2, before_id=first[-1].id))
    third = store.query(EventQuery(limit=2, before_id=second[-1].id))
    assert [e.id for e in first + second + third] == [person, *reversed(ids)]
    assert store.labels() == ["fall", "person"] and store.cameras() == ["a", "b"]


def test_delete_takes_the_row_and_every_file(store):
    event_id = finished_event(store, "door", 1000.0)
    assert sorted(p.name for p in store.media.iterdir()) == [
        f"{event_id}.clip.mp4", f"{event_id}.snapshot.jpg", f"{event_id}.thumb.jpg",
    ]  # fmt: skip
    assert store.delete(event_id)
    assert store.get(event_id) is None and list(store.media.iterdir()) == []
    assert not store.delete(event_id)


def test_an_event_deleted_while_recording_leaves_no_files_behind(store):
    event_id = store.open_event("door", "fall", 1, 1000.0, {"label": "fall"})
    store.delete(event_id)
    picture = jpeg(np.zeros((16, 16, 3), np.uint8))
    assert not store.save_snapshot(event_id, picture, picture)
    store.scratch(event_id, "clip").write_bytes(b"clip")
    assert not store.finish(event_id, 995.0, 1005.0, 10)
    assert list(store.media.iterdir()) == []


def test_retention_by_size_removes_the_oldest_and_lists_nothing_whose_file_is_gone(store):
    ids = [finished_event(store, "door", 1000.0 + i, clip_bytes=MB) for i in range(8)]
    recording = store.open_event("door", "fall", 1, 900.0, {"label": "fall"})
    before = store.total_bytes()
    deleted = store.enforce_retention(max_age_s=1e9, max_bytes=3 * MB + MB // 2, now=2000.0)
    assert deleted == ids[:5], "the oldest go first, and only as many as needed"
    assert store.total_bytes() <= 3.5 * MB < before
    listed = store.query(EventQuery())
    assert [e.id for e in listed] == [recording, *reversed(ids[5:])]
    for event in listed:
        if event.has_clip:
            assert store.file(event.id, "clip").is_file()
            assert store.file(event.id, "snapshot").is_file()
    for event_id in deleted:
        assert not any(p.name.startswith(f"{event_id}.") for p in store.media.iterdir())


def test_retention_by_age(store):
    old = finished_event(store, "door", 1000.0)
    new = finished_event(store, "door", 90_000.0)
    assert store.enforce_retention(max_age_s=86_400, max_bytes=10**12, now=100_000.0) == [old]
    assert [e.id for e in store.query(EventQuery())] == [new]


def test_sweep_removes_scratch_files_and_files_no_event_names(store):
    kept = finished_event(store, "door", 1000.0)
    (store.media / "999.clip.mp4").write_bytes(b"orphan of a crash between row and file")
    store.scratch(kept, "clip").write_bytes(b"a clip being written when the recorder died")
    (store.media / "notes.txt").write_text("not ours")
    assert store.sweep() == 3
    assert sorted(p.name for p in store.media.iterdir()) == [
        f"{kept}.clip.mp4", f"{kept}.snapshot.jpg", f"{kept}.thumb.jpg",
    ]  # fmt: skip


def test_a_tracked_object_is_listed_with_its_event_and_ended_with_its_path(store):
    event_id = store.open_event("door", "person", 7, 1000.0, {"label": "person", "score": 0.8})
    store.add_object(event_id, 3, "person", 1000.0)
    store.add_object(event_id, 3, "person", 1000.0)  # its start redelivered: once
    store.add_object(event_id, 4, "person", 1001.0)
    (seen, other) = store.get(event_id).objects
    assert (seen.object, seen.ended_at, seen.snapshot) == (3, None, False), "still in view"
    crop = jpeg(np.full((90, 40, 3), 200, np.uint8))
    assert store.end_object("door", 3, "person", (999.5, 1042.5), zones=["porch"],
                            path=[[10, 20], [30, 40]], snapshot=crop) == event_id  # fmt: skip
    assert (
        store.end_object("door", 99, "person", (None, 1043.0), zones=[], path=[], snapshot=None)
        is None
    )
    assert (
        store.end_object("yard", 4, "person", (None, 1043.0), zones=[], path=[], snapshot=None)
        is None
    )
    (seen, other) = store.get(event_id).objects
    assert (seen.started_at, seen.ended_at, seen.zones, seen.path, seen.snapshot) == (
        999.5, 1042.5, ["porch"], [[10, 20], [30, 40]], True,
    )  # fmt: skip
    assert other.ended_at is None, "another camera's object 4 is not this one"
    assert store.file(event_id, "object-3").read_bytes() == crop
    # Its snapshot and its record (two objects' rows, a zone, a path) count in the budget.
    record = 2 * OBJECT_ROW_BYTES + len('["porch"]') + len("[[10, 20], [30, 40]]")
    assert store.get(event_id).bytes == len(crop) + record
    assert store.delete(event_id)
    assert list(store.media.iterdir()) == [], "its objects' snapshots go with it"
    assert (
        store.end_object("door", 4, "person", (None, 1044.0), zones=[], path=[], snapshot=crop)
        is None
    )


def test_a_second_connection_sees_what_the_first_wrote(tmp_path):
    writer, reader = EventStore(tmp_path / "s"), EventStore(tmp_path / "s")
    event_id = writer.open_event("door", "qr", 1, 1000.0, {"label": "qr"})
    assert reader.get(event_id).camera == "door"
    assert reader.delete(event_id) and writer.get(event_id) is None


def test_a_clip_keeps_each_frames_capture_time_and_plays_as_h264(tmp_path):
    frames = pedestrian_frames(40, every=2)
    # 10 fps with a gap of half a second after frame 20 (a camera that dropped frames)
    times = [1000.0 + i * 0.1 + (0.5 if i >= 20 else 0.0) for i in range(len(frames))]
    writer = ClipWriter(tmp_path / "clip.mp4")
    for frame, at in zip(frames, times, strict=True):
        assert writer.add(jpeg(frame), at)
    assert not writer.add(jpeg(frames[0]), times[5]), "a frame older than the last is skipped"
    assert not writer.add(b"\xff\xd8 not a jpeg", times[-1] + 0.1)
    assert writer.close() == 40
    assert (writer.first_captured_at, writer.last_captured_at) == (times[0], times[-1])
    with av.open(str(tmp_path / "clip.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (640, 480)
        decoded = [frame.time for frame in container.decode(stream)]
    assert len(decoded) == 40
    assert decoded == pytest.approx([t - times[0] for t in times], abs=0.002)
    # x264 between key frames: far smaller than the JPEGs it was made of
    assert (tmp_path / "clip.mp4").stat().st_size < sum(len(jpeg(f)) for f in frames) / 3


def test_thumbnail_is_small_and_refuses_what_is_not_a_picture():
    small = thumbnail(jpeg(pedestrian_frames(1)[0]))
    image = cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    with pytest.raises(ValueError):
        thumbnail(b"nothing")


def test_an_events_objects_are_bounded_whatever_the_wire_claims(tmp_path: Path):
    """A forger's crowd and a forger's object: an event lists MOST_OBJECTS_PER_EVENT
    objects at most, an object its camera's zones (32 at most) and 64 path points, and
    all of it counts in the events' size budget."""
    from pipeline.core.eventstore import (
        MOST_OBJECTS_PER_EVENT,
        MOST_PATH_POINTS,
        MOST_ZONES_PER_OBJECT,
    )

    store = EventStore(tmp_path)
    event_id = store.open_event("door", "person", 1, 1000.0, {"label": "person"})
    listed = [store.add_object(event_id, n, "person", 1000.0) for n in range(250)]
    assert listed.count(True) == MOST_OBJECTS_PER_EVENT and not any(listed[200:])
    zones = [f"zone{n}" for n in range(100)]
    path = [[n, n] for n in range(500)]
    store.end_object("door", 7, "person", (None, 1010.0), zones=zones, path=path, snapshot=None)
    (seen,) = [o for o in store.get(event_id).objects if o.object == 7]
    assert len(seen.zones) == MOST_ZONES_PER_OBJECT and seen.path == path[-MOST_PATH_POINTS:]
    assert store.get(event_id).bytes >= MOST_OBJECTS_PER_EVENT * OBJECT_ROW_BYTES + 400
    assert store.has_media(event_id, "object-7") is False and store.camera_of(event_id) == "door"
    store.close()
