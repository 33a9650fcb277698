"""Where alarms go: a webhook (a JSON POST) or an MQTT broker (home automation).

A target's ``send`` makes one attempt and says whether it worked; the alarm
role (``pipeline.roles.alarms``) decides about retries. ``observe`` sees
every wanted event, also those the cooldown holds back, so that MQTT states
(``ON`` while a label is seen, ``OFF`` after ``clear_s``) follow the camera.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pipeline.core.alarm_config import AlarmConfig
from pipeline.core.camera_config import CameraConfig
from pipeline.core.urls import redact_url
from pipeline.roles import home_assistant

LOGGER = logging.getLogger(__name__)

USER_AGENT = "rabbitcam-alarms"
MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# What a webhook may answer with: read and dropped (the status is what counts).
REPLY_READ_BYTES = 65536
# The labels of a camera whose MQTT state is kept (active, last seen): a
# publisher inventing labels must not grow the retained state without bound.
MQTT_LABELS_PER_CAMERA = 32
# After connecting, retained messages of ours are looked through for this long: those
# the broker sends on subscribing come at once.
SWEEP_S = 10.0


def topic_level(text: str) -> str:
    """``text`` as one MQTT topic level: ``+`` and ``#`` are wildcards (paho
    refuses them in a topic), ``/`` would climb into another level. Everything
    but letters, digits and ``_.-~`` is percent-encoded, so that two labels never
    share a topic and the label can be read back (``urllib.parse.unquote``)."""
    return quote(text, safe="")


def endpoint_of(url: str) -> str:
    """A webhook URL fit for a log line: its scheme, host and port only. Services
    such as ntfy carry the secret in the path (``https://ntfy.sh/<secret topic>``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    hidden = "/…" if parts.path.strip("/") or parts.query else "/"
    return f"{parts.scheme}://{host}{port}{hidden}"


# 4xx answers a retry may change: Request Timeout, Too Early, Too Many Requests.
RETRIED_4XX = (408, 425, 429)


@dataclass
class Attempt:
    ok: bool
    why: str = ""
    # A refusal that no retry will change (a 4xx other than 408, 425 and 429).
    final: bool = False


class Target:
    def __init__(self, alarm: AlarmConfig) -> None:
        self.alarm = alarm

    def describe(self) -> str:
        return f"{self.alarm.kind} {redact_url(self.alarm.url)}"

    def send(self, payload: dict[str, Any], snapshot: bytes | None = None) -> Attempt:
        """Deliver one alarm; ``snapshot``, the picture its event carries (a tracked
        object's crop), sent as the target's kind of message can carry it."""
        raise NotImplementedError

    def observe(self, payload: dict[str, Any]) -> None:
        """An event this target alarms about, before its cooldown."""

    def follow(self, payload: dict[str, Any], snapshot: bytes | None = None) -> None:
        """Any event of the site, whether this target alarms about it or not (the
        objects' comings and goings keep counts right); ``snapshot``, the picture
        the event carries (a tracked object's crop)."""

    def tick(self) -> None:
        pass

    def cameras_changed(self, cameras: tuple[CameraConfig, ...]) -> None:
        """The site's cameras as they are now (a camera file added, changed, removed)."""

    def close(self) -> None:
        pass


class WebhookTarget(Target):
    """A JSON POST per alarm, signed when the target has a ``secret``.

    ``X-Rabbitcam-Timestamp`` is when this attempt was sent (Unix seconds),
    ``X-Rabbitcam-Delivery`` the alarm's id (the same on every attempt of one
    alarm, also in the body as ``delivery``), and ``X-Rabbitcam-Signature``
    ``sha256=`` HMAC-SHA256 of ``<timestamp>.<body>``: a receiver that checks the
    signature and the timestamp's age refuses a replayed request, and one that
    remembers delivery ids takes a redelivery once.

    ``timeout_s`` bounds the whole request, from connecting to the last byte of
    the reply: an endpoint that trickles its answer is cut off at the deadline.
    Redirects are not followed (a redirect would turn the POST into a GET).
    """

    def describe(self) -> str:
        return f"webhook {endpoint_of(self.alarm.url)}"

    def send(self, payload: dict[str, Any], snapshot: bytes | None = None) -> Attempt:
        if snapshot is not None:  # JSON carries it as base64; a phone's notification shows it
            payload = {**payload, "snapshot_jpeg": base64.b64encode(snapshot).decode("ascii")}
        body = json.dumps(payload, allow_nan=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        headers.update(dict(self.alarm.headers))
        stamp = str(int(time.time()))
        headers["X-Rabbitcam-Timestamp"] = stamp
        if "delivery" in payload:
            headers["X-Rabbitcam-Delivery"] = str(payload["delivery"])
        if self.alarm.secret:
            headers["X-Rabbitcam-Signature"] = signature(self.alarm.secret, stamp, body)
        try:
            status = post_within(self.alarm.url, body, headers, self.alarm.timeout_s)
        except TimeoutError:
            return Attempt(False, f"no complete reply within {self.alarm.timeout_s} s")
        except (OSError, ValueError, http.client.HTTPException) as error:
            # refused, reset, TLS, DNS; or a reply that is no HTTP (BadStatusLine & co.)
            return Attempt(False, f"{type(error).__name__}: {error}"[:300])
        if 200 <= status < 300:
            return Attempt(True)
        if 300 <= status < 400:
            return Attempt(False, f"HTTP {status}: redirected (not followed)", final=True)
        final = 400 <= status < 500 and status not in RETRIED_4XX
        return Attempt(False, f"HTTP {status}", final=final)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Rabbitcam-Signature`` of a webhook request (see docs/alarms.md)."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def post_within(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POST ``body``; the reply's status. The whole exchange ends by ``timeout_s``
    (``TimeoutError`` past it): a socket timeout alone is per read, and an endpoint
    sending a byte now and then would hold the sender for ever."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout_s,
            context=ssl.create_default_context(),
        )  # fmt: skip
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout_s)
    expired = threading.Event()

    def cut_off() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on it

    timer = threading.Timer(timeout_s, cut_off)
    timer.daemon = True
    timer.start()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(REPLY_READ_BYTES)
        status = response.status
    except Exception:
        if expired.is_set():
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()
        connection.close()
    if expired.is_set():
        raise TimeoutError
    return status


