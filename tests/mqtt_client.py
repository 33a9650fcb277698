"""The machine's MQTT broker (Mosquitto) and a real MQTT client for tests."""

from __future__ import annotations

import threading
import uuid

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883  # the machine's Mosquitto


class Subscriber:
    """A real MQTT client (paho) that keeps every message it gets, retained or not."""

    def __init__(self, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, str, bool]] = []
        self.payloads: dict[str, bytes] = {}  # topic: its last payload as sent (a JPEG)
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, f"test-{uuid.uuid4().hex}")
        self.client.on_connect = lambda c, *_: (c.subscribe(f"{topic}/#", qos=1), self.ready.set())
        self.client.on_message = self._on_message
        self.client.connect(MQTT_HOST, MQTT_PORT)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, _client, _userdata, message) -> None:
        with self.lock:
            text = message.payload.decode(errors="replace")
            self.messages.append((message.topic, text, bool(message.retain)))
            self.payloads[message.topic] = bytes(message.payload)

    def last_bytes(self, topic: str) -> bytes | None:
        with self.lock:
            return self.payloads.get(topic)

    def last(self, topic: str) -> str | None:
        with self.lock:
            found = [payload for name, payload, _ in self.messages if name == topic]
        return found[-1] if found else None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def topics(self) -> set[str]:
        with self.lock:
            return {name for name, _, _ in self.messages}


def clear_retained(prefix: str, topics: list[str]) -> None:
    """Remove what a test left retained under ``prefix`` on the machine's broker."""
    import paho.mqtt.client as mqtt

    cleaner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    cleaner.connect(MQTT_HOST, MQTT_PORT)
    cleaner.loop_start()
    for topic in topics:
        cleaner.publish(f"{prefix}/{topic}", b"", qos=1, retain=True).wait_for_publish(2)
    cleaner.loop_stop()
    cleaner.disconnect()
