"""A silent network cut is noticed within two heartbeat intervals, and the role reconnects."""

from __future__ import annotations

import time

from pipeline.roles.capture import CaptureWorker
from testkit.processes import wait_for
from tests.conftest import make_config
from tests.tcp_proxy import SilentCutProxy
from web.hub import FrameHub

HEARTBEAT_S = 2
# Our own check (broker.pump): two intervals without a byte from the broker. The
# roles' loops wake every 0.5 s, hence the margin.
NOTICED_WITHIN_S = 2 * HEARTBEAT_S + 1.0


def test_silent_cut_is_noticed_by_the_heartbeat_and_healed(namespace, roles):
    proxy = SilentCutProxy(("127.0.0.1", 5672))
    direct = make_config(
        [{"id": "cam1", "source": "synthetic", "fps": 10, "annotate": False}], namespace=namespace
    )
    through_proxy = make_config(
        [{"id": "cam1", "source": "synthetic", "fps": 10, "annotate": False}],
        namespace=namespace,
        broker={
            "url": f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
            "namespace": namespace,
            "heartbeat_s": HEARTBEAT_S,
            "reconnect_max_s": 1.0,
        },
    )
    from pipeline.roles.detect import DetectorWorker

    # The streamer's hub talks through the proxy; capture and detector directly.
    hub = FrameHub(through_proxy)
    hub.start()
    try:
        roles.start(CaptureWorker(direct, direct.cameras[0], roles.stop).run, "capture")
        roles.start(DetectorWorker(direct, list(direct.cameras), roles.stop, "w1").run, "detect")
        feed = hub.feed("cam1")
        wait_for(lambda: feed.latest, timeout=20)
        sessions = hub.sessions

        proxy.cut()
        cut_at = time.monotonic()
        wait_for(lambda: not hub.connected.is_set(), timeout=30, interval=0.05)
        noticed_s = time.monotonic() - cut_at
        proxy.restore()
        restored_at = time.monotonic()
        wait_for(lambda: hub.sessions > sessions and hub.connected.is_set(), timeout=10)
        last = feed.latest.result.seq
        wait_for(lambda: feed.latest.result.seq > last + 5, timeout=10)
        healed_s = time.monotonic() - restored_at
        print(f"\ncut noticed after {noticed_s:.1f}s (heartbeat {HEARTBEAT_S}s); "
              f"frames again {healed_s:.1f}s after the network healed")  # fmt: skip
        assert noticed_s <= NOTICED_WITHIN_S, f"noticed after {noticed_s:.1f}s"

        # A reset connection (StreamLostError in pika) is handled the same way, at once.
        sessions = hub.sessions
        proxy.reset()
        reset_at = time.monotonic()
        wait_for(lambda: hub.sessions > sessions and hub.connected.is_set(), timeout=10)
        last = feed.latest.result.seq
        wait_for(lambda: feed.latest.result.seq > last + 5, timeout=10)
        print(f"reset connection: frames again {time.monotonic() - reset_at:.1f}s after the RST")
    finally:
        hub.close()
        proxy.close()
