"""No role assumes it shares a host with another: capture, detector and streamer each
in a network namespace of its own, reaching the broker over a virtual network."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pika
import pytest
import requests

from pipeline.core.topology import Topology
from testkit.processes import (
    Rabbitcam,
    delete_namespace,
    free_port,
    read_parts,
    real_frames,
    wait_for,
    wait_for_http,
)
from tests.broker_node import BrokerNode, require_nodes
from tests.tcp_proxy import SilentCutProxy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROLES = ("capture", "detect", "stream")
TOKEN = "a-token-for-the-test"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Hosts:
    """One network namespace per role, each joined to the test's host by a veth pair:
    the host is 10.231.N.1, the role's "machine" 10.231.N.2, on a /24 of its own."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.made: list[str] = []
        self.links: list[str] = []

    def address(self, index: int, side: int) -> str:
        return f"10.231.{index + 1}.{side}"

    def name(self, role: str) -> str:
        return f"rc-{self.tag}-{role}"

    def create(self) -> None:
        for index, role in enumerate(ROLES):
            netns, host_end, ns_end = (
                self.name(role),
                f"rc{self.tag}h{index}",
                f"rc{self.tag}n{index}",
            )
            ip("netns", "add", netns)
            self.made.append(netns)
            ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            self.links.append(host_end)
            ip("link", "set", ns_end, "netns", netns)
            ip("addr", "add", f"{self.address(index, 1)}/24", "dev", host_end)
            ip("link", "set", host_end, "up")
            ip(
                "netns",
                "exec",
                netns,
                "ip",
                "addr",
                "add",
                f"{self.address(index, 2)}/24",
                "dev",
                ns_end,
            )
            ip("netns", "exec", netns, "ip", "link", "set", ns_end, "up")
            ip("netns", "exec", netns, "ip", "link", "set", "lo", "up")

    def remove(self) -> None:
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        for netns in self.made:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)

    def run_in(self, role: str, command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.name(role), *command], capture_output=True, text=True
        )


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root: this test runs as a normal user")
    made = Hosts()
    try:
        made.create()
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        made.remove()
        detail = getattr(error, "stderr", "") or error
        pytest.skip(f"cannot create network namespaces here ({detail!s:.200}): test not run")
    try:
        yield made
    finally:
        made.remove()


def test_capture_detector_and_streamer_on_three_separate_networks(
    hosts: Hosts, namespace, broker_url, tmp_path
):
    # RabbitMQ here listens on the host's loopback only (and `guest` may only log in
    # from there), so a relay in the host's namespace gives it an address on every
    # virtual network: what a broker on its own machine would be to the roles.
    relay = SilentCutProxy(("127.0.0.1", 5672), listen="0.0.0.0")
    web_address = hosts.address(ROLES.index("stream"), 2)
    site = tmp_path / "site.toml"
    site.write_text(
        f'[web]\nbind = "{web_address}:8000"\n'
        '[[cameras]]\nid = "cam1"\nsource = "synthetic"\nfps = 10\nwidth = 320\nheight = 240\n'
        'detectors = ["motion"]\n'
    )
    user, password = broker_url.split("//", 1)[1].split("@", 1)[0].split(":", 1)
    commands = {
        "capture": ["capture", "--camera", "cam1", str(site)],
        "detect": ["detect", str(site)],
        "stream": ["stream", str(site)],
    }
    # The roles' own loopback has no broker: whatever they reach, they reach over the wire.
    probe = hosts.run_in(
        "capture",
        ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 5672), 1)"],
    )
    assert probe.returncode != 0, "the capture namespace must not see the host's loopback"

    running = []
    try:
        for index, role in enumerate(ROLES):
            url = f"amqp://{user}:{password}@{hosts.address(index, 1)}:{relay.port}/"
            running.append(
                Rabbitcam(
                    commands[role],
                    namespace,
                    tmp_path / f"{role}.log",
                    prefix=["ip", "netns", "exec", hosts.name(role)],
                    env={"RABBITCAM_AMQP_URL": url, "RABBITCAM_WEB_TOKEN": TOKEN},
                )
            )
        base = f"http://{web_address}:8000"
        token = {"Authorization": f"Bearer {TOKEN}"}

        def streamer_up() -> bool:
            try:
                return requests.get(f"{base}/healthz", timeout=1).json()["broker_connected"]
            except (requests.RequestException, ValueError):
                return False

        wait_for(streamer_up, timeout=30, interval=0.3)
        # Bound beyond its own machine, the streamer lets nobody watch unasked.
        assert requests.get(f"{base}/video/cam1", timeout=5).status_code == 401
        with requests.get(f"{base}/video/cam1", stream=True, timeout=30, headers=token) as response:
            parts = list(itertools.islice(real_frames(read_parts(response.raw)), 20))
        seqs = [int(headers["X-Frame-Seq"]) for headers, _, _ in parts]
        assert len(seqs) == 20 and seqs == sorted(set(seqs)), seqs
        summary = requests.get(f"{base}/api/cameras/cam1", timeout=5, headers=token).json()
        assert summary["status"] == "live"
        assert summary["last_worker"], "frames went through a detector worker"
        print(
            f"\nthree namespaces: 20 frames, capture→streamer p50 "
            f"{summary['latency_received_ms']['p50']} ms, {relay.accepted} broker connections"
        )
        assert relay.accepted >= 3, "every role reached the broker over its virtual network"
        for process in running:
            assert process.process.poll() is None, process.tail()
    finally:
        for process in running:
            process.stop()
        relay.close()


