"""`rabbitcam bench --quick` runs every scenario and produces every figure.

Targets are not asserted here (a shared CI box is too noisy for that); the
figures of a full run live in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from testkit.processes import ROOT, rabbitcam_command

pytestmark = pytest.mark.e2e

EXPECTED = [
    "pipeline-1x15-motion", "pipeline-1x15-none", "pipeline-4x15-motion", "pipeline-4x15-none",
    "motion-4x15", "motion-4x15-page", "direct-1x15-motion", "direct-4x15-motion",
    "naive-1x15", "hop-imagezmq", "hop-rabbitcam", "capacity-4x30", "overload-1x30-slow100",
    "fanout-50-viewers",
]  # fmt: skip


def scenarios_offered() -> list[str]:
    """The scenarios `rabbitcam bench` offers, as its help lists them (all but "all")."""
    shown = subprocess.run([*rabbitcam_command(), "bench", "--help"], capture_output=True,
                           text=True, timeout=60).stdout  # fmt: skip
    choices = re.search(r"\{all,([^}]*)\}", shown)
    assert choices, shown
    return choices.group(1).split(",")


@pytest.mark.timeout(900)
def test_quick_bench_produces_every_figure(broker_url, tmp_path):
    run = subprocess.run(
        [*rabbitcam_command(), "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=880,
    )  # fmt: skip
    print(run.stdout[-4000:])
    assert run.returncode == 0, run.stderr[-3000:]
    scenarios_run = scenarios_offered()
    count = len(scenarios_run)
    assert f"[1/{count}] pipeline" in run.stdout
    assert f"[{count}/{count}] {scenarios_run[-1]}" in run.stdout
    document = json.loads((tmp_path / "latest.json").read_text())
    scenarios = document["scenarios"]
    for name in EXPECTED:
        figures = scenarios[name]
        assert figures["p50_ms"] is not None and figures["p99_ms"] is not None, name
        assert figures["p50_ms"] <= figures["p99_ms"], name
        if not name.startswith("hop-"):
            assert figures["frames"] > 0 and figures["fps"] > 0, name
            assert any(v for v in figures["cpu_ms_per_frame"].values()), name
    assert scenarios["capacity"]["aggregate_fps"] > 0
    curve = scenarios["capacity"]["curve"]
    assert [point["offered_fps"] for point in curve] == [120, 240]
    assert all(scenarios[f"capacity-{n}x30"]["client_cpu_pct"] > 0 for n in (4, 8))
    assert scenarios["overload-1x30-slow100"]["queue_depth_max"] is not None
    assert len(document["targets"]) == 15
    # A quick run steps the load up twice: it does not reach twice the knee; it runs
    # four cameras with motion, not sixteen.
    measured = [
        t for t in document["targets"] if not t["target"].startswith(("2x overload", "16x15"))
    ]
    assert len(measured) == 8
    assert all(target["value"] is not None for target in measured)
    assert list(tmp_path.glob("bench-*.png")), "no chart"
    assert document["machine"]["cores"] >= 1
