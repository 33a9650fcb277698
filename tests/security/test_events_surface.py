"""The events surface of a real streamer under attack: a page on another site that
rebinds its name to the streamer, forged ids and query keys, links and folders
planted in the record dir."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
import requests

from pipeline.core.eventstore import EventQuery, EventStore
from tests.security.conftest import PHOTO

SITE = """
[record]
dir = "{store}"

[[cameras]]
id = "cam1"
source = "synthetic"
detectors = ["motion"]
record = ["motion"]
"""


ADMIN_TOKEN = "admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def events_site(make_site, tmp_path: Path):
    store_dir = tmp_path / "store"
    site, _publisher = make_site(SITE.format(store=store_dir))
    store = EventStore(store_dir)
    event_id = store.open_event("cam1", "motion", 1, time.time(), {"label": "motion"})
    store.save_snapshot(event_id, PHOTO, PHOTO)
    site.streamer({"RABBITCAM_WEB_TOKEN": ADMIN_TOKEN})
    yield site, store, event_id
    store.close()


def test_a_foreign_host_name_gets_nothing_and_changes_nothing(events_site):
    site, store, event_id = events_site
    rebound = {"Host": f"attacker.example:{site.port}"}
    for path in ("/", "/api/cameras", "/api/events", f"/events/{event_id}/snapshot.jpg"):
        response = site.get(path, headers=rebound)
        assert response.status_code == 400, (path, response.status_code)
        assert "Traceback" not in response.text
    deleted = requests.delete(f"{site.base}/api/events/{event_id}", headers={**ADMIN, **rebound},
                              timeout=5)  # fmt: skip
    assert deleted.status_code == 400 and store.get(event_id) is not None
    # Names it does answer to: addresses and localhost.
    assert site.get("/api/events", headers={"Host": f"localhost:{site.port}"}).status_code == 200
    assert site.get("/api/events").status_code == 200


def test_a_delete_from_another_origin_is_refused(events_site):
    site, store, event_id = events_site
    url = f"{site.base}/api/events/{event_id}"
    # Even with an admin's credentials (a browser sends its cookie along).
    for headers in ({"Origin": "http://attacker.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = requests.delete(url, headers={**ADMIN, **headers}, timeout=5)
        assert response.status_code == 403, headers
        assert store.get(event_id) is not None
    anonymous = requests.delete(url, headers={"Origin": site.base}, timeout=5)
    assert anonymous.status_code == 403 and store.get(event_id) is not None, (
        "watchers delete nothing"
    )
    response = requests.delete(url, headers={**ADMIN, "Origin": site.base}, timeout=5)
    assert response.status_code == 204 and store.get(event_id) is None


@pytest.mark.parametrize(
    "path",
    [
        "/api/events?limit=\u00b2",
        "/api/events?before=\u00b2",
        "/api/events?limit=\u0663",  # an Arabic-Indic digit
        "/api/events/9223372036854775808",
        "/api/events/99999999999999999999999",
        "/events/9223372036854775808/snapshot.jpg",
        "/events/1/object-9223372036854775808.jpg",
        "/events/1/object--1.jpg",
    ],
)
def test_forged_numbers_are_4xx_never_500(events_site, path):
    site, _store, _event_id = events_site
    response = site.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert "Traceback" not in response.text


def test_query_keys_are_not_passed_to_url_for(events_site):
    site, _store, event_id = events_site
    for key in ("endpoint", "_method", "_external", "_scheme", "_anchor"):
        response = site.get(f"/api/events?limit=1&{key}=x")
        assert response.status_code == 200, (key, response.text[:200])
        listing = response.json()
        assert listing["events"][0]["id"] == event_id
        assert key not in (listing["next"] or "")


def test_a_link_planted_in_the_media_folder_is_not_followed(events_site, tmp_path):
    site, store, event_id = events_site
    secret = tmp_path / "host-secret.txt"
    secret.write_text("not for the web")
    snapshot = store.file(event_id, "snapshot")
    mode = stat.S_IMODE(os.stat(snapshot).st_mode)
    assert mode & 0o007 == 0, f"media files are world-readable: {oct(mode)}"
    assert site.get(f"/events/{event_id}/snapshot.jpg").content == PHOTO
    snapshot.unlink()
    snapshot.symlink_to(secret)
    response = site.get(f"/events/{event_id}/snapshot.jpg")
    assert response.status_code == 404 and b"not for the web" not in response.content


def test_a_folder_in_the_media_folder_does_not_stop_the_store(tmp_path):
    store = EventStore(tmp_path / "store")
    event_id = store.open_event("cam1", "motion", 1, time.time(), {"label": "motion"})
    (store.media / "junk").mkdir()
    (store.media / f"{event_id}.snapshot.jpg").mkdir()  # where a file would go
    assert store.sweep() == 0  # left in place, no IsADirectoryError
    store.delete(event_id)
    assert store.enforce_retention(0, 0) == [] and store.query(EventQuery()) == []
    # A planted link where a scratch file goes is replaced, its target untouched.
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    scratch = store.scratch(2, "snapshot")
    scratch.symlink_to(target)
    store._put(2, "snapshot", PHOTO)
    assert target.read_bytes() == b"keep" and store.file(2, "snapshot").read_bytes() == PHOTO


TRACKING_SITE = """
[record]
dir = "{store}"

