"""Falls: does the chain report a ``fall`` event for each fall, soon enough, and
none for the daily activities?

Per clip, the chain sees every frame at the clip's frame rate, then the last
frame held for ``hold_s`` (a live camera keeps showing a person who stays
where they fell). A fall clip is **caught** by the first ``fall`` event no
earlier than ``EARLY_S`` before the annotated onset; its **delay** is that
event's time minus the onset. Any other ``fall`` event is a **false alarm**:
one in a daily-activity clip, or one more than ``EARLY_S`` before the onset.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.operations.evaluation.chains import ChainRunner, build_chain, run_clip
from pipeline.operations.evaluation.dataset import FallClip

FALL_LABEL = "fall"
DOWN_LABEL = "person_down"  # down after a fall, or down on purpose for ``fall.down_s``
EARLY_S = 1.0
DEFAULT_CHAIN = ("pose", "fall")


@dataclass
class FallClipResult:
    clip: str
    label: str
    onset_s: float | None
    seconds: float  # the clip's own footage, without the held frames
    events_s: list[float]  # when each fall event came, from the clip's start
    caught: bool
    delay_s: float | None
    false_alarms: int
    cost_ms: float  # the chain's median per frame
    down_s: float | None = None  # when ``person_down`` first came, from the clip's start
    errors: list[str] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)  # what the fall rule saw

    def summary(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("trace")
        return row


def score_clip(clip: FallClip, events_s: list[float]) -> tuple[bool, float | None, int]:
    """(caught, delay, false alarms) of a clip whose fall events came at ``events_s``."""
    if clip.label != "fall":
        return False, None, len(events_s)
    assert clip.onset_s is not None
    in_time = [t for t in events_s if t >= clip.onset_s - EARLY_S]
    early = len(events_s) - len(in_time)
    if not in_time:
        return False, None, early
    return True, round(in_time[0] - clip.onset_s, 3), early


def evaluate_clip(
    clip: FallClip, chain_names: list[str], overrides: dict, hold_s: float
) -> FallClipResult:
    """One clip through a fresh chain (no state carried over from another clip)."""
    chain = build_chain(chain_names, overrides)
    runner = ChainRunner(chain)
    tracers = [d for _spec, d in chain.links if hasattr(d, "trace")]
    for detector in tracers:
        detector.trace = []
    events, costs, frames, down_at = [], [], 0, None
    for _image, result in run_clip(runner, clip.path, clip.fps, hold_s, clip.frames):
        frames += 0 if result.held else 1
        costs.append(result.cost_ms)
        if any(d.label == FALL_LABEL and d.event for d in result.detections):
            events.append(round(result.at, 3))
        if down_at is None and any(d.label == DOWN_LABEL for d in result.detections):
            down_at = round(result.at, 3)
    caught, delay, false_alarms = score_clip(clip, events)
    trace = [row for detector in tracers for row in detector.trace]
    return FallClipResult(
        clip=clip.name, label=clip.label, onset_s=clip.onset_s,
        seconds=round(frames / clip.fps, 3), events_s=events, caught=caught, delay_s=delay,
        false_alarms=false_alarms, cost_ms=round(statistics.median(costs), 2), down_s=down_at,
        errors=sorted(set(runner.errors)), trace=trace,
    )  # fmt: skip


def evaluate(
    clips: list[FallClip],
    chain_names: list[str],
    overrides: dict,
    hold_s: float,
    progress: Callable[[str], None],
) -> tuple[list[FallClipResult], dict[str, Any]]:
    results = []
    for number, clip in enumerate(clips, start=1):
        result = evaluate_clip(clip, chain_names, overrides, hold_s)
        results.append(result)
        verdict = (
            (f"caught, {result.delay_s:+.1f} s" if result.caught else "MISSED")
            if clip.label == "fall"
            else ("ok" if not result.false_alarms else "FALSE ALARM")
        )
        progress(f"[{number}/{len(clips)}] {clip.name}: {verdict}")
    return results, summarise(results)


def summarise(results: list[FallClipResult]) -> dict[str, Any]:
    falls = [r for r in results if r.label == "fall"]
    daily = [r for r in results if r.label != "fall"]
    delays = [r.delay_s for r in falls if r.delay_s is not None]
    hours = sum(r.seconds for r in results) / 3600
    false_total = sum(r.false_alarms for r in results)
    return {
        "fall_clips": len(falls),
        "caught": sum(r.caught for r in falls),
        "recall": round(sum(r.caught for r in falls) / len(falls), 3) if falls else None,
        "daily_clips": len(daily),
        "daily_clips_with_false_alarm": sum(1 for r in daily if r.false_alarms),
        "daily_clips_with_person_down": sum(1 for r in daily if r.down_s is not None),
        "false_alarms": false_total,
        "false_alarms_per_hour": round(false_total / hours, 1) if hours else None,
        "median_delay_s": round(statistics.median(delays), 2) if delays else None,
        "max_delay_s": max(delays) if delays else None,
        "median_cost_ms": round(statistics.median(r.cost_ms for r in results), 2)
        if results else None,
    }  # fmt: skip
