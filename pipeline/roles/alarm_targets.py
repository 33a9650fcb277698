"""Where alarms go: a webhook (a JSON POST) or an MQTT broker (home automation).

A target's ``send`` makes one attempt and says whether it worked; the alarm
role (``pipeline.roles.alarms``) decides about retries. ``observe`` sees
every wanted event, also those the cooldown holds back, so that MQTT states
(``ON`` while a label is seen, ``OFF`` after ``clear_s``) follow the camera.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pipeline.core.config import AlarmConfig, redact_url

LOGGER = logging.getLogger(__name__)

USER_AGENT = "rabbitcam-alarms"
MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass
class Attempt:
    ok: bool
    why: str = ""
    # A refusal that no retry will change (a 4xx other than 408 and 429).
    final: bool = False


class Target:
    def __init__(self, alarm: AlarmConfig) -> None:
        self.alarm = alarm

    def describe(self) -> str:
        return f"{self.alarm.kind} {redact_url(self.alarm.url)}"

    def send(self, payload: dict[str, Any]) -> Attempt:
        raise NotImplementedError

    def observe(self, payload: dict[str, Any]) -> None:
        pass

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook URL is the endpoint itself: a redirect would turn the POST into a GET."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookTarget(Target):
    """A JSON POST per alarm; HMAC-SHA256 of the body in ``X-Rabbitcam-Signature``."""

    def __init__(self, alarm: AlarmConfig) -> None:
        super().__init__(alarm)
        self.opener = urllib.request.build_opener(_NoRedirects())

    def send(self, payload: dict[str, Any]) -> Attempt:
        body = json.dumps(payload, allow_nan=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        headers.update(dict(self.alarm.headers))
        if self.alarm.secret:
            digest = hmac.new(self.alarm.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Rabbitcam-Signature"] = f"sha256={digest}"
        request = urllib.request.Request(self.alarm.url, data=body, headers=headers, method="POST")
        try:
            with self.opener.open(request, timeout=self.alarm.timeout_s) as response:
                response.read(65536)
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
        except (OSError, ValueError) as error:  # refused, reset, timed out, TLS, DNS
            reason = getattr(error, "reason", None) or error
            return Attempt(False, f"{type(error).__name__}: {reason}")
        if 200 <= status < 300:
            return Attempt(True)
        if 300 <= status < 400:
            return Attempt(False, f"HTTP {status}: redirected (not followed)", final=True)
        final = 400 <= status < 500 and status not in (408, 425, 429)
        return Attempt(False, f"HTTP {status}", final=final)


class MqttTarget(Target):
    """Publishes to an MQTT broker (Mosquitto, Home Assistant's, RabbitMQ's MQTT plugin).

    - ``<topic>/<camera>/<label>``: the event's JSON, QoS 1, for automations;
    - ``<topic>/<camera>/<label>/state``: ``ON`` (retained) while the label is
      seen, ``OFF`` once it has not been for ``clear_s`` — a binary sensor;
    - ``<topic>/<camera>/state``: retained JSON, the labels active now and when
      each was last seen;
    - ``<topic>/status``: ``online`` (retained), ``offline`` as the will.

    ``mqtt://user:pass@host:1883`` or ``mqtts://…:8883`` (``?cacertfile=`` for
    a private CA). paho's own thread keeps the connection and reconnects.
    """

    def __init__(self, alarm: AlarmConfig, client_id: str) -> None:
        import paho.mqtt.client as mqtt

        super().__init__(alarm)
        parts = urlsplit(alarm.url)
        self.topic = alarm.topic
        self.lock = threading.Lock()
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
        self.client = client
        self.connected = threading.Event()
        self.closing = False
        client.connect_async(parts.hostname or "localhost", parts.port or MQTT_PORTS[parts.scheme],
                             keepalive=30)  # fmt: skip
        client.loop_start()

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            LOGGER.warning("alarm %s: MQTT broker refused us: %s", self.alarm.name, reason)
            return
        self.connected.set()
        client.publish(f"{self.topic}/status", "online", qos=1, retain=True)
        LOGGER.info("alarm %s: connected to %s", self.alarm.name, redact_url(self.alarm.url))

    def _on_disconnect(self, *_args: Any) -> None:
        if self.connected.is_set() and not self.closing:
            LOGGER.warning("alarm %s: lost the MQTT broker; reconnecting", self.alarm.name)
        self.connected.clear()

    def _publish(self, topic: str, payload: str, retain: bool = False) -> Attempt:
        if not self.client.is_connected():
            # Not queued by paho for later: the retry is ours, so nothing goes twice.
            return Attempt(False, "not connected to the MQTT broker")
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=self.alarm.timeout_s)
        if not info.is_published():
            return Attempt(False, f"the MQTT broker did not acknowledge within "
                                  f"{self.alarm.timeout_s} s (rc {info.rc})")  # fmt: skip
        return Attempt(True)

    def send(self, payload: dict[str, Any]) -> Attempt:
        topic = f"{self.topic}/{payload['camera']}/{payload['label']}"
        return self._publish(topic, json.dumps(payload, allow_nan=False))

    def observe(self, payload: dict[str, Any]) -> None:
        camera, label = payload["camera"], payload["label"]
        with self.lock:
            was_on = (camera, label) in self.active
            self.active[(camera, label)] = time.monotonic()
            self.last.setdefault(camera, {})[label] = payload["time"]
            self.names[camera] = payload.get("camera_name", camera)
        if not was_on:
            self._publish(f"{self.topic}/{camera}/{label}/state", "ON", retain=True)
        self._publish_camera_state(camera)

    def tick(self) -> None:
        now = time.monotonic()
        with self.lock:
            expired = [key for key, at in self.active.items() if now - at > self.alarm.clear_s]
        for camera, label in expired:
            if self._publish(f"{self.topic}/{camera}/{label}/state", "OFF", retain=True).ok:
                with self.lock:
                    self.active.pop((camera, label), None)
                self._publish_camera_state(camera)

    def _publish_camera_state(self, camera: str) -> None:
        with self.lock:
            state = {
                "camera": camera,
                "name": self.names.get(camera, camera),
                "active": sorted(label for cam, label in self.active if cam == camera),
                "last": dict(self.last.get(camera, {})),
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        self._publish(f"{self.topic}/{camera}/state", json.dumps(state), retain=True)

    def close(self) -> None:
        self.closing = True
        if self.client.is_connected():
            self.client.publish(
                f"{self.topic}/status", "offline", qos=1, retain=True
            ).wait_for_publish(1.0)
        self.client.disconnect()
        self.client.loop_stop()


def make_target(alarm: AlarmConfig, namespace: str) -> Target:
    if alarm.kind == "mqtt":
        return MqttTarget(alarm, f"rabbitcam-{namespace}-{alarm.name}-{os.getpid()}")
    return WebhookTarget(alarm)