[[cameras]]
id = "cam1"
source = "synthetic"
detectors = ["objects", "track"]
record = ["person"]

[[cameras.zones]]
name = "porch"
points = [[0, 240], [640, 240], [640, 480], [0, 480]]
"""


def test_a_forged_gone_event_costs_only_itself_and_stores_only_what_fits(make_site, tmp_path):
    """An object's end from the wire: a snapshot whose header claims 30000x30000 is
    dead-lettered with why (the message check refuses a path of anything but numbers);
    points of the wrong length, zones that are no names or not the camera's, and a stay
    that ends before it starts are kept only as far as they make sense; the recorder
    goes on."""
    from pipeline.core.messages import Event, pack
    from testkit.processes import wait_for
    from tests.security.conftest import now_seq

    store_dir = tmp_path / "store"
    site, publisher = make_site(TRACKING_SITE.format(store=store_dir))
    recorder = site.start(["record", str(site.config)])
    wait_for(lambda: "record: connected to" in recorder.tail(), timeout=20)
    exchange = publisher.topology.events_exchange
    start = time.time()
    came = {"label": "person", "score": 0.9, "extra": {"object": 5}}
    store = EventStore(store_dir)

    def recorded() -> list:  # its queue is bound a moment after it connects: until then, again
        found = store.query(EventQuery())
        if not found:
            publisher.raw(exchange, "cam1.person", pack(Event("cam1", now_seq(), start, came)))
        return found

    (event,) = wait_for(recorded, timeout=20, interval=0.3)
    wait_for(lambda: store.get(event.id).objects, timeout=10)

    bomb = b"\xff\xd8\xff\xc0" + (11).to_bytes(2, "big") + b"\x08" + (30000).to_bytes(2, "big") * 2
    gone = {"label": "gone", "score": 0.9,
            "extra": {"object": 5, "label": "person", "zones": [1, "porch", None, "attic", "porch"],
                      "path": [[1, 2], [1, 2, 3], [5.5, 6], [7]],
                      "started_at": start + 50, "ended_at": start + 10}}  # fmt: skip
    evil = pack(Event("cam1", now_seq(), start + 12, gone, bomb + b"\x01\x11\x00"))
    publisher.raw(exchange, "cam1.gone", evil)
    reasons = wait_for(publisher.dead_letters, timeout=15)
    assert any("larger than 1024 px" in reason for _source, reason in reasons), reasons
    assert store.get(event.id).objects[0].ended_at is None, "the refused end changed nothing"

    publisher.raw(exchange, "cam1.gone", pack(Event("cam1", now_seq(), start + 12, gone)))
    ended = wait_for(lambda: [o for o in store.get(event.id).objects if o.ended_at], timeout=15)
    (person,) = ended
    assert person.zones == ["porch"] and person.path == [[1, 2], [5, 6]]
    assert (person.started_at, person.ended_at) == (start, start + 12), (
        "a stay that ends before it starts is not believed: from its start event to its end event"
    )
    assert recorder.process.poll() is None, recorder.tail()
    store.close()
