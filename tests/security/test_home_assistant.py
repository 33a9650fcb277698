"""Home Assistant's view of a site, against the machine's Mosquitto: only what the site
has, ids that cannot collide, nothing left behind, counts that follow the tracker
(the third hostile review's MQTT findings)."""

from __future__ import annotations

import json
import uuid

import pytest

from pipeline.core.alarm_config import AlarmConfig
from pipeline.roles.alarm_targets import MqttTarget
from pipeline.roles.home_assistant import entity_id
from testkit.processes import wait_for
from tests.conftest import make_config
from tests.mqtt_client import MQTT_HOST, MQTT_PORT, Subscriber, clear_retained

pytestmark = pytest.mark.integration

YARD = [[0, 240], [640, 240], [640, 480], [0, 480]]


def tracking(camera_id: str, **more) -> dict:
    return {"id": camera_id, "source": "synthetic", "detectors": ["objects", "track"], **more}


def start_target(site: str, prefix: str, cameras: list[dict]) -> MqttTarget:
    config = make_config(cameras)
    alarm = AlarmConfig(name="home", url=f"mqtt://{MQTT_HOST}:{MQTT_PORT}", topic=prefix)
    target = MqttTarget(alarm, f"test-{uuid.uuid4().hex}", config.cameras, site=site)
    wait_for(target.connected.is_set, timeout=10)
    return target


def event(camera: str, name: str, **extra) -> dict:
    """An event as the alarm role hands it on: ``name`` is its label (an object's, or
    a lifecycle's: ``entered``, ``gone``, ``tracking``)."""
    return {"camera": camera, "label": name, "time": "2026-12-05T08:00:00.000Z", "extra": extra}


@pytest.fixture
def mqtt(mosquitto):
    """A site name, its topic prefix, and subscribers to both; everything retained under
    them is cleared afterwards."""
    site = f"t{uuid.uuid4().hex[:8]}"
    prefix = f"rabbitcam-test/{site}"
    discovered, listener = Subscriber("homeassistant"), Subscriber(prefix)
    yield site, prefix, discovered, listener
    discovered.close()
    listener.close()
    clear_retained("homeassistant", [t[len("homeassistant/") :] for t in discovered.topics()
                                     if f"__{site}" in t])  # fmt: skip
    clear_retained(prefix, [t[len(prefix) + 1 :] for t in listener.topics()])


