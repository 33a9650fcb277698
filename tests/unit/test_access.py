"""Who may see and change what, through the app (no broker): viewers of some cameras,
tokens, sessions that end, proxies believed only when trusted, nowhere to be sent
but this site."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.users import UserFile, hash_password, password_matches, read_users
from tests.conftest import make_config
from web.app import create_app
from web.auth import Auth, Throttle
from web.hub import FrameHub
from web.metrics import StreamMetrics

CAMERAS = [{"id": cid, "source": "synthetic"} for cid in ("porch", "garage", "attic")]


@pytest.fixture
def site(tmp_path: Path):
    """An app over three cameras, its users file, and a factory of clients."""
    config = make_config(CAMERAS)
    users = UserFile(tmp_path / "users.json")
    users.add("ada", "admin", "ada-password")
    users.add("kim", "viewer", "kim-password", ("porch", "garage"))
    hub = FrameHub(config)
    auth = Auth(users_path=users.path, trusted_proxy="10.0.0.7", proxy_header="Remote-User")
    app = create_app(config, hub, auth=auth, metrics=StreamMetrics())
    yield app, users, auth
    hub.close()


def logged_in(app, name: str, password: str):
    client = app.test_client()
    answer = client.post("/login", data={"username": name, "password": password})
    assert answer.status_code == 302, answer.text
    return client


def test_a_viewer_of_some_cameras_sees_only_those_everywhere(site):
    app, _, _ = site
    kim = logged_in(app, "kim", "kim-password")
    assert [c["id"] for c in kim.get("/api/cameras").json] == ["porch", "garage"]
    for path in ("/api/cameras/attic", "/camera/attic", "/snapshot/attic.jpg", "/video/attic",
                 "/mux?cameras=porch,attic"):  # fmt: skip
        assert kim.get(path).status_code == 404, path
    assert b"attic" not in kim.get("/").data
    assert kim.get("/metrics").status_code == 403, "the metrics speak of every camera"
    assert kim.delete("/api/events/1").status_code == 403
    ada = logged_in(app, "ada", "ada-password")
    assert [c["id"] for c in ada.get("/api/cameras").json] == ["porch", "garage", "attic"]
    assert ada.get("/metrics").status_code == 200


def test_tokens_act_as_their_user_until_revoked(site):
    app, users, _ = site
    token = users.add_token("kim", "script")
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert [c["id"] for c in client.get("/api/cameras", headers=bearer).json] == [
        "porch", "garage",
    ]  # fmt: skip
    assert (
        client.get("/api/cameras", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    )
    users.remove_token("kim", "script")
    assert client.get("/api/cameras", headers=bearer).status_code == 401
    assert "script" not in (users.path.read_text()), "only a digest of a token is kept"


def test_a_new_password_or_role_ends_the_users_sessions(site):
    app, users, _ = site
    kim = logged_in(app, "kim", "kim-password")
    assert kim.get("/api/cameras").status_code == 200
    users.set_password("kim", "another-password")
    assert kim.get("/api/cameras").status_code == 401
    kim = logged_in(app, "kim", "another-password")
    users.set_access("kim", "viewer", None)
    assert kim.get("/api/cameras").status_code == 401
    users.rotate_secret()
    ada = logged_in(app, "ada", "ada-password")
    users.rotate_secret()
    assert ada.get("/api/cameras").status_code == 401, "a new secret: everyone logs in again"


def test_after_login_only_a_path_of_this_site(site):
    app, _, _ = site
    client = app.test_client()
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "evil"):
        answer = client.post("/login", data={"username": "ada", "password": "ada-password",
                                             "next": target})  # fmt: skip
        assert answer.headers["Location"] == "/", target
        assert b"evil" not in client.get(f"/login?next={target}").data
    answer = client.post("/login", data={"username": "ada", "password": "ada-password",
                                         "next": "/events?camera=porch"})  # fmt: skip
    assert answer.headers["Location"] == "/events?camera=porch"


def test_a_proxys_user_header_is_believed_from_the_trusted_proxy_only(site):
    app, _, _ = site
    client = app.test_client()
    named = {"Remote-User": "ada"}
    assert client.get("/api/cameras", headers=named).status_code == 401, "from anyone: ignored"
    proxied = client.get("/api/cameras", headers=named,
                         environ_base={"REMOTE_ADDR": "10.0.0.7"})  # fmt: skip
    assert proxied.status_code == 200 and len(proxied.json) == 3
    stranger = client.get("/api/cameras", headers={"Remote-User": "mallory"},
                          environ_base={"REMOTE_ADDR": "10.0.0.7"})  # fmt: skip
    assert stranger.status_code == 401, "a name the users file does not have"


def test_anonymous_watching_is_for_this_machine_and_never_relayed(tmp_path):
    config = make_config(CAMERAS)
    hub = FrameHub(config)
    auth = Auth(users_path=tmp_path / "users.json", anonymous=True)
    client = create_app(config, hub, auth=auth).test_client()
    try:
        assert client.get("/api/cameras").status_code == 200
        assert client.put("/api/cameras/porch/zones", json={"zones": []}).status_code == 403
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            relayed = client.get("/api/cameras", headers={header: "203.0.113.9"})
            assert relayed.status_code == 401, header
        remote = client.get("/api/cameras", environ_base={"REMOTE_ADDR": "192.0.2.1"})
        assert remote.status_code == 401
    finally:
        hub.close()
    site = make_config(CAMERAS, web={"bind": "0.0.0.0:8000"})
    assert not Auth.for_site(site).anonymous, "a bind beyond this machine: everyone logs in"
    assert Auth.for_site(make_config(CAMERAS)).anonymous
    never = make_config(CAMERAS, web={"anonymous": "never"})
    assert not Auth.for_site(never).anonymous


def test_a_form_from_elsewhere_is_refused_and_ours_is_not(site):
    app, _, _ = site
    client = app.test_client()
    form = {"username": "ada", "password": "ada-password"}
    assert client.post("/login", data=form, headers={"Origin": "null"}).status_code == 403
    ours = client.post("/login", data=form,
                       headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})  # fmt: skip
    assert ours.status_code == 302


def test_passwords_are_scrypt_hashes_and_the_file_is_private(tmp_path):
    users = UserFile(tmp_path / "site" / "users.json")
    users.add("ada", "admin", "ada-password")
    stored = read_users(users.path).get("ada").password
    assert stored.startswith("scrypt$16384$8$1$") and "ada-password" not in users.path.read_text()
    assert password_matches("ada-password", stored) and not password_matches("ada-passworD", stored)
    assert users.path.stat().st_mode & 0o777 == 0o600
    assert hash_password("x" * 8) != hash_password("x" * 8), "salted"
    assert users.add_first_admin("admin", "whatever1") is False, "only on an empty file"


def test_failed_logins_wait_per_key_and_the_table_is_bounded():
    throttle = Throttle(allowed=3, window_s=60, most_keys=100)
    for _ in range(3):
        assert throttle.wait_s("1.2.3.4") == 0
        throttle.failed("1.2.3.4")
    assert 59 < throttle.wait_s("1.2.3.4") <= 60
    throttle.succeeded("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 0
    for n in range(1000):
        throttle.failed(f"name{n}")
    assert len(throttle.failures) == 100
