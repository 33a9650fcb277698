"""``rabbitcam probe SOURCE``: what an installer checks before adding a camera.

Opens the source the way a capture worker would (same timeouts), reads for a
few seconds, and reports whether it opened, whether frames arrive, their size,
the fps the source claims and the fps measured, and saves one frame. The
read happens on a helper thread with a deadline: a source that hangs in
``read()`` is reported as hanging, not waited on for ever.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2

from pipeline.core.config import CameraConfig, SourceSpec
from pipeline.roles.sources import SyntheticSource, open_capture

HANG_S = 5.0  # no frame for this long after opening: the source hangs


@dataclass
class ProbeReport:
    source: str
    opened: bool = False
    frames: int = 0
    width: int | None = None
    height: int | None = None
    claimed_fps: float | None = None
    measured_fps: float | None = None
    first_frame_ms: float | None = None
    saved: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.frames > 0

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}

    def describe(self) -> str:
        lines = [f"source:        {self.source}"]
        lines.append(f"opened:        {'yes' if self.opened else 'no'}")
        if self.width:
            lines.append(f"resolution:    {self.width}x{self.height}")
        if self.claimed_fps:
            lines.append(f"fps (claimed): {self.claimed_fps:.2f}")
        if self.measured_fps is not None:
            lines.append(f"fps (read):    {self.measured_fps:.2f} over {self.frames} frames")
        if self.first_frame_ms is not None:
            lines.append(f"first frame:   {self.first_frame_ms:.0f} ms after opening")
        if self.saved:
            lines.append(f"saved:         {self.saved}")
        lines += [f"problem:       {problem}" for problem in self.problems]
        lines.append("result:        " + ("frames arrive" if self.ok else "NO FRAMES"))
        return "\n".join(lines)


def probe(spec: SourceSpec, seconds: float = 3.0, save_to: Path | None = None) -> ProbeReport:
    report = ProbeReport(source=spec.describe())
    camera = CameraConfig(id="probe", source=spec, fps=30.0)
    if spec.kind == "synthetic":
        return _probe_synthetic(camera, report, save_to)

    started = time.monotonic()
    capture = open_capture(camera)
    report.opened = bool(capture.isOpened())
    if not report.opened:
        capture.release()
        report.problems.append("could not open the source")
        return report
    claimed = capture.get(cv2.CAP_PROP_FPS)
    report.claimed_fps = round(claimed, 2) if 0 < claimed < 1000 else None

    first = None
    times: list[float] = []
    done = threading.Event()
    last_read = [time.monotonic()]

    def read() -> None:
        nonlocal first
        opened_at = time.monotonic()
        while not done.is_set() and time.monotonic() - opened_at < seconds:
            ok, image = capture.read()
            last_read[0] = time.monotonic()
            if not ok or image is None:
                if spec.kind != "file" or not times:  # a file that ends is fine
                    report.problems.append("read failed (stream ended or broke)")
                return
            if first is None:
                first = image
                report.first_frame_ms = round((time.monotonic() - started) * 1000, 1)
            times.append(time.monotonic())

    reader = threading.Thread(target=read, name="probe:reader", daemon=True)
    reader.start()
    while reader.is_alive():
        reader.join(0.2)
        if time.monotonic() - last_read[0] > HANG_S:
            report.problems.append(f"no frame for {HANG_S:.0f} s: the source hangs in read()")
            break
    done.set()
    if not reader.is_alive():
        capture.release()  # a reader stuck in read() keeps it; it dies with the process
    report.frames = len(times)
    if first is not None:
        report.height, report.width = first.shape[:2]
        if len(times) > 1:
            report.measured_fps = round((len(times) - 1) / (times[-1] - times[0]), 2)
        report.saved = _save(first, save_to)
    return report


def _probe_synthetic(
    camera: CameraConfig, report: ProbeReport, save_to: Path | None
) -> ProbeReport:
    source = SyntheticSource(camera)
    frame = source.next_frame(0)
    report.opened = frame is not None
    if frame is not None:
        report.frames = 1
        report.height, report.width = frame.image.shape[:2]
        report.saved = _save(frame.image, save_to)
    return report


def _save(image, save_to: Path | None) -> str | None:
    if save_to is None:
        return None
    save_to.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(save_to), image):
        return None
    return str(save_to)
