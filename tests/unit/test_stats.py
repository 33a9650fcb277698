from web.stats import LatencyWindow, RateMeter


def test_percentiles_are_observed_values():
    window = LatencyWindow()
    for value in range(1, 101):
        window.add(float(value), now=1000.0)
    stats = window.percentiles(now=1000.0)
    assert (stats["p50"], stats["p95"], stats["p99"], stats["count"]) == (50.0, 95.0, 99.0, 100)


def test_old_samples_leave_the_window():
    window = LatencyWindow(window_s=10)
    window.add(500.0, now=0.0)
    window.add(5.0, now=20.0)
    assert window.percentiles(now=20.0)["p99"] == 5.0


def test_empty_window_has_no_figures():
    assert LatencyWindow().percentiles()["p50"] is None


def test_series_is_per_second_medians():
    window = LatencyWindow()
    window.add(10.0, now=99.5)
    window.add(30.0, now=99.6)
    series = window.series(buckets=3, now=100.0)
    assert series == [None, None, 30.0] or series == [None, None, 10.0]


def test_rate_over_a_full_window():
    meter = RateMeter(window_s=2.0)
    for i in range(200):  # 20 a second for 10 s
        meter.tick(now=100.0 + i * 0.05)
    assert meter.rate(now=110.0) == 20.0


def test_rate_of_a_camera_that_just_started_is_not_underreported():
    meter = RateMeter(window_s=5.0)
    for i in range(30):  # 20 a second for the 1.5 s since it started
        meter.tick(now=100.0 + i * 0.05)
    assert meter.rate(now=101.5) == 20.0
    assert RateMeter().rate(now=5.0) == 0.0
