"""Home Assistant over MQTT: discovery of every camera's sensors, and the counts of
tracked objects they read.

A Home Assistant user adds the MQTT broker and finds, without writing YAML, a
device per camera with:

- a binary sensor per label the camera tracks, records or reports (the alarm
  target's ``<topic>/<camera>/<label>/state``: ``ON`` while seen, ``OFF`` after
  ``clear_s``): what its detectors report as configured (``objects``: the labels
  it is given), but never one per class of a model told to report them all;
  with the target's ``labels``, only those;
- for each label ``track`` follows, a sensor counting the objects in view
  (``<topic>/<camera>/<label>/count``), and per zone a sensor counting those in
  it and a binary sensor that is on while any is
  (``<topic>/<camera>/zones/<zone>/<label>/count``);
- for each such label, an MQTT camera showing the last object's snapshot (cropped
  around it: its first at its start, its best when it has gone;
  ``<topic>/<camera>/<label>/snapshot``, a retained JPEG);
- availability from ``<topic>/status`` (``online``; ``offline`` as the will).

Counts follow the objects' own events (an object's start, ``entered``, ``left``,
``gone``), so they reach Home Assistant as they change, retained, and only for
configured cameras, zones and tracked labels (an event naming others is
ignored). The track stage's census (``tracking``, every 30 s and when a worker
starts) replaces a camera's counts: a restarted worker's forgotten objects do
not keep a zone occupied, and a camera whose census stops (no worker) drops to
zero after ``CENSUS_STALE_S``.

Entity ids are the escaped parts (site, camera, zone, label, kind) joined by
``__``, so that no two names make one id (``front`` + zone ``yard`` is not
camera ``front_yard``), and only ``[a-z0-9_-]`` reach Home Assistant.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from detectors import REGISTRY
from detectors.scene_rules import MOST_SHAPES
from detectors.track import (
    CENSUS_EVERY_S,
    CENSUS_LABEL,
    CENSUS_MOST_INSIDE,
    CENSUS_MOST_OBJECTS,
)
from pipeline.core.camera_config import CameraConfig

DISCOVERY_PREFIX = "homeassistant"
# Labels that are no state of the scene: lifecycle events, the lines' counts, the census.
NOT_SENSORS = ("line", "gone", "entered", "left", "crossed", "loitering", CENSUS_LABEL)
DEVICE_CLASSES = {"person": "occupancy", "motion": "motion"}
# A camera whose census has not come for this long is tracked by nobody: its counts go.
CENSUS_STALE_S = 3 * CENSUS_EVERY_S
UNESCAPED = re.compile(r"[a-z0-9-]")


def id_part(text: str) -> str:
    """``text`` as a part of an entity id: lower-case letters, digits and '-' as they
    are, every other character (``_`` too) as ``_`` and two hex digits (``_u`` and six
    past U+00FF), so that the parts' joiner ``__`` never stands inside one."""
    return "".join(
        char if UNESCAPED.fullmatch(char)
        else f"_{ord(char):02x}" if ord(char) < 256 else f"_u{ord(char):06x}"
        for char in text
    )  # fmt: skip


def entity_id(*parts: str) -> str:
    return "__".join(id_part(part) for part in parts)


def tracked_labels(camera: CameraConfig) -> list[str]:
    """The labels a camera's ``track`` stage follows (none without one)."""
    for spec in camera.detectors:
        if spec.name == "track":
            return list(spec.params.labels)
    return []


def sensor_labels(camera: CameraConfig, wanted: tuple[str, ...] = ()) -> list[str]:
    """The labels a camera gets a binary sensor for: what its detectors report as
    configured, what it tracks and records; only ``wanted`` ones if any are."""
    labels = set(tracked_labels(camera)) | set(camera.record)
    for spec in camera.detectors:
        detector = REGISTRY.get(spec.name)
        reported = detector.reports(spec.params) if detector is not None else None
        labels.update(reported or ())
    labels.difference_update(NOT_SENSORS)
    if wanted:
        labels.intersection_update(wanted)
    return sorted(labels)


