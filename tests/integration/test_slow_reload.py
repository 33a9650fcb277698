"""A reload of the config never holds up a role's broker connection: however slow
loading the files is, the role's heartbeats go on and it never reconnects."""

from __future__ import annotations

import time

import pytest

import pipeline.core.reload as reload
from pipeline.core.config import load_config
from pipeline.core.reload import ConfigWatcher
from testkit.processes import wait_for
from web.hub import FrameHub

pytestmark = pytest.mark.integration

HEARTBEAT_S = 1
LOAD_S = 4.0  # four heartbeats: a role that waited for it would be judged silent and cut


def test_a_slow_reload_keeps_the_roles_heartbeats(broker_url, namespace, tmp_path, monkeypatch):
    (tmp_path / "cameras.d").mkdir()
    site = tmp_path / "site.toml"
    site.write_text(
        f'cameras_dir = "cameras.d"\n[broker]\nurl = "{broker_url}"\nnamespace = "{namespace}"\n'
        f'heartbeat_s = {HEARTBEAT_S}\n[[cameras]]\nid = "cam1"\nsource = "synthetic"\n'
    )
    config = load_config(site)
    loads: list[float] = []

    def slow_load(*args, **kwargs):
        started = time.monotonic()
        time.sleep(LOAD_S)  # as a config with thousands of points took to check
        loaded = load_config(*args, **kwargs)
        loads.append(time.monotonic() - started)
        return loaded

    monkeypatch.setattr(reload, "load_config", slow_load)
    hub = FrameHub(config, watcher=ConfigWatcher(config, "stream", interval_s=0.2))
    hub.start()
    try:
        assert hub.connected.wait(15)
        (tmp_path / "cameras.d" / "porch.toml").write_text('source = "synthetic"\n')
        wait_for(lambda: "porch" in hub.feeds, timeout=3 * LOAD_S)
        assert loads and loads[0] >= LOAD_S, "the load was slow"
        assert hub.connected.is_set()
        assert hub.reconnects == 0, "the hub's connection was cut while the config loaded"
    finally:
        hub.close()
