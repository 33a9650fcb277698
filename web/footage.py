"""Kept footage: a camera's timeline page, ``/api/recordings/<camera>``, its
segments and exports.

The footage recorder (``pipeline.roles.footage``) writes the segments and
their list; the streamer reads them from the same place (``[record] dir``).
Access is the rest of the site's: a camera a viewer may not see has no
footage for them (404, as a camera that is not there). Times in the URL are
checked numbers; segment ids are integers; nothing from the URL becomes a
path.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

from pipeline.core.eventstore import MAX_PAGE, EventQuery
from pipeline.core.footage_export import MAX_EXPORT_S, ExportError, export_range
from pipeline.core.footage_store import FootageStore, Segment
from web import state
from web.events import MAX_EVENT_ID, seconds_arg, send_stored
from web.events import store as events_store

footage = Blueprint("footage", __name__)

DAY_S = 86_400.0
MOST_LISTED_S = 7 * DAY_S  # the widest range one listing covers
SEGMENT_ROUTE = f"<int(max={MAX_EVENT_ID}):segment_id>.mp4"


def store() -> FootageStore:
    extensions = current_app.extensions
    if extensions.get("rabbitcam.footage") is None:
        extensions["rabbitcam.footage"] = FootageStore(state.config().store_dir)
    return extensions["rabbitcam.footage"]


def _camera_or_404(camera_id: str) -> str:
    """A configured camera the visitor may see; any other is a 404."""
    return state.feed_or_404(camera_id).camera.id


def _range(default_s: float, most_s: float) -> tuple[float, float]:
    """``from`` and ``to`` of the request (seconds since 1970), checked; 400 otherwise."""
    until = seconds_arg(request.args, "to") or time.time()
    since = seconds_arg(request.args, "from")
    since = until - default_s if since is None else since
    if not since < until:
        abort(400, description="from must be before to")
    if until - since > most_s:
        abort(400, description=f"a range may cover at most {most_s:.0f} s")
    return since, until


def segment_json(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "start": segment.started_at,
        "end": segment.ended_at,
        "url": url_for("footage.segment_file", camera_id=segment.camera, segment_id=segment.id),
        "bytes": segment.bytes,
        "codec": segment.codec,
        "copied": segment.copied,
        "width": segment.width,
        "height": segment.height,
    }


@footage.get("/footage/<camera_id>")
def page(camera_id: str) -> str:
    feed = state.feed_or_404(camera_id)  # its id, as configured, is what the page uses
    return render_template("footage.html", camera=feed.camera)


@footage.get("/api/recordings/<camera_id>")
def listing(camera_id: str) -> Response:
    """The camera's segments, gaps and events from ``from`` to ``to`` (default: the last day)."""
    camera_id = _camera_or_404(camera_id)
    since, until = _range(DAY_S, MOST_LISTED_S)
    footage_ = store()
    recorder = footage_.camera_state(camera_id)
    found = events_store().query(EventQuery(
        camera=camera_id, cameras=state.visitor().visible_cameras, since=since, until=until,
        limit=MAX_PAGE,
    ))  # fmt: skip
    events = [{"id": e.id, "label": e.label, "start": e.started_at, "end": e.ended_at,
               "url": url_for("events.one", event_id=e.id)} for e in found]  # fmt: skip
    return jsonify({
        "camera": camera_id,
        "from": since,
        "to": until,
        "state": recorder.state,  # recording | stopped (with why) | none
        "reason": recorder.reason,
        "segments": [segment_json(s) for s in footage_.segments(camera_id, since, until)],
        "gaps": [{"from": g.from_at, "to": g.to_at, "reason": g.reason}
                 for g in footage_.gaps(camera_id, since, until)],
        "events": events,
    })  # fmt: skip


@footage.get(f"/footage/<camera_id>/{SEGMENT_ROUTE}")
def segment_file(camera_id: str, segment_id: int) -> Response:
    camera_id = _camera_or_404(camera_id)
    footage_ = store()
    segment = footage_.segment(segment_id)
    file = footage_.open_segment(segment) if segment and segment.camera == camera_id else None
    if file is None:
        abort(404, description=f"no segment {segment_id}")
    footage_.played([segment_id])  # retention leaves it while it plays
    return send_stored(file, "video/mp4", f"segment-{segment_id}")


@footage.get("/api/recordings/<camera_id>/export")
def export(camera_id: str) -> Response:
    """``from`` to ``to`` (at most an hour) as one MP4, copied from the segments."""
    camera_id = _camera_or_404(camera_id)
    since, until = _range(60.0, MAX_EXPORT_S)
    footage_ = store()
    segments = footage_.segments(camera_id, since, until)
    footage_.played([s.id for s in segments])
    with tempfile.TemporaryDirectory(prefix="rabbitcam-export-") as scratch:
        out = Path(scratch) / "export.mp4"
        try:
            export_range(segments, footage_.open_segment, since, until, out)
        except ExportError as error:
            abort(404, description=str(error))
        handle = open(out, "rb")  # noqa: SIM115 - sent, then closed by the response
    # The folder is gone; the open file stays readable until the response closes it.
    stamp = datetime.fromtimestamp(since, UTC).strftime("%Y%m%d-%H%M%S")
    return send_file(handle, mimetype="video/mp4", as_attachment=True,
                     download_name=f"{camera_id}-{stamp}.mp4")  # fmt: skip
