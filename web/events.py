"""Recorded events: the events page, ``/api/events`` and each event's files.

The recorder (``pipeline.roles.record``) writes the events database and the
snapshot, thumbnail and clip files; the streamer reads them from the same
place (``[record] dir``), so the two run where they share that directory. An
event still being recorded is listed with its snapshot but no clip: a clip is
listed only once it is complete. Every query value is checked before it
reaches the database, and ids are integers: nothing from the URL becomes a
path.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, BinaryIO

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from declared.blocks import LABEL_PATTERN
from pipeline.core.camera_config import CAMERA_ID_PATTERN
from pipeline.core.eventstore import (
    MAX_PAGE,
    EventQuery,
    EventStore,
    StoredEvent,
    StoredObject,
)
from web import state

events = Blueprint("events", __name__)

# Event ids are SQLite integers: a larger one in a URL is no event (and no 500).
MAX_EVENT_ID = 2**63 - 1
EVENT_ROUTE = f"<int(max={MAX_EVENT_ID}):event_id>"
# The filters a listing's "next" link carries on (nothing else from the URL goes to url_for).
FILTERS = ("camera", "label", "since", "until", "limit")
FOOTAGE_LEAD_S = 5.0  # an event's footage link starts this long before it
WHOLE_NUMBER = re.compile(r"[0-9]{1,12}")  # ASCII digits: str.isdigit() also takes "²"

# The files of an event, by the name in its URL: the kind in the store, the media type.
MEDIA = {
    "snapshot.jpg": ("snapshot", "image/jpeg"),
    "thumb.jpg": ("thumb", "image/jpeg"),
    "clip.mp4": ("clip", "video/mp4"),
}


def store() -> EventStore:
    """The site's event store, opened on first use (a streamer whose site records nothing
    never creates one)."""
    extensions = current_app.extensions
    if extensions.get("rabbitcam.events") is None:
        extensions["rabbitcam.events"] = EventStore(state.config().store_dir)
    return extensions["rabbitcam.events"]


def _camera_names() -> dict[str, str]:
    return {feed.camera.id: feed.camera.title for feed in state.hub().feeds.values()}


def event_json(event: StoredEvent, names: dict[str, str]) -> dict[str, Any]:
    def media(name: str, present: bool) -> str | None:
        return url_for("events.media", event_id=event.id, name=name) if present else None

    pre_roll = None if event.clip_from is None else round(event.started_at - event.clip_from, 3)
    footage = None
    if any(camera.id == event.camera for camera in state.config().keeping_footage):
        at = round(event.started_at - FOOTAGE_LEAD_S, 3)
        footage = url_for("footage.page", camera_id=event.camera, at=at)
    return {
        "id": event.id,
        "camera": event.camera,
        "camera_name": names.get(event.camera, event.camera),
        "label": event.label,
        "labels": event.labels,
        "started_at": event.started_at,
        "ended_at": event.ended_at,
        "seq": event.seq,
        "score": event.score,
        "count": event.count,
        "state": event.state,
        "reason": event.reason,
        "detection": event.detection,
        "snapshot": media("snapshot.jpg", event.snapshot),
        "thumb": media("thumb.jpg", event.snapshot),
        "clip": media("clip.mp4", event.has_clip),
        "clip_from": event.clip_from,
        "clip_to": event.clip_to,
        "clip_frames": event.clip_frames,
        "pre_roll_s": pre_roll,
        "footage": footage,  # the camera's footage from just before the event
        "bytes": event.bytes,
        "objects": [object_json(event.id, seen) for seen in event.objects],
    }


def object_json(event_id: int, seen: StoredObject) -> dict[str, Any]:
    """A tracked object of an event: how long it stayed, the zones it visited, its path."""
    duration = None if seen.ended_at is None else round(seen.ended_at - seen.started_at, 1)
    snapshot = None
    if seen.snapshot:
        snapshot = url_for("events.object_snapshot", event_id=event_id, object_id=seen.object)
    return {
        "object": seen.object,
        "label": seen.label,
        "started_at": seen.started_at,
        "ended_at": seen.ended_at,
        "duration_s": duration,
        "zones": seen.zones,
        "path": seen.path,
        "snapshot": snapshot,
    }


def _query() -> EventQuery:
    """The filters of a request, checked; 400 for anything that is not one."""
    args = request.args
    camera, label = args.get("camera") or None, args.get("label") or None
    if camera is not None and not CAMERA_ID_PATTERN.fullmatch(camera):
        abort(400, description="camera must be a camera id")
    if label is not None and not LABEL_PATTERN.fullmatch(label):
        abort(400, description="label must be a label (letters, digits, '_', '-')")
    return EventQuery(
        camera=camera,
        cameras=state.visitor().visible_cameras,
        label=label,
        since=seconds_arg(args, "since"),
        until=seconds_arg(args, "until"),
        before_id=_integer(args, "before"),
        limit=_integer(args, "limit") or 50,
    )


def seconds_arg(args: Any, key: str) -> float | None:
    text = args.get(key)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value < 1e11:
        abort(400, description=f"{key} must be a time in seconds since 1970")
    return value


def _integer(args: Any, key: str) -> int | None:
    text = args.get(key)
    if not text:
        return None
    if not WHOLE_NUMBER.fullmatch(text):
        abort(400, description=f"{key} must be a whole number")
    return int(text)


@events.get("/events")
def page() -> str:
    cameras = [feed.camera for feed in state.visible_feeds()]
    recording = [camera.id for camera in state.config().recording if state.may_see(camera.id)]
    return render_template(
        "events.html", cameras=cameras, recording=recording, labels=store().labels()
    )


@events.get("/api/events")
def listing() -> Response:
    query = _query()
    found = store().query(query)
    names = _camera_names()
    page_full = len(found) == min(MAX_PAGE, max(1, query.limit))
    following = None
    if found and page_full:
        args = {key: request.args[key] for key in FILTERS if request.args.get(key)}
        following = url_for("events.listing", **args, before=found[-1].id)
    return jsonify({"events": [event_json(e, names) for e in found], "next": following})


@events.get(f"/api/events/{EVENT_ROUTE}")
def one(event_id: int) -> Response:
    event = store().get(event_id)
    if event is None or not state.may_see(event.camera):
        abort(404, description=f"no event {event_id}")
    return jsonify(event_json(event, _camera_names()))


@events.delete(f"/api/events/{EVENT_ROUTE}")
def delete(event_id: int) -> Response:
    # DELETE, never GET or a form's POST: another site cannot make a browser send
    # one without this server's consent (CORS), even with the user's credentials.
    if not store().delete(event_id):
        abort(404, description=f"no event {event_id}")
    return Response(status=204)


@events.get(f'/events/{EVENT_ROUTE}/<any("snapshot.jpg", "thumb.jpg", "clip.mp4"):name>')
def media(event_id: int, name: str) -> Response:
    kind, mimetype = MEDIA[name]
    return _send(event_id, kind, mimetype)


@events.get(f"/events/{EVENT_ROUTE}/object-<int(max={MAX_EVENT_ID}):object_id>.jpg")
def object_snapshot(event_id: int, object_id: int) -> Response:
    """A tracked object's best snapshot: cropped around it."""
    return _send(event_id, f"object-{object_id}", "image/jpeg")


def _send(event_id: int, kind: str, mimetype: str) -> Response:
    """One of an event's files, read from its row alone (not its objects)."""
    events_ = store()
    camera = events_.camera_of(event_id)
    present = camera is not None and state.may_see(camera) and events_.has_media(event_id, kind)
    file = events_.open_file(event_id, kind) if present else None
    if file is None:
        abort(404, description=f"event {event_id} has no {kind}")
    # Sent from the file opened above (a regular file, no link followed); the files never
    # change.
    return send_stored(file, mimetype, f"{event_id}-{kind}")


def send_stored(file: BinaryIO, mimetype: str, tag: str) -> Response:
    """A stored file that never changes (a clip, a segment), with Ranges, so that a
    browser's video element can seek; ``tag`` names it in the ETag."""
    facts = os.fstat(file.fileno())
    response = send_file(
        file, mimetype=mimetype, conditional=False, etag=f"{tag}-{facts.st_mtime_ns}",
        last_modified=facts.st_mtime, max_age=3600,
    )  # fmt: skip
    response.content_length = facts.st_size
    try:
        response = response.make_conditional(
            request.environ, accept_ranges=True, complete_length=facts.st_size
        )
    except RequestedRangeNotSatisfiable:
        file.close()
        raise
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
