"""Camera passwords never reach a viewer; the streamer's own access control holds.

Before: ``redact_url`` missed passwords holding ``/`` or ``@``, a password with
no user, and credentials in the query string, and every camera's source URL
went to ``/api/cameras`` and the camera page. A user name set with an empty
password served everything without asking; a non-ASCII token was a 500.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
import requests

from pipeline.core.urls import redact_url
from testkit.processes import rabbitcam_command
from tests.security.conftest import CAMERA

SECRET_URLS = {
    "rtsp://admin:pa/ss@cam.local/stream": ("pa/ss", "rtsp://admin:***@cam.local/stream"),
    "rtsp://admin:p@ss@cam.local": ("p@ss", "rtsp://admin:***@cam.local"),
    "rtsp://:secret@cam.local/1": ("secret", "rtsp://***@cam.local/1"),
    "http://cam.local/x.cgi?user=admin&pwd=secret": (
        "secret",
        "http://cam.local/x.cgi?user=***&pwd=***",
    ),
    "http://cam.local/live?token=abc123&res=hd": (
        "abc123",
        "http://cam.local/live?token=***&res=hd",
    ),
    "rtsp://u:p%40ss%2Fw@cam.local:554/s?Password=x#frag": (
        "p%40ss",
        "rtsp://u:***@cam.local:554/s?Password=***#frag",
    ),
    "amqps://user:pw:with:colons@broker/vhost?cacertfile=/ca.pem": (
        "with:colons",
        "amqps://user:***@broker/vhost?cacertfile=/ca.pem",
    ),
}


@pytest.mark.parametrize("url", list(SECRET_URLS))
def test_redact_url_leaves_no_secret(url):
    secret, expected = SECRET_URLS[url]
    shown = redact_url(url)
    assert secret not in shown
    assert shown == expected


def test_redact_url_leaves_urls_without_secrets_alone():
    for url in ("rtsp://cam.local:554/stream1", "http://cam.local/mjpg?fps=10&res=hd", "synthetic"):
        assert redact_url(url) == url


SOURCE = "rtsp://admin:p@ss/w0rd@192.0.2.10:554/stream1?user=admin&pwd=hunter2"


@pytest.mark.integration
@pytest.mark.parametrize("show_sources", [False, True])
def test_source_urls_reach_browsers_only_when_switched_on(make_site, show_sources):
    web = "[web]\nshow_sources = true\n" if show_sources else ""
    site, _ = make_site(web + f'[[cameras]]\nid = "cam1"\nsource = "{SOURCE}"\n')
    site.streamer()
    pages = [site.get(p).text for p in ("/api/cameras", "/api/cameras/cam1", "/camera/cam1", "/")]
    for page in pages:
        for secret in ("p@ss", "w0rd", "hunter2"):
            assert secret not in page
    source = site.camera()["config"]["source"]
    if show_sources:
        assert source == "rtsp://admin:***@192.0.2.10:554/stream1?user=***&pwd=***"
    else:
        assert source == "url" and "192.0.2.10" not in " ".join(pages)


def run_streamer(site, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*rabbitcam_command(), "stream", str(site.config), "--bind", f"127.0.0.1:{site.port}"],
        env={**os.environ, "RABBITCAM_NAMESPACE": site.namespace, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"RABBITCAM_WEB_USER": "admin", "RABBITCAM_WEB_PASSWORD": ""}, "RABBITCAM_WEB_PASSWORD"),
        ({"RABBITCAM_WEB_USER": "admin"}, "RABBITCAM_WEB_PASSWORD"),
        ({"RABBITCAM_WEB_PASSWORD": "secret"}, "RABBITCAM_WEB_USER"),
    ],
)
def test_half_set_credentials_refuse_to_start(make_site, env, missing):
    site, _ = make_site(CAMERA.format(id="cam1"))
    clean = {k: "" for k in ("RABBITCAM_WEB_USER", "RABBITCAM_WEB_PASSWORD", "RABBITCAM_WEB_TOKEN")}
    finished = run_streamer(site, {**clean, **env})
    assert finished.returncode == 2, finished.stderr
    assert missing in finished.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", site.port), timeout=1).close()
    # `rabbitcam run` with the streamer among its roles refuses the same way.
    run = subprocess.run(
        [*rabbitcam_command(), "run", str(site.config)],
        env={**os.environ, "RABBITCAM_NAMESPACE": site.namespace, **clean, **env},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 2 and missing in run.stderr


def raw_request(port: int, headers: bytes) -> bytes:
    """A request with header bytes as an attacker writes them (requests would not)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /api/cameras HTTP/1.0\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.integration
def test_token_and_basic_auth_hold_against_odd_credentials(make_site):
    site, _ = make_site('[web]\ntrusted_proxy = "127.0.0.1"\n' + CAMERA.format(id="cam1"))
    env = {
        "RABBITCAM_WEB_TOKEN": "s3cret-token",
        "RABBITCAM_WEB_USER": "admin",
        "RABBITCAM_WEB_PASSWORD": "pässword",
    }
    streamer = site.streamer(env)
    assert "access control on (0 users and token and basic;" in streamer.tail()
    for headers in (
        b"",
        b"Authorization: Bearer \xc3\xbc\xc3\xb1\xc3\xaf\r\n",
        b"Authorization: Bearer s3cret-token\xc3\xbc\r\n",  # the right token and more
        b"Authorization: Bearer s3cret-toke\r\n",
        b"Cookie: rabbitcam_token=\xc3\xbc\r\n",
        b"Cookie: rabbitcam_token=s3cret\r\n",
        b"Authorization: Basic w7w6w7w=\r\n",  # non-ASCII user and password
        b"Authorization: Basic !!!notbase64\r\n",
        b"Authorization: Basic YWRtaW46\r\n",  # admin with an empty password
    ):
        assert raw_request(site.port, headers).split(b" ")[1] == b"401", headers
    assert site.get("/api/cameras", headers={"Authorization": "Bearer s3cret-token"}).ok
    assert site.get("/api/cameras", auth=("admin", "pässword".encode())).ok
    assert site.get("/healthz").ok  # open for load balancers
    # The token traded for a cookie: Secure when the request came over HTTPS.
    plain = site.get("/?token=s3cret-token", allow_redirects=False)
    behind_tls = site.get(
        "/?token=s3cret-token", allow_redirects=False, headers={"X-Forwarded-Proto": "https"}
    )
    assert plain.status_code == behind_tls.status_code == 302
    assert "HttpOnly" in plain.headers["Set-Cookie"] and "Secure" not in plain.headers["Set-Cookie"]
    assert "Secure" in behind_tls.headers["Set-Cookie"]
    cookie = behind_tls.cookies.get("rabbitcam_token")
    assert requests.get(
        site.base + "/api/cameras", cookies={"rabbitcam_token": cookie}, timeout=5
    ).ok
    assert site.get("/api/cameras", params={"token": "s3cret-tökén"}).status_code == 401
