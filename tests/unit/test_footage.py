"""Footage without a broker: the packet message, segments written from real H.264 and
JPEG pictures, the store's crash safety and retention, and exports, all decoded by
FFmpeg (PyAV)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.core.config import load_config
from pipeline.core.footage_export import ExportError, export_range
from pipeline.core.footage_store import PLAYING_LEASE_S, FootageStore, Segment
from pipeline.core.messages import MessageError, Packet, pack, unpack
from pipeline.core.settings import ConfigError
from pipeline.roles.footage_packets import FootageBacklog
from pipeline.roles.segments import SegmentWriter
from testkit.footage import FPS, camera_packets, h264_file


def write_segments(store: FootageStore, packets: list[Packet], segment_s: float) -> list[Segment]:
    """Segments as the recorder cuts them: at the first key picture past ``segment_s``."""
    written, writer, name = [], None, ""
    for offset, packet in enumerate(packets):
        if writer is not None and (not writer.fits(packet) or (
                packet.key and writer.seconds_to(packet) >= segment_s)):  # fmt: skip
            written.append(finish(store, writer, name, offset))
            writer = None
        if writer is None:
            name = store.name_of("porch", packet.captured_at)
            store.folder("porch")
            writer = SegmentWriter(store.scratch(name), packet)
        writer.add(packet)
    written.append(finish(store, writer, name, len(packets)))
    return written


def finish(store: FootageStore, writer: SegmentWriter, name: str, offset: int) -> Segment:
    size = writer.finish()
    segment = Segment(0, "porch", writer.started_at, writer.ended_at(), name, size,
                      "h264", writer.copied, writer.width, writer.height, "continuous")  # fmt: skip
    return store.add_segment(writer.path, segment, offset)


def decoded(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0)), container.duration / 1e6


def test_a_packet_message_keeps_what_a_segment_needs_and_refuses_what_it_cannot_use(tmp_path):
    packets = camera_packets(h264_file(tmp_path / "cam.mp4", 3))
    first = packets[0]
    assert first.key and first.codec == "h264" and first.data[:4] == b"\x00\x00\x00\x01"
    again = unpack(pack(first), Packet)
    assert again == first
    bad = pack(Packet(camera="porch", seq=1, captured_at=1.0, codec="h264", width=16,
                      height=16, data=b"x", time_base=(1, 0)))  # fmt: skip
    with pytest.raises(MessageError, match="time_base"):
        unpack(bad, Packet)
    vp9 = pack(first).replace(b"h264", b"vp9x")
    with pytest.raises(MessageError, match="codec"):
        unpack(vp9, Packet)


def test_copied_segments_start_at_key_pictures_hold_every_packet_and_decode(tmp_path):
    packets = camera_packets(h264_file(tmp_path / "cam.mp4", 10, gop=20))  # a key every 2 s
    store = FootageStore(tmp_path / "store")
    segments = write_segments(store, packets, segment_s=4)
    assert [round(s.ended_at - s.started_at) for s in segments] == [4, 4, 2]
    total = 0
    for segment in segments:
        pictures, seconds = decoded(store.directory / segment.name)
        assert segment.copied and abs(seconds - (segment.ended_at - segment.started_at)) < 0.15
        total += pictures
    assert total == len(packets) == 100, "every picture the camera sent, none re-made"
    # They follow on without a hole.
    for earlier, later in itertools.pairwise(segments):
        assert abs(later.started_at - earlier.ended_at) < 0.01


def test_a_camera_that_changes_size_or_restarts_starts_a_new_segment(tmp_path):
    small = camera_packets(h264_file(tmp_path / "a.mp4", 2, (160, 120)))
    large = camera_packets(h264_file(tmp_path / "b.mp4", 2, (320, 240)), start=1_700_000_002.0)
    writer = SegmentWriter(tmp_path / "s.mp4", small[0])
    for packet in small:
        assert writer.fits(packet)
        writer.add(packet)
    assert not writer.fits(large[0]), "another size"
    restarted = camera_packets(h264_file(tmp_path / "c.mp4", 1, (160, 120)))
    assert not writer.fits(restarted[0]), "its clock went back: the camera started again"
    writer.abandon()
    assert not (tmp_path / "s.mp4").exists()


def test_jpeg_pictures_are_compressed_once_into_a_segment_that_plays(tmp_path):
    store = FootageStore(tmp_path / "store")
    pictures = []
    for index in range(30):
        image = np.full((120, 160, 3), index * 8, np.uint8)
        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        at = 1e9 + index / FPS
        pictures.append(Packet(camera="porch", seq=index, captured_at=at, codec="jpeg",
                               width=160, height=120, data=jpeg, key=True))  # fmt: skip
    pictures.insert(5, Packet(camera="porch", seq=99, captured_at=1e9 + 0.45, codec="jpeg",
                              width=160, height=120, data=b"\xff\xd8broken", key=True))  # fmt: skip
    [segment] = write_segments(store, pictures, segment_s=10)
    assert not segment.copied
    count, seconds = decoded(store.directory / segment.name)
    assert count == 30 and abs(seconds - 3.0) < 0.15, "the broken picture is skipped"


def test_a_segment_cut_short_by_a_crash_is_dropped_never_listed(tmp_path):
    store = FootageStore(tmp_path / "store")
    packets = camera_packets(h264_file(tmp_path / "cam.mp4", 4))
    [kept] = write_segments(store, packets[:20], segment_s=10)
    writer = SegmentWriter(store.scratch(store.name_of("porch", packets[20].captured_at)),
                           packets[20])  # fmt: skip
    for packet in packets[20:30]:
        writer.add(packet)  # the process dies here: the scratch file is all that is left
    (store.directory / "porch" / "stray.mp4").write_bytes(b"planted")
    assert store.sweep() == 2
    assert [s.name for s in store.segments("porch", 0, 2e9)] == [kept.name]
    assert store.next_offset("porch") == 20, "read again from the first packet not kept"
    assert sorted(p.name for p in (store.directory / "porch").iterdir()) == [
        kept.name.split("/")[1]
    ]


def test_retention_takes_the_oldest_first_under_the_cap_and_spares_what_plays(tmp_path):
    store = FootageStore(tmp_path / "store")
    now = time.time()
    made = []
    for index in range(6):
        name = store.name_of("porch", now - 600 + index * 10)
        scratch = store.create_scratch(name)
        scratch.write_bytes(b"\0" * 1000)
        made.append(store.add_segment(scratch, Segment(
            0, "porch", now - 600 + index * 10, now - 590 + index * 10, name, 1000, "h264",
            True, 160, 120, "continuous"), index + 1))  # fmt: skip
    store.played([made[1].id], now=now)  # someone is watching the second oldest
    removed = store.enforce_retention({"continuous": 86_400}, max_bytes=3000, now=now)
    assert [s.id for s in removed] == [made[0].id, made[2].id, made[3].id]
    left = store.segments("porch", 0, 2e9)
    assert [s.id for s in left] == [made[1].id, made[4].id, made[5].id]
    assert not (store.directory / made[0].name).exists()
    # Past the lease, and past their age, they go too.
    later = now + PLAYING_LEASE_S + 1
    removed = store.enforce_retention({"continuous": 60}, max_bytes=10**9, now=later)
    assert {s.id for s in removed} == {made[1].id, made[4].id, made[5].id}


def test_motion_footage_keeps_only_the_segments_near_an_event(tmp_path):
    store = FootageStore(tmp_path / "store")
    made = []
    for index in range(3):
        name = store.name_of("porch", 1000 + index * 10)
        scratch = store.create_scratch(name)
        scratch.write_bytes(b"\0" * 10)
        made.append(store.add_segment(scratch, Segment(
            0, "porch", 1000 + index * 10, 1010 + index * 10, name, 10, "h264", True, 16,
            16, "motion"), index + 1))  # fmt: skip
    store.note_activity("porch", 1010.5)  # within a second of the first two
    dropped = store.drop_still(margin_s=1.0, judged_before=2000)
    assert [s.id for s in dropped] == [made[2].id]
    assert [s.id for s in store.segments("porch", 0, 2e9)] == [made[0].id, made[1].id]


def test_an_export_is_one_file_copied_from_the_key_picture_before_its_start(tmp_path):
    store = FootageStore(tmp_path / "store")
    packets = camera_packets(h264_file(tmp_path / "cam.mp4", 12, gop=20))
    segments = write_segments(store, packets, segment_s=4)
    start = segments[0].started_at
    out = tmp_path / "export.mp4"
    count = export_range(segments, store.open_segment, start + 3.0, start + 9.0, out)
    pictures, seconds = decoded(out)
    # From the key picture at 2 s to 9 s: across a segment boundary (at 4 s and 8 s).
    assert pictures == count == 71 and abs(seconds - 7.1) < 0.15
    with pytest.raises(ExportError):
        export_range(segments, store.open_segment, start + 100, start + 110, out)


def test_the_footage_settings_are_checked_with_the_rest(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('[[cameras]]\nid = "porch"\nsource = "synthetic"\nfootage = "always"\n')
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.footage: must be one of none"):
        load_config(config)
    config.write_text('[[cameras]]\nid = "porch"\nsource = "synthetic"\nfootage = "motion"\n')
    with pytest.raises(ConfigError, match="needs a detector"):
        load_config(config)
    config.write_text('[record]\nsegment_s = 1\n[[cameras]]\nid = "porch"\nsource = '
                      '"synthetic"\nfootage = "continuous"\n')  # fmt: skip
    with pytest.raises(ConfigError, match=r"record\.segment_s"):
        load_config(config)
    config.write_text('[[cameras]]\nid = "porch"\nsource = "synthetic"\nfootage = "continuous"\n')
    assert [c.id for c in load_config(config).keeping_footage] == ["porch"]


def test_footage_waiting_for_the_broker_is_bounded_and_resumes_at_a_key_picture(monkeypatch):
    import pipeline.roles.footage_packets as packets_module

    monkeypatch.setattr(packets_module, "MOST_WAITING_BYTES", 10)
    backlog = FootageBacklog("porch")

    def piece(key: bool) -> Packet:
        return Packet(camera="porch", seq=0, captured_at=1.0, codec="h264", width=16,
                      height=16, data=b"1234", key=key)  # fmt: skip

    for key in (True, False, False, False):
        backlog.put(piece(key))
    # 8 bytes fit; the third is refused, and so is the rest up to the next key picture,
    # even once there is room again.
    assert [p.key for p in backlog.take()] == [True, False]
    backlog.put(piece(False))
    backlog.put(piece(True))
    assert [p.key for p in backlog.take()] == [True]
    assert backlog.dropped == 3


@pytest.fixture
def footage_site(tmp_path: Path):
    """An app over two cameras keeping footage, a few real segments of ``porch``, and
    users: an admin, a viewer of ``garage`` only."""
    from pipeline.core.users import UserFile
    from tests.conftest import make_config
    from web.app import create_app
    from web.auth import Auth
    from web.hub import FrameHub
    from web.metrics import StreamMetrics

    cameras = [{"id": cid, "source": "synthetic", "footage": "continuous"}
               for cid in ("porch", "garage")]  # fmt: skip
    config = make_config(cameras, record={"dir": str(tmp_path / "store")})
    store = FootageStore(config.store_dir)
    segments = write_segments(store, camera_packets(h264_file(tmp_path / "cam.mp4", 8)), 4)
    users = UserFile(tmp_path / "users.json")
    users.add("ada", "admin", "ada-password")
    users.add("kim", "viewer", "kim-password", ("garage",))
    hub = FrameHub(config)
    app = create_app(config, hub, auth=Auth(users_path=users.path), metrics=StreamMetrics())
    clients = {}
    for name in ("ada", "kim"):
        clients[name] = app.test_client()
        answer = clients[name].post("/login", data={"username": name,
                                                    "password": f"{name}-password"})  # fmt: skip
        assert answer.status_code == 302
    yield clients, segments, config
    hub.close()


def test_the_recordings_api_lists_serves_and_exports_to_those_who_may_see(footage_site):
    clients, segments, config = footage_site
    ada, kim = clients["ada"], clients["kim"]
    start, end = segments[0].started_at, segments[-1].ended_at
    listed = ada.get(f"/api/recordings/porch?from={start - 1}&to={end + 1}").json
    assert [s["id"] for s in listed["segments"]] == [s.id for s in segments]
    assert listed["state"] == "none" and listed["gaps"] == [] and listed["events"] == []
    first = ada.get(listed["segments"][0]["url"], headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and len(first.data) == 100
    exported = ada.get(f"/api/recordings/porch/export?from={start + 1}&to={start + 5}")
    assert exported.status_code == 200 and exported.mimetype == "video/mp4"
    assert "attachment" in exported.headers["Content-Disposition"]
    assert ada.get("/footage/porch").status_code == 200
    # An event of the camera: on the timeline, and its footage a link away.
    from pipeline.core.eventstore import EventStore

    EventStore(config.store_dir).open_event("porch", "person", 1, start + 2, {"label": "person"})
    [marked] = ada.get(f"/api/recordings/porch?from={start - 1}&to={end + 1}").json["events"]
    assert marked["label"] == "person" and marked["start"] == start + 2
    [event] = ada.get("/api/events?camera=porch").json["events"]
    assert event["footage"] == f"/footage/porch?at={round(start + 2 - 5, 3)}"
    # A viewer of another camera: as if there were no such camera, everywhere.
    for path in ("/api/recordings/porch", listed["segments"][0]["url"], "/footage/porch",
                 f"/api/recordings/porch/export?from={start}&to={end}"):  # fmt: skip
        assert kim.get(path).status_code == 404, path
    # A segment of one camera is not found under another's name.
    assert ada.get(f"/footage/garage/{segments[0].id}.mp4").status_code == 404


@pytest.mark.parametrize("query", [
    "from=abc", "from=nan", "to=inf", "from=-5", "from=200&to=100",
    "from=0&to=1000000000",  # more than the 7 days a listing covers
])  # fmt: skip
def test_a_bad_range_is_a_400_that_says_why(footage_site, query):
    ada = footage_site[0]["ada"]
    answer = ada.get(f"/api/recordings/porch?{query}")
    assert answer.status_code == 400 and answer.json["detail"]


def test_an_export_is_bounded_and_an_empty_range_is_a_404(footage_site):
    ada = footage_site[0]["ada"]
    too_long = ada.get("/api/recordings/porch/export?from=1000&to=10000")
    assert too_long.status_code == 400 and "3600" in too_long.json["detail"]
    nothing = ada.get("/api/recordings/porch/export?from=1000&to=1060")
    assert nothing.status_code == 404 and "no footage" in nothing.json["detail"]
    assert ada.get("/footage/porch/99999.mp4").status_code == 404
    assert ada.get("/footage/porch/x.mp4").status_code == 404
