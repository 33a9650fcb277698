"""Extra RabbitMQ nodes for tests: their own node name, ports and data directory.

Started from the installed RabbitMQ as the ``rabbitmq`` user (so they share the
Erlang cookie of the machine's broker and can join its cluster), each with a
config, an environment file and a data directory of its own under a
temporary directory. ``remove`` stops the node and makes the machine's broker
forget it, so that the broker is left as it was found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from testkit.processes import free_port

PRIMARY = "rabbit@localhost"
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def rabbitmqctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def can_start_nodes() -> str | None:
    """Why extra nodes cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting RabbitMQ nodes as the rabbitmq user needs root"
    if not SERVER.exists() or shutil.which("rabbitmqctl") is None:
        return f"no {SERVER} (Debian's rabbitmq-server)"
    status = rabbitmqctl("-n", PRIMARY, "status", timeout=30)
    if status.returncode != 0:
        return f"the machine's broker is not the node {PRIMARY}"
    return None


def require_nodes() -> None:
    reason = can_start_nodes()
    if reason:
        message = f"NO EXTRA RABBITMQ NODES: {reason}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class BrokerNode:
    def __init__(self, name: str, port: int, config: str = "") -> None:
        self.name = f"{name}@localhost"
        self.port = port
        self.dist_port = free_port()  # not port + 20000: ephemeral ports would overflow
        self.workdir = Path(tempfile.mkdtemp(prefix=f"rabbitcam-{name}-"))
        (self.workdir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{port}\n" + config
        )
        (self.workdir / "enabled_plugins").write_text("[].\n")
        (self.workdir / "rabbitmq-env.conf").write_text(f"NODENAME={self.name}\n")
        for sub in ("log", "mnesia"):
            (self.workdir / sub).mkdir()
        shutil.chown(self.workdir, "rabbitmq", "rabbitmq")
        for path in self.workdir.rglob("*"):
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.started = False

    def url(self, user: str = "guest", password: str = "guest") -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Start detached; ``wait`` until it runs."""
        env = {
            "PATH": os.environ["PATH"],
            "HOME": "/var/lib/rabbitmq",
            "RABBITMQ_CONF_ENV_FILE": str(self.workdir / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.workdir / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        subprocess.run(
            ["runuser", "-u", "rabbitmq", "--", "env", *[f"{k}={v}" for k, v in env.items()],
             str(SERVER), "-detached"],
            cwd="/var/lib/rabbitmq", check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.started = True

    def wait(self, timeout: float = 90) -> None:
        # await_startup gives up at once while the node has not even registered
        # with epmd yet, so ask again until it answers or the time is up.
        deadline = time.monotonic() + timeout
        while True:
            left = max(1, int(deadline - time.monotonic()))
            result = rabbitmqctl("-n", self.name, "await_startup", "--timeout", str(left))
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                log = "\n".join(p.read_text()[-2000:] for p in (self.workdir / "log").glob("*.log"))
                raise AssertionError(f"{self.name} did not start: {result.stderr[-1000:]}\n{log}")
            time.sleep(0.5)

    def join(self, primary: str = PRIMARY) -> None:
        for args in (("stop_app",), ("join_cluster", primary), ("start_app",)):
            result = rabbitmqctl("-n", self.name, *args)
            assert result.returncode == 0, f"{self.name} {args}: {result.stderr[-2000:]}"

    def stop(self) -> None:
        """A full stop of the node (the Erlang VM exits)."""
        rabbitmqctl("-n", self.name, "stop")

    def remove(self) -> None:
        """Stop, leave the primary's cluster, and delete the data directory."""
        if self.started:
            self.stop()
            rabbitmqctl("-n", PRIMARY, "forget_cluster_node", self.name)
        shutil.rmtree(self.workdir, ignore_errors=True)