class MqttTarget(Target):
    """Publishes to an MQTT broker (Mosquitto, Home Assistant's, RabbitMQ's MQTT plugin).

    - ``<topic>/<camera>/<label>``: the event's JSON, QoS 1, for automations
      (camera and label each one topic level: see ``topic_level``);
    - ``<topic>/<camera>/<label>/state``: ``ON`` (retained) while the label is
      seen, ``OFF`` once it has not been for ``clear_s`` — a binary sensor;
    - ``<topic>/<camera>/state``: retained JSON, the labels active now and when
      each was last seen (the MQTT_LABELS_PER_CAMERA seen last);
    - ``<topic>/status``: ``online`` (retained), ``offline`` as the will;
    - with the site's cameras given, Home Assistant's discovery of each camera's
      sensors and the counts of tracked objects (see ``home_assistant``).

    ``mqtt://user:pass@host:1883`` or ``mqtts://…:8883`` (``?cacertfile=`` for
    a private CA). paho's own thread keeps the connection and reconnects.
    """

    def __init__(
        self,
        alarm: AlarmConfig,
        client_id: str,
        cameras: tuple[CameraConfig, ...] = (),
        site: str = "rabbitcam",
    ) -> None:
        import paho.mqtt.client as mqtt

        super().__init__(alarm)
        self.site = site
        self.topic = alarm.topic
        self.lock = threading.Lock()
        self.discovery: list[tuple[str, str]] = []
        self.occupancy = home_assistant.Occupancy()
        # camera -> its sensors' labels; None: no site given, every camera and label taken
        self.sensors: dict[str, set[str]] | None = None
        if cameras:
            self._know(cameras)
        self.sweep_until = 0.0  # retained leftovers are looked for until then
        parts = urlsplit(alarm.url)
        self.active: dict[tuple[str, str], float] = {}  # (camera, label) -> last seen
        self.last: dict[str, dict[str, str]] = {}  # camera -> label -> ISO time
        self.names: dict[str, str] = {}
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        if parts.username is not None:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if parts.scheme == "mqtts":
            query = dict(parse_qsl(parts.query))
            client.tls_set_context(ssl.create_default_context(cafile=query.get("cacertfile")))
        client.will_set(f"{self.topic}/status", "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_retained
        self.client = client
        self.connected = threading.Event()
        self.swept = 0  # retained leftovers removed
        self.sweeping = False
        self.closing = False
        client.connect_async(parts.hostname or "localhost", parts.port or MQTT_PORTS[parts.scheme],
                             keepalive=30)  # fmt: skip
        client.loop_start()

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            LOGGER.warning("alarm %s: MQTT broker refused us: %s", self.alarm.name, reason)
            return
        client.publish(f"{self.topic}/status", "online", qos=1, retain=True)
        LOGGER.info("alarm %s: connected to %s", self.alarm.name, redact_url(self.alarm.url))
        if self.sensors is not None:
            # What the broker kept of ours from before (cameras, zones and labels since
            # removed, by this process or while the site was stopped) arrives as retained
            # messages on subscribing; the sweep removes what is no longer the site's.
            self.sweep_until = time.monotonic() + SWEEP_S
            self.sweeping = True
            client.subscribe([(f"{home_assistant.DISCOVERY_PREFIX}/+/+/config", 1),
                              (f"{self.topic}/#", 1)])  # fmt: skip
        # What happened while we were away is unknown: the states stand as they
        # were, published again (the broker may have lost them), and their clear_s
        # runs from now, so that alarms queued meanwhile refresh them before any
        # goes OFF (else a state flips OFF, then ON, for events that all came).
        now = time.monotonic()
        with self.lock:
            for key in self.active:
                self.active[key] = now
            active = list(self.active)
            cameras = set(self.last)
        for camera, label in active:  # paho's own thread: queue, never wait here
            client.publish(self._state_topic(camera, label), "ON", qos=1, retain=True)
        for camera in cameras:
            client.publish(self._camera_topic(camera), self._camera_state(camera), qos=1,
                           retain=True)  # fmt: skip
        with self.lock:
            discovery = list(self.discovery)
            counts = self.occupancy.counts()
        for topic, entity in discovery:
            client.publish(topic, entity, qos=1, retain=True)
        for key, count in counts:
            client.publish(self._count_topic(key), str(count), qos=1, retain=True)
        self.connected.set()  # only now: a tick before this would judge stale times

    def _know(self, cameras: tuple[CameraConfig, ...]) -> None:
        """The site's cameras: what is discovered, counted and kept retained for them."""
        wanted = self.alarm.labels
        discovery = home_assistant.discovery(self.topic, self.site, cameras, wanted)
        with self.lock:
            self.discovery = discovery
            self.occupancy.scenes = {c.id: home_assistant.Scene.of(c) for c in cameras}
            self.sensors = {c.id: set(home_assistant.sensor_labels(c, wanted)) for c in cameras}

    def _kept_topics(self) -> set[str]:
        """Every retained topic of ours the site has now (under the lock)."""
        kept = {f"{self.topic}/status"}
        for camera, labels in (self.sensors or {}).items():
            kept.add(self._camera_topic(camera))
            kept.update(self._state_topic(camera, label) for label in labels)
            scene = self.occupancy.scenes.get(camera)
            for label in scene.labels if scene else ():
                kept.add(self._count_topic((camera, label)))
                kept.add(self._snapshot_topic(camera, label))
                kept.update(self._count_topic((camera, z, label)) for z in scene.zones)
        return kept

    def _on_retained(self, client: Any, _userdata: Any, message: Any) -> None:
        """paho's thread: a retained message found on subscribing; removed (an empty
        retained message) when it is ours and the site no longer has it."""
        if not message.retain or not message.payload or time.monotonic() > self.sweep_until:
            return
        topic = message.topic
        if topic.startswith(f"{home_assistant.DISCOVERY_PREFIX}/"):
            try:
                entity = json.loads(message.payload[:65536])
            except ValueError:
                return
            ours = isinstance(entity, dict) and entity.get("availability_topic") == (
                f"{self.topic}/status"
            )
            with self.lock:
                stale = ours and topic not in dict(self.discovery)
        else:
            with self.lock:
                stale = topic not in self._kept_topics()
        if stale:
            client.publish(topic, b"", qos=1, retain=True)
            self.swept += 1

    def _on_disconnect(self, *_args: Any) -> None:
        if self.connected.is_set() and not self.closing:
            LOGGER.warning("alarm %s: lost the MQTT broker; reconnecting", self.alarm.name)
        self.connected.clear()

    def _state_topic(self, camera: str, label: str) -> str:
        return f"{self.topic}/{topic_level(camera)}/{topic_level(label)}/state"

    def _count_topic(self, key: tuple[str, ...]) -> str:
        """A camera's label count ``(camera, label)``, or a zone's ``(camera, zone, label)``."""
        levels = [topic_level(part) for part in key]
        if len(levels) == 2:
            return f"{self.topic}/{levels[0]}/{levels[1]}/count"
        return f"{self.topic}/{levels[0]}/zones/{levels[1]}/{levels[2]}/count"

    def follow(self, payload: dict[str, Any], snapshot: bytes | None = None) -> None:
        with self.lock:
            changed = self.occupancy.follow(payload)
            scene = self.occupancy.scenes.get(payload["camera"])
        for key, count in changed:
            self._publish(self._count_topic(key), str(count), retain=True)
        extra = payload.get("extra")
        label = extra.get("label", payload["label"]) if isinstance(extra, dict) else None
        known = self.sensors is None or (scene is not None and label in scene.labels)
        if snapshot is not None and isinstance(label, str) and known:
            # an object's start or end: the label's last snapshot
            self._publish(self._snapshot_topic(payload["camera"], label), snapshot, retain=True)

    def _snapshot_topic(self, camera: str, label: str) -> str:
        return f"{self.topic}/{topic_level(camera)}/{topic_level(label)}/snapshot"

    def _camera_topic(self, camera: str) -> str:
        return f"{self.topic}/{topic_level(camera)}/state"

    def _publish(self, topic: str, payload: str | bytes, retain: bool = False) -> Attempt:
        if not (self.connected.is_set() and self.client.is_connected()):
            # Not queued by paho for later: the retry is ours, so nothing goes twice.
            return Attempt(False, "not connected to the MQTT broker")
        try:
            info = self.client.publish(topic, payload, qos=1, retain=retain)
            info.wait_for_publish(timeout=self.alarm.timeout_s)
        except (ValueError, RuntimeError) as error:  # paho: not queued, or the link went
            return Attempt(False, f"the MQTT client could not publish: {error}")
        if not info.is_published():
            return Attempt(False, f"the MQTT broker did not acknowledge within "
                                  f"{self.alarm.timeout_s} s (rc {info.rc})")  # fmt: skip
        return Attempt(True)

    def send(self, payload: dict[str, Any], snapshot: bytes | None = None) -> Attempt:
        """The event's JSON; its picture has a topic of its own, as a JPEG (``follow``)."""
        topic = f"{self.topic}/{topic_level(payload['camera'])}/{topic_level(payload['label'])}"
        return self._publish(topic, json.dumps(payload, allow_nan=False))

    def observe(self, payload: dict[str, Any]) -> None:
        camera, label = payload["camera"], payload["label"]
        with self.lock:
            if self.sensors is not None and label not in self.sensors.get(camera, ()):
                return  # a state only for a configured camera's sensors
            was_on = (camera, label) in self.active
            self.active[(camera, label)] = time.monotonic()
            last = self.last.setdefault(camera, {})
            last.pop(label, None)  # newest last: the oldest are the first to go
            last[label] = payload["time"]
            evicted = self._bound_labels(camera)
            self.names[camera] = payload.get("camera_name", camera)
        for gone in evicted:  # forgotten: its retained state is removed
            self._publish(self._state_topic(camera, gone), "", retain=True)
        if not was_on:
            self._publish(self._state_topic(camera, label), "ON", retain=True)
        self._publish(self._camera_topic(camera), self._camera_state(camera), retain=True)

    def _bound_labels(self, camera: str) -> list[str]:
        """Forget a camera's least recently seen labels beyond MQTT_LABELS_PER_CAMERA
        (under the lock); the labels forgotten."""
        last = self.last[camera]
        evicted: list[str] = []
        while len(last) > MQTT_LABELS_PER_CAMERA:
            label = next(iter(last))
            del last[label]
            self.active.pop((camera, label), None)
            evicted.append(label)
        return evicted

    def tick(self) -> None:
        if not self.connected.is_set():
            return  # nothing can be published, and the times are reset on reconnection
        now = time.monotonic()
        with self.lock:
            expired = [key for key, at in self.active.items() if now - at > self.alarm.clear_s]
            stale = self.occupancy.forget_stale(now)
        for key, count in stale:  # cameras nobody tracks any more
            self._publish(self._count_topic(key), str(count), retain=True)
        if self.sweeping and now > self.sweep_until:
            self.sweeping = False
            self.client.unsubscribe([f"{home_assistant.DISCOVERY_PREFIX}/+/+/config",
                                     f"{self.topic}/#"])  # fmt: skip
            if self.swept:
                LOGGER.info(
                    "alarm %s: removed %d retained messages of cameras, zones or labels the "
                    "site no longer has", self.alarm.name, self.swept,
                )  # fmt: skip
        for camera, label in expired:
            if self._publish(self._state_topic(camera, label), "OFF", retain=True).ok:
                with self.lock:
                    self.active.pop((camera, label), None)
                self._publish(self._camera_topic(camera), self._camera_state(camera), retain=True)

    def cameras_changed(self, cameras: tuple[CameraConfig, ...]) -> None:
        """Home Assistant discovers a camera added while this runs, sees a changed one's
        entities as they are now, and removes those of a camera that has gone (an
        empty retained config deletes an entity)."""
        with self.lock:
            before = dict(self.discovery)
        self._know(cameras)
        with self.lock:
            now = list(self.discovery)
        for topic, entity in now:
            if before.get(topic) != entity:
                self._publish(topic, entity, retain=True)
        for topic in set(before) - {topic for topic, _ in now}:
            self._publish(topic, "", retain=True)

    def _camera_state(self, camera: str) -> str:
        with self.lock:
            state = {
                "camera": camera,
                "name": self.names.get(camera, camera),
                "active": sorted(label for cam, label in self.active if cam == camera),
                "last": dict(self.last.get(camera, {})),
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        return json.dumps(state)

    def close(self) -> None:
        self.closing = True
        if self.client.is_connected():
            self.client.publish(
                f"{self.topic}/status", "offline", qos=1, retain=True
            ).wait_for_publish(1.0)
        self.client.disconnect()
        self.client.loop_stop()


def make_target(
    alarm: AlarmConfig, namespace: str, cameras: tuple[CameraConfig, ...] = ()
) -> Target:
    if alarm.kind == "mqtt":
        client_id = f"rabbitcam-{namespace}-{alarm.name}-{os.getpid()}"
        return MqttTarget(alarm, client_id, cameras, site=namespace)
    return WebhookTarget(alarm)
