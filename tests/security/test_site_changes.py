"""Changing a site through the real streamer: who may, how much, and what the camera
file looks like after (the third hostile review's zone editor findings).

Every request here goes to a real ``rabbitcam stream`` over HTTP; users are made
with the real ``rabbitcam users`` command.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import threading
import time
import tomllib

import requests

from testkit.processes import rabbitcam_command, wait_for
from tests.security.conftest import CAMERA

ADMIN_TOKEN = "admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SQUARE = [[100, 300], [300, 300], [300, 460], [100, 460]]
DROP_IN = 'name = "Porch"\nsource = "synthetic"\ndetectors = ["motion", "track"]\n'


def drop_in_site(make_site, extra: str = "", mode: int = 0o600):
    """A site whose camera ``porch`` is a drop-in file (mode ``mode``), and ``cam1``
    in the site's file."""
    site, _ = make_site(f'cameras_dir = "cameras.d"\n{extra}' + CAMERA.format(id="cam1"))
    (site.work / "cameras.d").mkdir(exist_ok=True)
    porch = site.work / "cameras.d" / "porch.toml"
    porch.write_text(DROP_IN)
    porch.chmod(mode)
    return site, porch


def users(site, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*rabbitcam_command(), "users", *args, "--config", str(site.config)],
        input=password, capture_output=True, text=True, timeout=30,
        env={**os.environ, "RABBITCAM_NAMESPACE": site.namespace},
    )  # fmt: skip


def put_zones(site, zones, headers=None, **kwargs) -> requests.Response:
    return requests.put(f"{site.base}/api/cameras/porch/zones", json={"zones": zones},
                        headers={**ADMIN, **(headers or {})}, timeout=10, **kwargs)  # fmt: skip


