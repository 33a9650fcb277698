"""Capture's load shedding: a smaller share of frames while pictures wait for the CPU."""

from pipeline.roles.capture import LoadShedding


def feed(
    shedding: LoadShedding, waits_ms: list[float], start: float, said: list | None = None
) -> float:
    """One window's worth of published pictures with these waits; returns the time
    after (and adds what the controller said of the window to ``said``)."""
    step = LoadShedding.WINDOW_S / len(waits_ms)
    for index, wait in enumerate(waits_ms):
        # the last one a little past the window's end, where the share is decided
        change = shedding.observe(wait, start + (index + 1) * step + 0.001)
        if said is not None:
            said.append(change)
    return start + LoadShedding.WINDOW_S + 0.001


def test_pictures_that_wait_cut_the_share_a_quarter_a_second_down_to_a_floor():
    shedding = LoadShedding(enabled=True)
    now = shedding._window_from
    shares = []
    for _ in range(20):
        now = feed(shedding, [40.0] * 30, now)
        shares.append(shedding.share)
    assert abs(shares[0] - 0.75) < 1e-9 and abs(shares[1] - 0.5625) < 1e-9
    assert shares == sorted(shares, reverse=True)
    assert shares[-1] == LoadShedding.FLOOR


def test_quick_pictures_win_the_share_back_a_tenth_at_a_time():
    shedding = LoadShedding(enabled=True)
    now = shedding._window_from
    said: list = []
    for _ in range(4):
        now = feed(shedding, [40.0] * 30, now, said)
    assert [change for change in said if change] == ["cut"] * 4  # one per window
    low = shedding.share
    said.clear()
    now = feed(shedding, [1.0] * 30, now, said)
    assert abs(shedding.share - (low + 0.1)) < 1e-9
    for _ in range(12):
        now = feed(shedding, [1.0] * 30, now, said)
    assert shedding.share == 1.0
    # Said once, when every frame goes again; nothing more while it stays there.
    assert [change for change in said if change] == ["restored"]


def test_a_few_slow_pictures_shed_nothing():
    """Waiting for the interpreter delays a few pictures in a busy process; the
    typical picture is what counts."""
    shedding = LoadShedding(enabled=True)
    now = shedding._window_from
    for _ in range(5):
        now = feed(shedding, [200.0] * 12 + [1.0] * 18, now)
    assert shedding.share == 1.0


def test_between_quick_and_slow_the_share_holds():
    shedding = LoadShedding(enabled=True)
    now = feed(shedding, [40.0] * 30, shedding._window_from)
    for _ in range(5):
        now = feed(shedding, [10.0] * 30, now)
    assert abs(shedding.share - 0.75) < 1e-9


def test_switched_off_it_never_sheds():
    shedding = LoadShedding(enabled=False)
    now = shedding._window_from
    for _ in range(5):
        now = feed(shedding, [500.0] * 30, now)
    assert shedding.share == 1.0