def test_a_cluster_node_dies_and_every_role_moves_to_another(namespace, broker_url, tmp_path):
    """Three nodes (the machine's broker and two started here): roles on the second
    move to the first when the second stops; frames flow on, and the detection
    events, in a quorum queue, survive the loss of the node."""
    require_nodes()
    second, third = BrokerNode("rabbitcam2", free_port()), BrokerNode("rabbitcam3", free_port())
    run = None
    try:
        for node in (second, third):
            node.start()
        for node in (second, third):
            node.wait()
            node.join()
        port = free_port()
        site = tmp_path / "site.toml"
        site.write_text(
            f'[broker]\nurl = ["{second.url()}", "{broker_url}"]\nheartbeat_s = 2\n'
            f'[detect]\nworkers = 1\n[web]\nbind = "127.0.0.1:{port}"\n'
            '[[cameras]]\nid = "cam1"\nsource = "synthetic"\nfps = 10\nwidth = 320\n'
            'height = 240\ndetectors = ["motion"]\n'
        )
        run = Rabbitcam(["run", str(site)], namespace, tmp_path / "run.log")
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base)

        def live_seq() -> int | None:
            summary = requests.get(f"{base}/api/cameras/cam1", timeout=2).json()
            return summary["last_seq"] if summary["status"] == "live" else None

        wait_for(live_seq, timeout=30, interval=0.2)
        log = run.log_path.read_text()
        assert log.count(f"connected to amqp://guest:***@127.0.0.1:{second.port}/") == 3, log
        events_queue = Topology(namespace).events_queue("cam1")
        with pika.BlockingConnection(pika.URLParameters(broker_url)) as connection:
            wait_for(
                lambda: (
                    connection.channel()
                    .queue_declare(events_queue, passive=True)
                    .method.message_count
                    >= 3
                ),
                timeout=20,
            )
            events_before = (
                connection.channel().queue_declare(events_queue, passive=True).method.message_count
            )

        second.stop()  # returns once the node is down
        stopped = time.monotonic()
        stopped_wall = time.time()

        def captured_after_the_stop() -> bool:
            # Sequence numbers are capture-clock milliseconds: compare capture times.
            summary = requests.get(f"{base}/api/cameras/cam1", timeout=2).json()
            return (summary["last_captured_at"] or 0) > stopped_wall

        wait_for(captured_after_the_stop, timeout=20, interval=0.1)
        moved_s = time.monotonic() - stopped
        log = run.log_path.read_text()
        moved = log.count(f"connected to amqp://guest:***@127.0.0.1:{broker_url_port(broker_url)}/")
        assert moved == 3, log[-3000:]
        assert "exited with" not in log, "no role restarted: each moved by itself"
        with pika.BlockingConnection(pika.URLParameters(broker_url)) as connection:
            # A quorum queue that lost its leader counts 0 until the others elect a new one.
            def events_counted() -> int:
                declared = connection.channel().queue_declare(events_queue, passive=True)
                return declared.method.message_count

            try:
                events_after = wait_for(lambda: events_counted() >= events_before and
                                        events_counted(), timeout=15, interval=0.2)  # fmt: skip
            except AssertionError:
                events_after = events_counted()
        print(
            f"\ncluster node stopped: frames flowing again through the other node after "
            f"{moved_s:.1f}s; events kept {events_before} → {events_after}"
        )
        assert moved_s < 10
        assert events_after >= events_before, "events were lost with the node"
    finally:
        if run is not None:
            run.stop(timeout=8)
        delete_namespace(broker_url, namespace, ["cam1"])  # while a majority is up
        for node in (third, second):
            node.remove()


def broker_url_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])