def test_nobody_changes_a_site_without_credentials_and_an_admin_logs_in_first(make_site):
    site, porch = drop_in_site(make_site)
    streamer = site.streamer()
    # The first start made an admin and said its password, once, in the log.
    found = wait_for(lambda: re.search(r"name admin, password (\S+) \(shown once\)",
                                       streamer.tail()), timeout=10)  # fmt: skip
    password = found.group(1)
    before = porch.read_bytes()
    # This machine may watch without logging in (a loopback bind), never change.
    assert site.get("/api/cameras").ok
    anonymous = requests.put(f"{site.base}/api/cameras/porch/zones", timeout=5,
                             json={"zones": [{"name": "yard", "points": SQUARE}]})  # fmt: skip
    assert anonymous.status_code == 403
    assert requests.delete(f"{site.base}/api/events/1", timeout=5).status_code == 403
    assert porch.read_bytes() == before

    # A viewer, made with the command, logs in and may watch but not change.
    made = users(site, "add", "vera", "--role", "viewer", "--cameras", "porch",
                 "--password-stdin", password="vera-password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    viewer = requests.Session()
    wrong = viewer.post(f"{site.base}/login", data={"username": "vera", "password": "nope"},
                        timeout=10, allow_redirects=False)  # fmt: skip
    assert wrong.status_code == 401 and "do not match" in wrong.text
    form = {"username": "vera", "password": "vera-password", "next": "/events"}
    logged = viewer.post(f"{site.base}/login", data=form, timeout=10, allow_redirects=False)
    assert logged.status_code == 302 and logged.headers["Location"] == "/events"
    cookie = logged.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=" in cookie
    assert [c["id"] for c in viewer.get(f"{site.base}/api/cameras", timeout=5).json()] == ["porch"]
    assert viewer.get(f"{site.base}/api/cameras/cam1", timeout=5).status_code == 404
    assert viewer.get(f"{site.base}/metrics", timeout=5).status_code == 403
    refused = viewer.put(f"{site.base}/api/cameras/porch/zones", timeout=5,
                         json={"zones": [{"name": "yard", "points": SQUARE}]})  # fmt: skip
    assert refused.status_code == 403 and porch.read_bytes() == before

    # The admin logs in with the password from the log and changes the zones.
    admin = requests.Session()
    assert admin.post(f"{site.base}/login", data={"username": "admin", "password": password},
                      timeout=10).ok  # fmt: skip
    saved = admin.put(f"{site.base}/api/cameras/porch/zones", timeout=10,
                      json={"zones": [{"name": "yard", "points": SQUARE}]})  # fmt: skip
    assert saved.status_code == 200, saved.text
    assert [z["name"] for z in tomllib.loads(porch.read_text())["zones"]] == ["yard"]

    # Logging out ends the session, also for a copy of its cookie kept elsewhere.
    kept = dict(admin.cookies)
    admin.post(f"{site.base}/logout", timeout=5)
    again = requests.put(f"{site.base}/api/cameras/porch/zones", json={"zones": []},
                         cookies=kept, timeout=5)  # fmt: skip
    assert again.status_code == 403, "the kept cookie is no admin's any more"


def test_failed_logins_are_slowed_per_user(make_site):
    site, _ = drop_in_site(make_site)
    site.streamer()
    assert users(site, "add", "ann", "--role", "admin", "--password-stdin",
                 password="ann-password\n").returncode == 0  # fmt: skip
    answers = [
        requests.post(
            f"{site.base}/login",
            data={"username": "ann", "password": f"guess{i}"},
            timeout=10,
            allow_redirects=False,
        ).status_code
        for i in range(6)
    ]
    assert answers == [401] * 5 + [429]
    # Even the right password waits now: guessing is slowed, not just told apart.
    right = requests.post(f"{site.base}/login", timeout=10, allow_redirects=False,
                          data={"username": "ann", "password": "ann-password"})  # fmt: skip
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0


def test_no_anonymous_viewing_when_the_site_says_never(make_site):
    site, _ = drop_in_site(make_site, '[web]\nanonymous = "never"\n')
    site.streamer()
    page = site.get("/", allow_redirects=False, headers={"Accept": "text/html"})  # a browser
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=")
    assert site.get("/api/cameras").status_code == 401
    assert site.get("/video/cam1").status_code == 401
    assert site.get("/login").ok and site.get("/healthz").ok
    assert site.get("/api/cameras", headers=ADMIN).status_code == 401, "no token was set"


def test_a_camera_file_keeps_its_mode_and_takes_one_writer_at_a_time(make_site):
    site, porch = drop_in_site(make_site, mode=0o600)
    site.streamer({"RABBITCAM_WEB_TOKEN": ADMIN_TOKEN})
    assert put_zones(site, [{"name": "yard", "points": SQUARE}]).status_code == 200
    assert stat.S_IMODE(porch.stat().st_mode) == 0o600, "a file holding passwords stays private"

    # Twelve editors at once, and a reader that must never see a broken file.
    answers: list[int] = []
    broken: list[str] = []
    done = threading.Event()

    def editor(index: int) -> None:
        for round_ in range(5):
            zone = {"name": f"z{index}-{round_}", "points": SQUARE}
            answers.append(put_zones(site, [zone]).status_code)

    def reader() -> None:
        while not done.is_set():
            try:
                data = tomllib.loads(porch.read_text())
                if data.get("source") != "synthetic":
                    broken.append(repr(data)[:100])
            except (OSError, tomllib.TOMLDecodeError) as error:
                broken.append(str(error))

    threads = [threading.Thread(target=editor, args=(i,)) for i in range(12)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    done.set()
    watcher.join(5)
    assert answers == [200] * 60
    assert broken == []
    assert sorted(p.name for p in porch.parent.iterdir()) == ["porch.toml"], "no scratch left"
    assert stat.S_IMODE(porch.stat().st_mode) == 0o600


def test_a_stale_edit_is_refused_not_silently_overwriting_another(make_site):
    site, porch = drop_in_site(make_site)
    site.streamer({"RABBITCAM_WEB_TOKEN": ADMIN_TOKEN})
    version = site.get("/api/cameras/porch").json()["zones_version"]
    first = put_zones(site, [{"name": "first", "points": SQUARE}], {"If-Match": f'"{version}"'})
    assert first.status_code == 200 and first.headers["ETag"] == f'"{first.json()["version"]}"'
    # A second editor who read the same version would undo the first's zone.
    second = put_zones(site, [{"name": "second", "points": SQUARE}], {"If-Match": f'"{version}"'})
    assert second.status_code == 409 and "changed since it was read" in second.text
    assert [z["name"] for z in tomllib.loads(porch.read_text())["zones"]] == ["first"]
    fresh = put_zones(site, [{"name": "second", "points": SQUARE}],
                      {"If-Match": f'"{first.json()["version"]}"'})  # fmt: skip
    assert fresh.status_code == 200


def _zigzag(count: int) -> list[list[float]]:
    """A simple polygon of ``count`` corners: a comb along the top, a straight bottom."""
    top = [[10 + 600 * i / (count - 3), 100 if i % 2 else 120] for i in range(count - 2)]
    return [*top, [610, 400], [10, 400]]


def test_every_zone_request_is_bounded_and_answers_within_a_second(make_site):
    site, porch = drop_in_site(make_site)
    site.streamer({"RABBITCAM_WEB_TOKEN": ADMIN_TOKEN})
    before = porch.read_bytes()
    cases = {
        "5,000 points": ([{"name": "x", "points": _zigzag(5000)}], 400, "at most 64 points"),
        "33 zones": ([{"name": f"z{i}", "points": SQUARE} for i in range(33)], 400,
                     "at most 32 tables"),
    }  # fmt: skip
    for name, (zones, code, problem) in cases.items():
        started = time.monotonic()
        answer = put_zones(site, zones)
        took = time.monotonic() - started
        assert answer.status_code == code and problem in answer.text, (name, answer.text[:300])
        assert took < 1.0, f"{name}: {took:.2f} s"
        assert porch.read_bytes() == before
    # The largest it accepts: 32 zones of 64 corners each, checked well within a second.
    largest = [{"name": f"z{i}", "points": _zigzag(64)} for i in range(32)]
    started = time.monotonic()
    assert put_zones(site, largest).status_code == 200
    assert time.monotonic() - started < 1.0
    # Bodies: deeper than a zone can be is a 400, larger than zones can be a 413.
    deep = "[" * 100_000 + "]" * 100_000
    nested = requests.put(f"{site.base}/api/cameras/porch/zones", data=deep, timeout=10,
                          headers={**ADMIN, "Content-Type": "application/json"})  # fmt: skip
    assert nested.status_code == 400 and "Traceback" not in nested.text
    bulky = requests.put(f"{site.base}/api/cameras/porch/zones", data=b"[" * 300_000, timeout=10,
                         headers={**ADMIN, "Content-Type": "application/json"})  # fmt: skip
    assert bulky.status_code == 413
    # The site is still up and serving.
    assert site.get("/healthz").json()["broker_connected"]
