"""One webhook attempt against a real HTTP server: what counts as delivered, what is
worth another try, and what no retry will change."""

import hashlib
import hmac
import json

import pytest

from pipeline.core.config import AlarmConfig
from pipeline.roles.alarm_targets import WebhookTarget
from pipeline.roles.alarms import alarm_payload, iso_time
from testkit.processes import free_port
from tests.conftest import make_config
from tests.webhook_server import WebhookEndpoint


@pytest.fixture
def endpoint():
    server = WebhookEndpoint(free_port())
    server.start()
    yield server
    server.stop()


def target(url: str, **settings) -> WebhookTarget:
    return WebhookTarget(AlarmConfig(name="t", url=url, kind="webhook", timeout_s=1.0, **settings))


PAYLOAD = {"camera": "door", "label": "fall", "time": "2026-12-01T06:00:00.000Z"}


def test_delivered_with_json_and_a_signature(endpoint):
    hook = target(endpoint.url, secret="s3cret", headers=(("X-Token", "abc"),))
    assert hook.send(PAYLOAD).ok
    ((_, headers, body),) = endpoint.received
    assert json.loads(body) == PAYLOAD
    assert headers["Content-Type"] == "application/json" and headers["X-Token"] == "abc"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Rabbitcam-Signature"] == f"sha256={expected}"


RETRIED = [(500, False), (503, False), (429, False), (408, False)]


@pytest.mark.parametrize(("status", "final"), [*RETRIED, (404, True), (401, True)])
def test_server_errors_are_retried_refusals_are_not(endpoint, status, final):
    endpoint.status = status
    attempt = target(endpoint.url).send(PAYLOAD)
    assert not attempt.ok and attempt.final is final and f"HTTP {status}" in attempt.why


def test_down_and_slow_endpoints_fail_within_the_timeout(endpoint):
    down = target(f"http://127.0.0.1:{free_port()}/hook").send(PAYLOAD)
    assert not down.ok and not down.final and "refused" in down.why.lower()
    endpoint.delay_s = 3.0
    slow = target(endpoint.url).send(PAYLOAD)
    assert not slow.ok and not slow.final and "timed out" in slow.why.lower()


def test_a_redirect_is_not_followed(endpoint):
    endpoint.status = 302
    attempt = target(endpoint.url).send(PAYLOAD)
    assert not attempt.ok and attempt.final and "redirect" in attempt.why


def test_payload_names_the_camera_and_links_to_it():
    config = make_config(
        [{"id": "door", "name": "Front door", "source": "synthetic"}],
        web={"public_url": "https://cams.example/"},
    )
    event = {
        "camera": "door", "seq": 5, "captured_at": 1796000000.25,
        "detection": {"label": "fall", "score": 0.9, "box": [1, 2, 3, 4], "extra": {"a": 1}},
    }  # fmt: skip
    payload = alarm_payload(config, event)
    assert payload["camera_name"] == "Front door" and payload["label"] == "fall"
    assert payload["time"] == iso_time(1796000000.25) and payload["time"].endswith(".250Z")
    assert payload["links"]["events"] == "https://cams.example/events?camera=door"
    assert payload["box"] == [1, 2, 3, 4] and payload["extra"] == {"a": 1}
