"""The footage recorder on the real broker when the disk fills up: recording stops with
a log line and a state the pages show, nothing else stops, and once there is room
again the footage of the outage is written from the broker's stream (no gap)."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import subprocess
import time
from pathlib import Path

import pytest

import pipeline.roles.footage as footage_module
from pipeline.core.footage_store import FootageStore
from pipeline.roles.capture import CaptureWorker
from pipeline.roles.footage import FootageRecorder
from testkit.processes import wait_for
from tests.conftest import make_config

DISK_BYTES = 4 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real file system of its own, a few MB (tmpfs: mounting one needs root)."""
    if os.geteuid() != 0:
        message = "NOT ROOT: the full-disk test mounts a small tmpfs and cannot run"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(disk)],
                   check=True)  # fmt: skip
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Take every byte left on ``disk``."""
    filler = disk / "filler"
    with open(filler, "wb") as handle, contextlib.suppress(OSError):
        for _ in itertools.count():
            handle.write(b"\0" * 65536)
            handle.flush()
    return filler


def test_a_full_disk_stops_footage_alone_and_loses_none_of_it(
    namespace, roles, small_disk, monkeypatch, caplog
):
    monkeypatch.setattr(footage_module, "RETRY_S", 2.0)
    camera = {"id": "cam1", "source": "synthetic", "fps": 10, "width": 320, "height": 240,
              "footage": "continuous"}  # fmt: skip
    config = make_config([camera], namespace=namespace,
                         record={"dir": str(small_disk), "segment_s": 2})  # fmt: skip
    recorder = FootageRecorder(config, roles.stop)
    capture = CaptureWorker(config, config.cameras[0], roles.stop)
    roles.start(recorder.run, "footage")
    wait_for(recorder.subscribed.is_set, timeout=15)
    roles.start(capture.run, "capture")
    store = FootageStore(config.store_dir)

    def segments():
        return store.segments("cam1", 0, 2e9)

    wait_for(lambda: len(segments()) >= 2, timeout=30, interval=0.25)
    with caplog.at_level(logging.ERROR, logger="pipeline.roles.footage"):
        filler = fill(small_disk)
        full_at = len(segments())
        stopped = wait_for(lambda: (s := store.camera_state("cam1")) and s.state == "stopped"
                           and s, timeout=30, interval=0.25)  # fmt: skip
    # Said by whichever write met the full disk first: the segment's or the database's.
    assert "No space left on device" in stopped.reason or "disk is full" in stopped.reason
    assert any("recording stopped" in r.getMessage() for r in caplog.records)
    published = capture.counters.published
    wait_for(lambda: capture.counters.published > published + 20, timeout=10)  # capture goes on
    assert len(segments()) <= full_at + 1

    filler.unlink()  # room again
    wait_for(lambda: store.camera_state("cam1").state == "recording", timeout=30, interval=0.25)
    wait_for(lambda: len(segments()) >= full_at + 5, timeout=40, interval=0.25)
    kept = segments()
    start, end = kept[0].started_at, kept[-1].ended_at
    covered = sum(s.ended_at - s.started_at for s in kept)
    print(
        f"\n{len(kept)} segments over {end - start:.1f} s, covering {covered / (end - start):.1%}"
    )
    assert covered / (end - start) >= 0.99, "the outage's footage came from the stream"
    assert not roles.errors and recorder.segments_written >= len(kept)


def test_motion_footage_keeps_the_segments_around_an_event_and_drops_the_rest(
    namespace, roles, tmp_path, monkeypatch, broker_url
):
    import pika

    from pipeline.core.messages import Event, pack
    from pipeline.core.topology import Topology

    # Judged 3 s after a segment ends, by events within 2 s of it (the role waits 30 s:
    # an event may trail its picture, and comes up to the margin after the segment).
    monkeypatch.setattr(footage_module, "MOTION_MARGIN_S", 2.0)
    monkeypatch.setattr(footage_module, "MOTION_WAIT_S", 3.0)
    monkeypatch.setattr(footage_module, "RETENTION_EVERY_S", 0.5)
    camera = {"id": "cam1", "source": "synthetic", "fps": 10, "width": 320, "height": 240,
              "footage": "motion", "detectors": ["motion"]}  # fmt: skip
    config = make_config([camera], namespace=namespace,
                         record={"dir": str(tmp_path / "store"), "segment_s": 2})  # fmt: skip
    recorder = FootageRecorder(config, roles.stop)
    roles.start(recorder.run, "footage")
    wait_for(recorder.subscribed.is_set, timeout=15)
    roles.start(CaptureWorker(config, config.cameras[0], roles.stop).run, "capture")
    store = FootageStore(config.store_dir)
    wait_for(lambda: recorder.segments_written >= 3, timeout=30, interval=0.25)

    # An event, as a detector worker publishes it (no worker runs here: the test is one).
    event_at = time.time()
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    connection.channel().basic_publish(
        Topology(namespace).events_exchange, "cam1.motion",
        pack(Event(camera="cam1", seq=1, captured_at=event_at, detection={"label": "motion"})),
    )  # fmt: skip
    connection.close()
    margin = footage_module.MOTION_MARGIN_S

    def judged_after_it() -> tuple[list, list] | None:
        """(the kept segments, those of them up to the first hole after the event): a
        hole there means the segments past the margin were judged and dropped."""
        kept = store.segments("cam1", 0, 2e9)
        for earlier, later in itertools.pairwise(kept):
            if earlier.ended_at > event_at and later.started_at - earlier.ended_at > 1.0:
                return kept, [s for s in kept if s.ended_at <= earlier.ended_at]
        return None

    kept, judged = wait_for(judged_after_it, timeout=30, interval=0.25)
    print(
        f"\n{recorder.segments_written} segments written, {len(kept)} kept: "
        + ", ".join(f"{s.started_at - event_at:+.1f}..{s.ended_at - event_at:+.1f}" for s in kept)
    )
    assert len(judged) >= 2, "the segments near the event are kept"
    for segment in judged:
        assert segment.started_at - margin <= event_at <= segment.ended_at + margin, segment
    assert len(kept) <= recorder.segments_written - 2, "those far from it are dropped"


def test_footage_gone_from_the_stream_is_a_gap_the_log_names_and_the_timeline_shows(
    namespace, roles, tmp_path, broker_url, caplog
):
    """A recorder away longer than the broker keeps footage: the stream's retention
    (here its size, 64 MB, filled at once) has dropped what the recorder had not read.
    And a stream deleted and made again, its numbers starting afresh."""
    import pika

    from pipeline.core.messages import pack
    from pipeline.core.topology import Topology
    from testkit.footage import camera_packets, h264_file

    camera = {"id": "cam1", "source": "synthetic", "footage": "continuous"}
    config = make_config([camera], namespace=namespace, record={
        "dir": str(tmp_path / "store"), "segment_s": 2, "footage_buffer_mb": 64})  # fmt: skip
    topology = Topology(namespace)
    base = time.time() - 600
    packets = camera_packets(h264_file(tmp_path / "cam.mp4", 4), base, "cam1")
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()

    def publish(batch, padding: int = 0) -> None:
        for packet in batch:
            if padding:  # zeros after a picture's last NAL unit: allowed, and weighty
                packet.data += b"\0" * padding
            channel.basic_publish(topology.footage_exchange, "cam1", pack(packet))

    store = FootageStore(config.store_dir)
    first = FootageRecorder(config, roles.stop)
    roles.start(first.run, "footage-1")
    wait_for(first.subscribed.is_set, timeout=15)
    publish(packets)
    wait_for(lambda: store.newest_end("cam1") and store.newest_end("cam1") > packets[-1]
             .captured_at - 0.5, timeout=20, interval=0.25)  # fmt: skip
    roles.close()  # the recorder stops; meanwhile 80 MB of footage pass through the stream
    publish(camera_packets(h264_file(tmp_path / "cam.mp4", 8), base + 300, "cam1"), 1_000_000)

    later = type(roles)()
    try:
        with caplog.at_level(logging.WARNING, logger="pipeline.roles.footage"):
            second = FootageRecorder(config, later.stop)
            later.start(second.run, "footage-2")
            [gap] = wait_for(lambda: store.gaps("cam1", 0, 2e9), timeout=30, interval=0.25)
        assert "away longer than the broker keeps footage" in gap.reason
        assert gap.from_at == pytest.approx(packets[-1].captured_at, abs=0.5)
        assert any("were gone from the stream" in r.getMessage() for r in caplog.records)
        wait_for(lambda: store.newest_end("cam1") > gap.to_at + 2, timeout=30, interval=0.25)
    finally:
        later.close()

    # Deleted and made again (to apply new retention, say): its numbers start at 0 again,
    # below the recorder's place in the old one. It is read from its start.
    channel.queue_delete(topology.footage_queue("cam1"))
    third_roles = type(roles)()
    try:
        third = FootageRecorder(config, third_roles.stop)
        third_roles.start(third.run, "footage-3")
        wait_for(third.subscribed.is_set, timeout=15)
        publish(camera_packets(h264_file(tmp_path / "cam.mp4", 4), base + 900, "cam1"))
        made_anew = wait_for(lambda: [g for g in store.gaps("cam1", 0, 2e9)
                                      if g.reason.endswith("made anew")], timeout=15)  # fmt: skip
        assert len(made_anew) == 1
        wait_for(lambda: store.newest_end("cam1") > base + 902, timeout=30, interval=0.25)
    finally:
        third_roles.close()
        connection.close()
