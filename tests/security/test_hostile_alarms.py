"""One real ``rabbitcam alarm`` against hostile labels and hostile endpoints at once.

Targets: a webhook that answers (the control), one that answers garbage that is
no HTTP and later recovers, one that trickles its reply a byte at a time and
never finishes, and MQTT through the machine's Mosquitto. Events carry labels
with MQTT wildcards and slashes. Every other target keeps delivering, the
process keeps running, nothing is lost that was not dead-lettered with why, and
SIGTERM stops it within seconds while a send hangs.
"""

from __future__ import annotations

import time
from urllib.parse import unquote

import pika

from pipeline.core.messages import Event, pack
from pipeline.core.topology import Topology
from testkit.processes import free_port, wait_for
from tests.mqtt_client import MQTT_HOST, MQTT_PORT, Subscriber, clear_retained
from tests.security.conftest import now_seq
from tests.webhook_server import HostileEndpoint, WebhookEndpoint

HOSTILE_LABELS = ["a+b", "#", "x/y", "person"]
ALARMS = ("control", "garbage", "trickle", "stuck", "home")


def alarm_site(control: str, garbage: str, trickle: str, stuck: str, prefix: str) -> str:
    return f"""
[[cameras]]
id = "cam1"
source = "synthetic"
detectors = ["motion"]

[[alarms]]
name = "control"
url = "{control}"
cooldown_s = 0

[[alarms]]
name = "garbage"
url = "{garbage}"
cooldown_s = 0
attempts = 100
timeout_s = 1

[[alarms]]
name = "trickle"
url = "{trickle}"
labels = ["person"]
attempts = 2
timeout_s = 1

[[alarms]]
name = "stuck"
url = "{stuck}"
labels = ["person"]
attempts = 1000
timeout_s = 60

[[alarms]]
name = "home"
url = "mqtt://{MQTT_HOST}:{MQTT_PORT}"
topic = "{prefix}"
"""