def test_names_that_join_alike_make_different_entities(mqtt):
    """Camera ``front`` with zone ``yard`` beside camera ``front_yard``: before, both
    made ``rabbitcam_<site>_front_yard_person_count``, and one replaced the other."""
    site, prefix, discovered, _ = mqtt
    target = start_target(site, prefix, [
        tracking("front", zones=[{"name": "yard", "points": YARD}]),
        tracking("front_yard"),
    ])  # fmt: skip
    try:
        # front: person sensor, count, snapshot; its zone's count and occupancy.
        # front_yard: person sensor, count, snapshot.
        expected = 8
        wait_for(lambda: len([t for t in discovered.topics() if f"__{site}__" in t]) == expected,
                 timeout=10)  # fmt: skip
        configs = [
            json.loads(discovered.last(t)) for t in discovered.topics() if f"__{site}__" in t
        ]
        ids = [entity["unique_id"] for entity in configs]
        assert len(set(ids)) == expected, ids
        assert all(set(i) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-") for i in ids)
        assert {c["state_topic"] for c in configs if "state_topic" in c} >= {
            f"{prefix}/front/zones/yard/person/count", f"{prefix}/front_yard/person/count",
        }  # fmt: skip
    finally:
        target.close()


def test_an_objects_camera_gets_entities_for_what_it_tracks_and_records_only(mqtt):
    site, prefix, discovered, _ = mqtt
    every_class = {"id": "drive", "source": "synthetic", "record": ["car"],
                   "detectors": [{"name": "objects", "labels": ["all"]}]}  # fmt: skip
    target = start_target(site, prefix, [every_class])
    try:
        car = f"homeassistant/binary_sensor/{entity_id('rabbitcam', site, 'drive', 'label', 'car')}"
        wait_for(lambda: discovered.last(f"{car}/config"), timeout=10)
        target.cameras_changed(make_config([every_class]).cameras)  # nothing new to say
        sensors = [t for t in discovered.topics() if f"__{site}__" in t]
        assert sensors == [f"{car}/config"], f"one entity, not 80: {sensors}"
    finally:
        target.close()


def test_leftovers_of_cameras_and_zones_the_site_no_longer_has_are_removed(mqtt):
    """A site whose zone and camera were removed while it was stopped: on connecting,
    it clears their retained configs and counts, and leaves other sites' alone."""
    import paho.mqtt.client as mqtt_client

    site, prefix, discovered, listener = mqtt
    gone_config = f"homeassistant/sensor/{entity_id('rabbitcam', site, 'shed', 'count', 'person')}"
    foreign = f"homeassistant/sensor/{entity_id('rabbitcam', site + 'x', 'shed')}/config"
    leftovers = {
        f"{gone_config}/config": json.dumps({"availability_topic": f"{prefix}/status"}),
        foreign: json.dumps({"availability_topic": f"{prefix}x/status"}),
        f"{prefix}/shed/person/count": "3",
        f"{prefix}/porch/zones/lawn/person/count": "2",
        f"{prefix}/porch/giraffe/state": "ON",
    }
    writer = mqtt_client.Client(mqtt_client.CallbackAPIVersion.VERSION2)
    writer.connect(MQTT_HOST, MQTT_PORT)
    writer.loop_start()
    for topic, payload in leftovers.items():
        writer.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    writer.loop_stop()
    writer.disconnect()
    target = start_target(site, prefix, [tracking("porch", zones=[{"name": "steps",
                                                                    "points": YARD}])])  # fmt: skip
    try:
        for topic in leftovers:
            if topic != foreign:
                wait_for(lambda t=topic: (discovered.last(t) if t.startswith("home")
                                          else listener.last(t)) == "", timeout=15)  # fmt: skip
        late = Subscriber("homeassistant")
        try:
            wait_for(lambda: late.last(foreign), timeout=5)  # another site's: kept
        finally:
            late.close()
        assert listener.last(f"{prefix}/status") == "online"
    finally:
        target.close()
        clear_retained("homeassistant", [foreign[len("homeassistant/") :]])


def test_counts_only_for_configured_names_and_a_census_replaces_them(mqtt):
    site, prefix, _, listener = mqtt
    target = start_target(site, prefix, [tracking("porch", zones=[{"name": "steps",
                                                                    "points": YARD}])])  # fmt: skip
    count, steps = f"{prefix}/porch/person/count", f"{prefix}/porch/zones/steps/person/count"
    try:
        # Forged: a camera the site has not, zones it has not, a label it does not track.
        for index in range(50):
            target.follow(event(f"ghost{index}", "person", object=index, zones=["steps"]))
        target.follow(event("porch", "person", object=1, zones=["lawn", "steps", "x" * 1000]))
        target.follow(event("porch", "entered", object=1, label="person", zone="attic"))
        target.follow(event("porch", "giraffe", object=9, zones=[]))
        wait_for(lambda: listener.last(count) == "1" and listener.last(steps) == "1", timeout=10)
        target.follow(event("porch", "person", object=2, zones=[]))
        wait_for(lambda: listener.last(count) == "2", timeout=10)
        ours = {f"{prefix}/status", count, steps}
        assert set(listener.topics()) == ours, sorted(set(listener.topics()) - ours)
        assert set(target.occupancy.in_view) == {("porch", "person")}
        # A worker that restarted knows nobody: its first census empties the counts
        # (no 'gone' ever comes for the objects the old one had).
        target.follow(event("porch", "tracking", objects=[], labels=[], zones=[], inside=[]))
        wait_for(lambda: listener.last(count) == "0" and listener.last(steps) == "0", timeout=10)
        # A census as the track stage sends it (flat lists, as the wire carries them),
        # with forged parts: a label not tracked, a zone not configured, a place past
        # the zones, a pair that is no pair.
        target.follow(event("porch", "tracking", objects=[7, 8, 9], labels=["person", "giraffe"],
                            zones=["steps", "attic"],
                            inside=[[7, 0], [8, 0], [7, 1], [7, 5], [7], "x"]))  # fmt: skip
        wait_for(lambda: listener.last(count) == "1" and listener.last(steps) == "1", timeout=10)
        # And one whose census stopped coming (no worker at all) drops to zero.
        target.occupancy.census_at["porch"] -= 3600
        target.tick()
        wait_for(lambda: listener.last(count) == "0" and listener.last(steps) == "0", timeout=10)
    finally:
        target.close()
