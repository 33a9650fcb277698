"""One webhook attempt against a real HTTP server: what counts as delivered, what is
worth another try, and what no retry will change."""

import hashlib
import hmac
import json
import time

import pytest

from pipeline.core.alarm_config import AlarmConfig
from pipeline.core.messages import Event
from pipeline.core.settings import ConfigError
from pipeline.roles.alarm_targets import WebhookTarget, endpoint_of, topic_level
from pipeline.roles.alarms import alarm_payload, iso_time
from testkit.processes import free_port
from tests.conftest import make_config
from tests.webhook_server import HostileEndpoint, WebhookEndpoint


@pytest.fixture
def endpoint():
    server = WebhookEndpoint(free_port())
    server.start()
    yield server
    server.stop()


def target(url: str, **settings) -> WebhookTarget:
    return WebhookTarget(AlarmConfig(name="t", url=url, timeout_s=1.0, **settings))


PAYLOAD = {"camera": "door", "label": "fall", "time": "2026-12-01T06:00:00.000Z"}


def test_delivered_with_json_and_a_signature_of_timestamp_and_body(endpoint):
    hook = target(endpoint.url, secret="s3cret", headers=(("X-Token", "abc"),))
    payload = {**PAYLOAD, "delivery": "d1"}
    assert hook.send(payload).ok
    ((received_at, headers, body),) = endpoint.received
    assert json.loads(body) == payload
    assert headers["Content-Type"] == "application/json" and headers["X-Token"] == "abc"
    # What docs/alarms.md tells a receiver to check: the signature of "<timestamp>.<body>",
    # a timestamp within its window, and the delivery id to take a redelivery once.
    stamp = headers["X-Rabbitcam-Timestamp"]
    assert abs(int(stamp) - received_at) <= 2
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Rabbitcam-Signature"], f"sha256={expected}")
    assert headers["X-Rabbitcam-Delivery"] == "d1"
    # The body alone no longer verifies: a replay with another timestamp fails.
    body_only = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Rabbitcam-Signature"] != f"sha256={body_only}"


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
    assert not slow.ok and not slow.final and "within 1.0 s" in slow.why


def test_an_endpoint_that_trickles_its_reply_is_cut_off_at_the_timeout():
    trickle = HostileEndpoint(free_port(), "trickle", every_s=0.2)
    try:
        started = time.monotonic()
        attempt = target(trickle.url).send(PAYLOAD)
        took = time.monotonic() - started
    finally:
        trickle.stop()
    assert not attempt.ok and not attempt.final and "within 1.0 s" in attempt.why
    assert took < 2.0, f"a 1 s timeout took {took:.1f} s"


def test_a_reply_that_is_no_http_is_a_failed_attempt_not_an_exception():
    garbage = HostileEndpoint(free_port(), "garbage")
    try:
        attempt = target(garbage.url).send(PAYLOAD)
    finally:
        garbage.stop()
    assert not attempt.ok and not attempt.final and "BadStatusLine" in attempt.why


def test_a_redirect_is_not_followed(endpoint):
    endpoint.status = 302
    attempt = target(endpoint.url).send(PAYLOAD)
    assert not attempt.ok and attempt.final and "redirect" in attempt.why


def test_payload_names_the_camera_and_links_to_it():
    config = make_config(
        [{"id": "door", "name": "Front door", "source": "synthetic"}],
        web={"public_url": "https://cams.example/"},
    )
    event = Event(
        camera="door", seq=5, captured_at=1796000000.25,
        detection={"label": "fall", "score": 0.9, "box": [1, 2, 3, 4], "extra": {"a": 1}},
    )  # fmt: skip
    payload = alarm_payload(config, event)
    assert payload["camera_name"] == "Front door" and payload["label"] == "fall"
    assert payload["time"] == iso_time(1796000000.25) and payload["time"].endswith(".250Z")
    assert payload["links"]["events"] == "https://cams.example/events?camera=door"
    assert payload["box"] == [1, 2, 3, 4] and payload["extra"] == {"a": 1}


@pytest.mark.parametrize(
    ("label", "level"),
    [("person", "person"), ("a+b", "a%2Bb"), ("#", "%23"), ("x/y", "x%2Fy"), ("a b", "a%20b")],
)
def test_a_label_is_one_mqtt_topic_level_without_wildcards(label, level):
    assert topic_level(label) == level


def test_a_secret_in_a_webhook_path_stays_out_of_descriptions():
    assert endpoint_of("https://ntfy.sh/my-secret-topic") == "https://ntfy.sh/…"
    assert endpoint_of("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"
    assert "tok" not in target("https://hooks.example/x?token=tok").describe()


def test_a_secret_over_plain_http_to_another_host_is_a_config_error():
    def site(alarm: dict):
        return make_config([{"id": "door", "source": "synthetic"}], alarms=[alarm])

    with pytest.raises(ConfigError, match=r"alarms\[0\]\.url: sends secret over plain http"):
        site({"url": "http://hooks.example/x", "secret": "s"})
    site({"url": "http://hooks.example/x", "secret": "s", "plain_http": True})
    site({"url": "http://127.0.0.1:9/x", "headers": {"A": "b"}})
    site({"url": "https://hooks.example/x", "secret": "s"})