def test_hostile_labels_and_endpoints_cost_only_their_own_alarms(make_site, mosquitto, broker_url):
    control = WebhookEndpoint(free_port())
    control.start()
    garbage_port = free_port()
    garbage = HostileEndpoint(garbage_port, "garbage")
    trickle = HostileEndpoint(free_port(), "trickle", every_s=0.2)
    stuck = HostileEndpoint(free_port(), "trickle", every_s=0.2)
    recovered = WebhookEndpoint(garbage_port)
    site, publisher = make_site("")
    prefix = f"rabbitcam-test/{site.namespace}"
    site.config.write_text(alarm_site(control.url, garbage.url, trickle.url, stuck.url, prefix))
    listener = Subscriber(prefix)
    try:
        alarm = site.start(["alarm", str(site.config)])
        wait_for(lambda: listener.last(f"{prefix}/status") == "online", timeout=20)
        topology = Topology(site.namespace)
        # Every target's queue is bound and consumed once the process has subscribed.
        wait_for(lambda: _queues_consumed(broker_url, topology), timeout=20)
        for label in HOSTILE_LABELS:
            body = pack(Event("cam1", now_seq(), time.time(), {"label": label, "score": 0.9}))
            publisher.raw(topology.events_exchange, "cam1.event", body)

        # The control webhook gets every alarm, hostile labels included.
        try:
            wait_for(lambda: len(control.received) == len(HOSTILE_LABELS), timeout=30)
        except AssertionError:
            raise AssertionError(f"control got {control.alarms()}\n{alarm.tail(6000)}") from None
        assert sorted(a["label"] for a in control.alarms()) == sorted(HOSTILE_LABELS)
        # MQTT: each label's event on a topic of its own, one level, read back as sent.
        events_sent = lambda: all(  # noqa: E731
            listener.last(_state(prefix, label).removesuffix("/state")) for label in HOSTILE_LABELS
        )
        try:
            wait_for(events_sent, timeout=30)
        except AssertionError:
            raise AssertionError(f"MQTT topics {sorted(listener.topics())}\n"
                                 f"{alarm.tail(6000)}") from None  # fmt: skip
        levels = {t[len(prefix) + len("/cam1/") :] for t in listener.topics() if "/cam1/" in t}
        sent = {unquote(level) for level in levels if "/" not in level}
        assert set(HOSTILE_LABELS) <= sent
        assert not [t for t in listener.topics() if "+" in t or "#" in t]
        # A retained state only for a sensor the camera has (its motion), never for
        # labels a publisher makes up: they would stay on the broker for good.
        body = pack(Event("cam1", now_seq(), time.time(), {"label": "motion", "score": 0.9}))
        publisher.raw(topology.events_exchange, "cam1.motion", body)
        wait_for(lambda: listener.last(_state(prefix, "motion")) == "ON", timeout=15)
        assert not [label for label in HOSTILE_LABELS if listener.last(_state(prefix, label))]

        # The garbage endpoint recovers: its alarms, retried, all arrive. Its
        # target runs on its own, so its first try may come after the others'.
        wait_for(lambda: garbage.requests >= 1, timeout=20)
        garbage.stop()
        recovered.start()
        wait_for(lambda: len(recovered.received) == len(HOSTILE_LABELS) + 1, timeout=30)
        assert sorted(a["label"] for a in recovered.alarms()) == sorted([*HOSTILE_LABELS, "motion"])

        # The trickling endpoint: each attempt cut off at 1 s, given up, dead-lettered.
        def trickle_gave_up() -> list[str]:
            return [reason for source, reason in publisher.dead_letters()
                    if source == "alarm:trickle"]  # fmt: skip

        reasons = wait_for(trickle_gave_up, timeout=20)
        assert "gave up" in reasons[0] and "within 1" in reasons[0], reasons
        assert trickle.requests == 2
        assert alarm.process.poll() is None, alarm.tail()

        # Still alive and delivering: one more alarm reaches every target that wants it.
        body = pack(Event("cam1", now_seq(), time.time(), {"label": "later", "score": 0.5}))
        publisher.raw(topology.events_exchange, "cam1.later", body)
        wait_for(lambda: len(control.received) == len(HOSTILE_LABELS) + 2, timeout=15)
        wait_for(lambda: len(recovered.received) == len(HOSTILE_LABELS) + 2, timeout=15)
        wait_for(lambda: listener.last(f"{prefix}/cam1/later"), timeout=15)

        # "stuck" is in the middle of a 60 s send: SIGTERM still stops the process.
        assert stuck.requests >= 1
        started = time.monotonic()
        code = alarm.stop(timeout=15)
        took = time.monotonic() - started
        assert code == 0 and took < 8, f"exit {code} after {took:.1f} s\n{alarm.tail()}"
        # Its alarm was being sent, not delivered: it waits in the broker, not lost,
        # with those queued behind it ("motion" and "later", which it would pass over).
        assert _waiting(broker_url, topology, "stuck") == 3
    finally:
        listener.close()
        for server in (control, recovered):
            server.stop()
        for server in (garbage, trickle, stuck):
            server.stop()
        clear_retained(prefix, ["status", *(_state(prefix, x)[len(prefix) + 1 :]
                                            for x in [*HOSTILE_LABELS, "motion"])])  # fmt: skip
        _delete_alarm_queues(broker_url, Topology(site.namespace))


def _state(prefix: str, label: str) -> str:
    from pipeline.roles.alarm_targets import topic_level

    return f"{prefix}/cam1/{topic_level(label)}/state"


def _queues_consumed(url: str, topology: Topology) -> bool:
    """Every target's queue exists and is consumed: a target binds its queue after
    declaring it and consumes after binding, so an event published now reaches it."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        for name in ALARMS:
            channel = connection.channel()
            declared = channel.queue_declare(topology.alarm_queue(name), passive=True)
            channel.close()
            if declared.method.consumer_count < 1:
                return False
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


def _waiting(url: str, topology: Topology, alarm: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        declared = connection.channel().queue_declare(topology.alarm_queue(alarm), passive=True)
        return declared.method.message_count
    finally:
        connection.close()


def _delete_alarm_queues(url: str, topology: Topology) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for name in ALARMS:
        channel.queue_delete(topology.alarm_queue(name))
    connection.close()
