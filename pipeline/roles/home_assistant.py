"""Home Assistant over MQTT: discovery of every camera's sensors, and the counts of
tracked objects they read.

A Home Assistant user adds the MQTT broker and finds, without writing YAML, a
device per camera with:

- a binary sensor per label the camera's detectors report (the alarm target's
  ``<topic>/<camera>/<label>/state``: ``ON`` while seen, ``OFF`` after ``clear_s``);
- for each label ``track`` follows, a sensor counting the objects in view
  (``<topic>/<camera>/<label>/count``), and per zone a sensor counting those in
  it and a binary sensor that is on while any is
  (``<topic>/<camera>/zones/<zone>/<label>/count``);
- for each such label, an MQTT camera showing the last object's snapshot (cropped
  around it: its first at its start, its best when it has gone;
  ``<topic>/<camera>/<label>/snapshot``, a retained JPEG);
- availability from ``<topic>/status`` (``online``; ``offline`` as the will).

Counts follow the objects' own events (an object's start, ``entered``, ``left``,
``gone``), so they reach Home Assistant as they change, retained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.config import CameraConfig

DISCOVERY_PREFIX = "homeassistant"
# Labels that are no state of the scene: lifecycle events and the lines' counts.
NOT_SENSORS = ("line", "gone", "entered", "left", "crossed")
DEVICE_CLASSES = {"person": "occupancy", "motion": "motion"}


def tracked_labels(camera: CameraConfig) -> list[str]:
    """The labels a camera's ``track`` stage follows (none without one)."""
    for spec in camera.detectors:
        if spec.name == "track":
            labels = str(spec.params.get("labels", "person"))
            return [label.strip() for label in labels.split(",") if label.strip()]
    return []


def discovery(topic: str, site: str, cameras: tuple[CameraConfig, ...]) -> list[tuple[str, str]]:
    """(config topic, JSON) of every entity of every camera, to publish retained."""
    from detectors import labels_of

    messages = []
    for camera in cameras:
        device = {"identifiers": [f"rabbitcam_{site}_{camera.id}"], "name": camera.title,
                  "manufacturer": "rabbitcam", "model": "camera"}  # fmt: skip
        common = {"availability_topic": f"{topic}/status", "device": device}
        base = f"{topic}/{camera.id}"
        labels = sorted(labels_of([spec.name for spec in camera.detectors]) or set())
        for label in (label for label in labels if label not in NOT_SENSORS):
            entity = {**common, "name": label, "state_topic": f"{base}/{label}/state",
                      "payload_on": "ON", "payload_off": "OFF"}  # fmt: skip
            if label in DEVICE_CLASSES:
                entity["device_class"] = DEVICE_CLASSES[label]
            messages.append(_entity("binary_sensor", site, camera, label, entity))
        for label in tracked_labels(camera):
            count = {**common, "name": f"{label} count", "state_topic": f"{base}/{label}/count",
                     "state_class": "measurement"}  # fmt: skip
            messages.append(_entity("sensor", site, camera, f"{label}_count", count))
            snapshot = {**common, "name": f"{label} snapshot", "topic": f"{base}/{label}/snapshot"}
            messages.append(_entity("camera", site, camera, f"{label}_snapshot", snapshot))
            for zone in camera.zones:
                if zone.labels and label not in zone.labels:
                    continue
                state = f"{base}/zones/{zone.name}/{label}/count"
                in_zone = {**common, "name": f"{zone.name} {label} count",
                           "state_topic": state, "state_class": "measurement"}  # fmt: skip
                occupied = {**common, "name": f"{zone.name} {label}", "state_topic": state,
                            "value_template": "{{ 'ON' if value | int > 0 else 'OFF' }}",
                            "payload_on": "ON", "payload_off": "OFF",
                            "device_class": "occupancy"}  # fmt: skip
                messages.append(_entity("sensor", site, camera, f"{zone.name}_{label}_count",
                                        in_zone))  # fmt: skip
                messages.append(_entity("binary_sensor", site, camera, f"{zone.name}_{label}",
                                        occupied))  # fmt: skip
    return messages


def _entity(
    component: str, site: str, camera: CameraConfig, what: str, entity: dict[str, Any]
) -> tuple[str, str]:
    object_id = f"rabbitcam_{site}_{camera.id}_{what}"
    entity = {**entity, "unique_id": object_id, "object_id": object_id}
    return f"{DISCOVERY_PREFIX}/{component}/{object_id}/config", json.dumps(entity)


@dataclass
class Occupancy:
    """Which tracked objects are in view and in which zones, per camera, from the
    objects' events; ``follow`` says which counts changed."""

    # (camera, label) -> object ids in view; (camera, zone, label) -> ids in the zone
    in_view: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    in_zone: dict[tuple[str, str, str], set[int]] = field(default_factory=dict)

    def follow(self, payload: dict[str, Any]) -> list[tuple[tuple[str, ...], int]]:
        """The counts an event changed, as (key, count): a key of two is a camera's
        label, of three a camera's zone and label."""
        extra = payload.get("extra") or {}
        camera, event = payload["camera"], payload["label"]
        object_id = extra.get("object")
        if not isinstance(object_id, int):
            return []
        label = str(extra.get("label", event))
        zone = extra.get("zone")
        changed: list[tuple[str, ...]] = []
        if event == "gone":
            changed += self._remove(camera, label, object_id)
        elif event == "entered" and isinstance(zone, str):
            changed += self._add((camera, zone, label), object_id, self.in_zone)
        elif event == "left" and isinstance(zone, str):
            changed += self._discard((camera, zone, label), object_id, self.in_zone)
        elif event not in ("loitering", "crossed"):  # an object's start, under its label
            changed += self._add((camera, event), object_id, self.in_view)
            for name in extra.get("zones") or []:
                changed += self._add((camera, str(name), event), object_id, self.in_zone)
        return [(key, self.count(key)) for key in dict.fromkeys(changed)]

    def count(self, key: tuple[str, ...]) -> int:
        table: dict[Any, set[int]] = self.in_view if len(key) == 2 else self.in_zone
        return len(table.get(key) or ())

    def counts(self) -> list[tuple[tuple[str, ...], int]]:
        return [(key, len(ids)) for key, ids in (*self.in_view.items(), *self.in_zone.items())]

    @staticmethod
    def _add(key: Any, object_id: int, table: dict) -> list[tuple[str, ...]]:
        ids = table.setdefault(key, set())
        if object_id in ids:
            return []
        ids.add(object_id)
        return [key]

    @staticmethod
    def _discard(key: Any, object_id: int, table: dict) -> list[tuple[str, ...]]:
        ids = table.get(key)
        if not ids or object_id not in ids:
            return []
        ids.discard(object_id)
        return [key]

    def _remove(self, camera: str, label: str, object_id: int) -> list[tuple[str, ...]]:
        """An object gone: out of view and out of every zone."""
        changed = self._discard((camera, label), object_id, self.in_view)
        for key in [k for k in self.in_zone if k[0] == camera and k[2] == label]:
            changed += self._discard(key, object_id, self.in_zone)
        return changed
