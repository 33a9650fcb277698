"""The evaluation run: every kind a dataset holds, measured, printed and written whole."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.operations.evaluation import counting, falls, people, pictures, still
from pipeline.operations.evaluation import dataset as datasets
from pipeline.operations.evaluation.chains import DEFAULT_HOLD_S, EPOCH

HEADPOSE_CHAIN = ("landmarks", "headpose")


@dataclass
class EvalOptions:
    root: Path
    out: Path
    kinds: tuple[str, ...] = datasets.KINDS
    fall_chain: tuple[str, ...] = falls.DEFAULT_CHAIN
    people_chains: tuple[tuple[str, ...], ...] = (people.DEFAULT_CHAIN,)
    headpose_chain: tuple[str, ...] = HEADPOSE_CHAIN
    count_chain: tuple[str, ...] = counting.DEFAULT_CHAIN
    lines: Path | None = None  # a lines.json for every people clip, in place of their own
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    hold_s: float = DEFAULT_HOLD_S


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def evaluate(options: EvalOptions) -> dict[str, Any]:
    """Run every kind the dataset holds; write the results; return the summary."""
    check_out(options.out)  # before the run: a refusal at its end would waste it
    found = datasets.load(options.root, options.kinds, options.lines)
    started = time.time()
    report: dict[str, Any] = {
        "dataset": str(options.root), "hold_s": options.hold_s, "overrides": options.overrides,
        "kinds": {},
    }  # fmt: skip
    files: dict[str, Any] = {}  # name in the results folder -> picture
    for kind in found.kinds():
        print(f"{kind}:", file=sys.stderr, flush=True)
        report["kinds"][kind] = _KINDS[kind](found, options, files)
    report["seconds"] = round(time.time() - started, 1)
    _write(options.out, report, files)
    return report


def _falls(found: datasets.Dataset, options: EvalOptions, files: dict) -> dict[str, Any]:
    results, summary = falls.evaluate(
        found.falls, list(options.fall_chain), options.overrides, options.hold_s, progress
    )
    files["fall-timelines.png"] = pictures.stack([_timeline(r) for r in results], columns=2)
    return {"chain": list(options.fall_chain), "summary": summary,
            "clips": [r.summary() for r in results]}  # fmt: skip


def _timeline(result: falls.FallClipResult) -> Any:
    """What the fall rule saw in one clip, on one track (one that became a candidate,
    else the one whose head dropped most): head and hip drop (body heights, 0..1
    shown), torso angle. Frames where the person was not seen leave gaps."""
    tracks: dict[int, list[dict]] = {}
    for row in result.trace:
        tracks.setdefault(row["track"], []).append(row)
    chosen = max(
        tracks.values(),
        key=lambda rows: (any(r["candidate"] or r["fallen"] for r in rows),
                          max(r["drop"] for r in rows)),
        default=[],
    )  # fmt: skip
    start = EPOCH
    series = {
        "head drop": [(r["at"] - start, r["drop"]) for r in chosen],
        "hip drop": [(r["at"] - start, r["hips"]) for r in chosen],
        "torso/180deg": [(r["at"] - start, r["angle"] / 180) for r in chosen],
    }
    marks = [(t, "fall", (0, 0, 200)) for t in result.events_s]
    if result.onset_s is not None:
        marks.insert(0, (result.onset_s, "onset", (0, 140, 0)))
    spans = [(r["at"] - start, r["at"] - start + 0.07, (225, 225, 255)) for r in chosen
             if r["candidate"]]  # fmt: skip
    verdict = (("caught" if result.caught else "MISSED") if result.label == "fall"
               else ("FALSE ALARM" if result.false_alarms else "no alarm"))  # fmt: skip
    title = f"{result.clip} ({result.label}): {verdict}"
    duration = max(result.seconds + 3.0, max(result.events_s, default=0.0) + 0.5)
    return pictures.timeline(title, series, duration, marks, spans)


def _emotions(found: datasets.Dataset, options: EvalOptions, files: dict) -> dict[str, Any]:
    rows, summary, confusion = still.evaluate_emotions(found.emotions, options.overrides, progress)
    files["emotion-confusion.png"] = pictures.confusion_matrix(
        f"emotion: accuracy {summary['accuracy']}", datasets.EMOTIONS, confusion
    )
    return {"summary": summary, "confusion": confusion.tolist(),
            "classes": list(datasets.EMOTIONS), "pictures": rows}  # fmt: skip


def _people(found: datasets.Dataset, options: EvalOptions, _files: dict) -> dict[str, Any]:
    """Each chain asked for, one after the other on the same clips (a peer beside it)."""
    chains = []
    for chain in options.people_chains:
        rows, summary = people.evaluate(found.people, list(chain), options.overrides, progress)
        chains.append({"chain": list(chain), "summary": summary, "clips": rows})
    return {"chains": chains}


def _headposes(found: datasets.Dataset, options: EvalOptions, _files: dict) -> dict[str, Any]:
    rows, summary = still.evaluate_headposes(
        found.headposes, list(options.headpose_chain), options.overrides, progress
    )
    return {"chain": list(options.headpose_chain), "summary": summary, "pictures": rows}


def _counting(found: datasets.Dataset, options: EvalOptions, _files: dict) -> dict[str, Any]:
    rows, summary = counting.evaluate(
        found.counted, list(options.count_chain), options.overrides, progress
    )
    return {"chain": list(options.count_chain), "summary": summary, "lines": rows}


_KINDS = {"fall": _falls, "emotion": _emotions, "people": _people, "counting": _counting,
          "headpose": _headposes}  # fmt: skip


# In every results folder this command writes: the mark that it may replace the folder.
MARK = ".rabbitcam-eval"


class OutError(ValueError):
    """A results folder this command will not write: it would lose what someone keeps."""


def _write(out: Path, report: dict[str, Any], files: dict[str, Any]) -> None:
    """The results folder, whole: written aside, then put in place of an older one that
    this command wrote (its mark inside). Anything else there (a link, a folder of
    someone's, the working folder or one above it) is refused, never emptied."""
    out = check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        scratch.chmod(0o777 & ~_umask())  # as a folder made by mkdir would be
        (scratch / MARK).write_text("results of `rabbitcam eval`; it replaces this folder\n")
        (scratch / "results.json").write_text(json.dumps(report, indent=2, default=_plain) + "\n")
        for name, picture in files.items():
            pictures.write_png(scratch / name, picture)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{int(time.time())}")
            out.rename(old)
            scratch.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            scratch.rename(out)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def check_out(out: Path) -> Path:
    """``out`` resolved, if results may be written there; OutError if not."""
    if out.is_symlink():
        raise OutError(f"{out} is a link: name the folder itself")
    out = out.resolve()
    here = Path.cwd().resolve()
    if out == here or out in here.parents:
        raise OutError(f"{out} holds the working folder: name a folder for the results")
    if out.exists() and not (out.is_dir() and _written_here(out)):
        raise OutError(f"{out} exists and was not written by rabbitcam eval: name a new folder")
    return out


def _written_here(folder: Path) -> bool:
    """Results of this command: its mark, or (written before the mark was) only a
    results.json and the charts beside it."""
    if (folder / MARK).is_file():
        return True
    names = [entry.name for entry in folder.iterdir()]
    return "results.json" in names and all(
        name == "results.json" or name.endswith(".png") for name in names
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _plain(value: Any) -> Any:
    """numpy numbers as JSON numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def format_report(report: dict[str, Any]) -> str:
    """The figures as a person reads them in a terminal: per kind, per clip, then the sums."""
    lines: list[str] = []
    kinds = report["kinds"]
    if "fall" in kinds:
        falls_part = kinds["fall"]
        lines.append(f"falls ({', '.join(falls_part['chain'])}; last frame held "
                     f"{report['hold_s']} s)")  # fmt: skip
        heads = f"{'clip':32} {'label':9} {'onset':>6} {'events (s)':18} {'down':>5}"
        lines.append(f"  {heads} verdict")
        for clip in falls_part["clips"]:
            events = ", ".join(f"{t:.1f}" for t in clip["events_s"]) or "-"
            onset = "" if clip["onset_s"] is None else f"{clip['onset_s']:.1f}"
            if clip["label"] == "fall":
                verdict = f"caught {clip['delay_s']:+.1f} s" if clip["caught"] else "MISSED"
                if clip["false_alarms"]:
                    verdict += f", {clip['false_alarms']} early"
            else:
                verdict = f"{clip['false_alarms']} FALSE ALARM(S)" if clip["false_alarms"] else "ok"
            down = "-" if clip.get("down_s") is None else f"{clip['down_s']:.1f}"
            lines.append(
                f"  {clip['clip']:32} {clip['label']:9} {onset:>6} {events:18} {down:>5} {verdict}"
            )
        s = falls_part["summary"]
        lines.append(
            f"  recall {s['recall']} ({s['caught']}/{s['fall_clips']}); false alarms: "
            f"{s['daily_clips_with_false_alarm']}/{s['daily_clips']} daily-activity clips, "
            f"{s['false_alarms']} in all ({s['false_alarms_per_hour']}/hour of footage), "
            f"{s['daily_clips_with_person_down']} with person_down; "
            f"delay median {s['median_delay_s']} s, max {s['max_delay_s']} s; "
            f"chain {s['median_cost_ms']} ms a frame (median)"
        )
    if "emotion" in kinds:
        s = kinds["emotion"]["summary"]
        per_class = ", ".join(f"{k} {v}" for k, v in s["recall_per_class"].items())
        lines.append(f"emotion: {s['pictures']} faces: accuracy {s['accuracy']}, balanced "
                     f"{s['balanced_accuracy']} ({per_class})")  # fmt: skip
    for part in kinds.get("people", {}).get("chains", []):
        for clip in part["clips"]:
            lines.append(
                f"people ({', '.join(part['chain'])}) {clip['clip']}: precision "
                f"{clip['precision']}, recall {clip['recall']} at IoU {part['summary']['iou']} "
                f"({clip['frames_scored']} frames, {clip['false_per_frame']} false boxes a "
                f"frame, mean IoU {clip['mean_iou']}, {clip['median_cost_ms']} ms a frame)"
            )
    if "counting" in kinds:
        part = kinds["counting"]
        lines.append(f"counting ({', '.join(part['chain'])}): truth / counted (error) per line")
        for row in part["lines"]:
            ways = "  ".join(
                f"{way} {row[way]['truth']}/{row[way]['counted']} ({_share(row[way]['error'])})"
                for way in ("in", "out", "total")
            )
            lines.append(f"  {row['clip']} {row['line']:16} {ways}")
        s = part["summary"]
        lines.append(f"  worst line total {_share(s['worst_total_error'])}, worst direction "
                     f"{_share(s['worst_direction_error'])}")  # fmt: skip
    if "headpose" in kinds:
        s = kinds["headpose"]["summary"]
        lines.append(f"head pose: {s['faces_read']}/{s['pictures']} faces read; mean absolute "
                     f"error {s['mae_deg']} degrees")  # fmt: skip
    return "\n".join(lines)


def _share(error: float | None) -> str:
    return "-" if error is None else f"{error:+.0%}"