def discovery(
    topic: str, site: str, cameras: tuple[CameraConfig, ...], wanted: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """(config topic, JSON) of every entity of every camera, to publish retained."""
    messages = []
    for camera in cameras:
        device = {"identifiers": [entity_id("rabbitcam", site, camera.id)], "name": camera.title,
                  "manufacturer": "rabbitcam", "model": "camera"}  # fmt: skip
        common = {"availability_topic": f"{topic}/status", "device": device}
        base = f"{topic}/{camera.id}"
        for label in sensor_labels(camera, wanted):
            entity = {**common, "name": label, "state_topic": f"{base}/{label}/state",
                      "payload_on": "ON", "payload_off": "OFF"}  # fmt: skip
            if label in DEVICE_CLASSES:
                entity["device_class"] = DEVICE_CLASSES[label]
            messages.append(_entity("binary_sensor", (site, camera.id, "label", label), entity))
        for label in tracked_labels(camera):
            count = {**common, "name": f"{label} count", "state_topic": f"{base}/{label}/count",
                     "state_class": "measurement"}  # fmt: skip
            messages.append(_entity("sensor", (site, camera.id, "count", label), count))
            snapshot = {**common, "name": f"{label} snapshot", "topic": f"{base}/{label}/snapshot"}
            messages.append(_entity("camera", (site, camera.id, "snapshot", label), snapshot))
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
                where = (site, camera.id, "zone", zone.name, label)
                messages.append(_entity("sensor", (*where, "count"), in_zone))
                messages.append(_entity("binary_sensor", (*where, "occupied"), occupied))
    return messages


def _entity(component: str, parts: tuple[str, ...], entity: dict[str, Any]) -> tuple[str, str]:
    object_id = entity_id("rabbitcam", *parts)
    entity = {**entity, "unique_id": object_id, "object_id": object_id}
    return f"{DISCOVERY_PREFIX}/{component}/{object_id}/config", json.dumps(entity)


@dataclass(frozen=True)
class Scene:
    """What a configured camera may count: the labels it tracks, its zones' names."""

    labels: frozenset[str]
    zones: frozenset[str]

    @classmethod
    def of(cls, camera: CameraConfig) -> Scene:
        return cls(frozenset(tracked_labels(camera)), frozenset(z.name for z in camera.zones))


@dataclass
class Occupancy:
    """Which tracked objects are in view and in which zones, per configured camera,
    from the objects' events; ``follow`` says which counts changed. Names that are not
    the config's (a forged event's) are ignored: the tables hold only what can be."""

    scenes: dict[str, Scene] = field(default_factory=dict)
    # (camera, label) -> object ids in view; (camera, zone, label) -> ids in the zone
    in_view: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    in_zone: dict[tuple[str, str, str], set[int]] = field(default_factory=dict)
    census_at: dict[str, float] = field(default_factory=dict)  # camera -> when (monotonic)

    def follow(self, payload: dict[str, Any]) -> list[tuple[tuple[str, ...], int]]:
        """The counts an event changed, as (key, count): a key of two is a camera's
        label, of three a camera's zone and label."""
        extra = payload.get("extra") or {}
        camera, event = payload["camera"], payload["label"]
        scene = self.scenes.get(camera)
        if scene is None or not isinstance(extra, dict):
            return []
        if event == CENSUS_LABEL:
            return self._census(camera, scene, extra)
        object_id = extra.get("object")
        if not isinstance(object_id, int) or isinstance(object_id, bool):
            return []
        label = extra.get("label", event)
        if label not in scene.labels:
            return []
        zone = extra.get("zone")
        changed: list[tuple[str, ...]] = []
        if event == "gone":
            changed += self._remove(camera, label, object_id)
        elif event == "entered" and zone in scene.zones:
            changed += self._add((camera, zone, label), object_id, self.in_zone)
        elif event == "left" and zone in scene.zones:
            changed += self._discard((camera, zone, label), object_id, self.in_zone)
        elif event == label:  # an object's start, under its label
            changed += self._add((camera, event), object_id, self.in_view)
            for name in _names(extra.get("zones"), scene.zones):
                changed += self._add((camera, name, event), object_id, self.in_zone)
        return [(key, self.count(key)) for key in dict.fromkeys(changed)]

    def _census(
        self, camera: str, scene: Scene, census: dict[str, Any]
    ) -> list[tuple[tuple[str, ...], int]]:
        """A camera's objects as its tracker has them now (``detectors.track``'s flat
        lists): they replace what we had."""
        objects, labels = census.get("objects"), census.get("labels")
        zone_names, inside = census.get("zones"), census.get("inside")
        if not all(isinstance(v, list) for v in (objects, labels, zone_names, inside)):
            return []
        self.census_at[camera] = time.monotonic()
        label_of: dict[int, str] = {}
        for object_id, label in zip(objects[:CENSUS_MOST_OBJECTS], labels, strict=False):
            if type(object_id) is int and label in scene.labels:  # not a bool
                label_of[object_id] = label
        view: dict[tuple[str, str], set[int]] = {}
        for object_id, label in label_of.items():
            view.setdefault((camera, label), set()).add(object_id)
        zones: dict[tuple[str, str, str], set[int]] = {}
        for pair in inside[:CENSUS_MOST_INSIDE]:
            if not (isinstance(pair, list) and len(pair) == 2):
                continue
            object_id, place = pair
            if object_id not in label_of or type(place) is not int:  # not a bool
                continue
            if not 0 <= place < min(len(zone_names), MOST_SHAPES):
                continue
            name = zone_names[place]
            if isinstance(name, str) and name in scene.zones:
                zones.setdefault((camera, name, label_of[object_id]), set()).add(object_id)
        return self._replace(camera, view, zones)

    def forget_stale(self, now: float) -> list[tuple[tuple[str, ...], int]]:
        """Cameras whose census stopped coming: nobody tracks them; their counts go."""
        stale = [c for c, at in self.census_at.items() if now - at > CENSUS_STALE_S]
        changed = []
        for camera in stale:
            del self.census_at[camera]
            changed += self._replace(camera, {}, {})
        return changed

    def _replace(self, camera: str, view: dict, zones: dict) -> list[tuple[tuple[str, ...], int]]:
        changed = []
        for table, new in ((self.in_view, view), (self.in_zone, zones)):
            keys = {key for key in table if key[0] == camera} | set(new)
            for key in keys:
                ids = new.get(key, set())
                if table.get(key, set()) != ids:
                    table[key] = ids
                    changed.append((key, len(ids)))
        return changed

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


def _names(value: Any, known: frozenset[str]) -> list[str]:
    """The zone names in ``value`` that the camera has."""
    if not isinstance(value, list):
        return []
    return [name for name in dict.fromkeys(v for v in value[:MOST_SHAPES] if isinstance(v, str))
            if name in known]  # fmt: skip
