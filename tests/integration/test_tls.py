"""amqps:// with a CA bundle and certificate verification, against a RabbitMQ node with
a TLS listener and a self-signed CA, both made by the test."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core import broker
from pipeline.core.settings import ConfigError
from pipeline.roles.capture import CaptureWorker
from pipeline.roles.detect import DetectorWorker
from testkit.processes import free_port, wait_for
from tests.broker_node import BrokerNode, require_nodes
from tests.conftest import make_config
from web.hub import FrameHub


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path) -> None:
    """A CA, and a server certificate it signed for localhost and 127.0.0.1."""
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=rabbitcam test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=directory,
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr", cwd=directory,
    )  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "san.ext", cwd=directory,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tls_node() -> Iterator[tuple[BrokerNode, int, Path]]:
    require_nodes()
    # Not under pytest's private temporary directory: the node (the rabbitmq
    # user) must be able to read the certificates.
    certificates = Path(tempfile.mkdtemp(prefix="rabbitcam-tls-"))
    make_certificates(certificates)
    tls_port = free_port()
    node = BrokerNode(
        "rabbitcamtls",
        free_port(),
        f"listeners.ssl.default = 127.0.0.1:{tls_port}\n"
        f"ssl_options.cacertfile = {certificates / 'ca.pem'}\n"
        f"ssl_options.certfile = {certificates / 'server.pem'}\n"
        f"ssl_options.keyfile = {certificates / 'server.key'}\n"
        "ssl_options.verify = verify_none\n"
        "ssl_options.fail_if_no_peer_cert = false\n",
    )
    for path in certificates.iterdir():
        path.chmod(0o644)  # the node runs as the rabbitmq user
    certificates.chmod(0o755)
    try:
        node.start()
        node.wait()
        yield node, tls_port, certificates
    finally:
        node.remove()
        shutil.rmtree(certificates, ignore_errors=True)


def test_amqps_with_a_ca_bundle_carries_frames(tls_node, namespace, roles, caplog):
    _node, tls_port, certificates = tls_node
    url = f"amqps://guest:guest@localhost:{tls_port}/?cacertfile={certificates / 'ca.pem'}"
    config = make_config(
        [
            {
                "id": "cam1",
                "source": "synthetic",
                "fps": 10,
                "width": 320,
                "height": 240,
                "direct": False,
            }
        ],
        namespace=namespace,
        broker={"url": url, "namespace": namespace, "heartbeat_s": 5},
    )
    camera = config.cameras[0]
    hub = FrameHub(config)
    hub.start()
    try:
        with caplog.at_level(logging.INFO):
            roles.start(DetectorWorker(config, [camera], roles.stop, "w1").run, "detect")
            roles.start(CaptureWorker(config, camera, roles.stop).run, "capture")
            feed = hub.feed("cam1")
            wait_for(lambda: feed.latest is not None and feed.state() == "live", timeout=30)
        seq = feed.latest.result.seq
        wait_for(lambda: feed.latest.result.seq > seq + 5, timeout=10)
        connection = broker.connect(config.broker, "tls check")
        try:
            assert connection._impl.params.ssl_options is not None
        finally:
            connection.close()
        assert f"amqps://guest:***@localhost:{tls_port}/" in caplog.text
        assert "guest:guest" not in caplog.text, "the password reached a log line"
    finally:
        hub.close()


def test_amqps_refuses_a_broker_it_cannot_verify(tls_node):
    _node, tls_port, certificates = tls_node
    ca = certificates / "ca.pem"
    refused = [
        # The system's CAs do not know the test's CA.
        f"amqps://guest:guest@localhost:{tls_port}/",
        # Right CA, but the certificate is not for that name.
        f"amqps://guest:guest@localhost:{tls_port}/?cacertfile={ca}"
        "&server_name_indication=broker.example",
    ]
    for url in refused:
        config = make_config(broker={"url": url, "heartbeat_s": 5})
        with pytest.raises((broker.BrokerError, OSError)):  # TLS failures are ssl.SSLError
            broker.connect(config.broker, "must fail").close()
    # verify_none is the explicit opt-out, for a broker whose CA you do not have.
    opt_out = make_config(
        broker={"url": f"amqps://guest:guest@localhost:{tls_port}/?verify=verify_none"}
    )
    broker.connect(opt_out.broker, "unverified").close()


def test_a_missing_ca_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as raised:
        make_config(broker={"url": f"amqps://u:p@localhost/?cacertfile={tmp_path / 'none.pem'}"})
    assert "broker.url: cacertfile not found" in str(raised.value)
    assert "u:p@" not in str(raised.value)
