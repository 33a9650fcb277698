"""``rabbitcam probe SOURCE``: what an installer checks before adding a camera.

Opens the source the way a capture worker would (a network camera with FFmpeg
through PyAV, a device or file with OpenCV; the same options and timeouts),
reads for a few seconds, and reports whether it opened, whether frames arrive,
their size (and a network camera's codec), the fps the source claims and the
fps measured, and saves one frame. The read happens on a helper thread with a
deadline: a source that hangs in ``read()`` is reported as hanging, not waited
on for ever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.camera_config import CameraConfig, SourceSpec
from pipeline.roles.sources import (
    OPEN_TIMEOUT_MS,
    READ_TIMEOUT_MS,
    SyntheticSource,
    open_capture,
    stream_options,
)

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
    codec: str | None = None  # network cameras: what FFmpeg decodes
    saved: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.frames > 0

    @property
    def keeps_jpegs_at(self) -> tuple[int, int] | None:
        """The camera size at which capture publishes this source's own JPEGs as they
        come, nothing decoded (an MJPEG source's own size); None for other codecs."""
        if self.codec == "mjpeg" and self.width and self.height:
            return self.width, self.height
        return None

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok, "keeps_jpegs_at": self.keeps_jpegs_at}

    def describe(self) -> str:
        lines = [f"source:        {self.source}"]
        lines.append(f"opened:        {'yes' if self.opened else 'no'}")
        if self.codec:
            lines.append(f"codec:         {self.codec}")
        if self.width:
            lines.append(f"resolution:    {self.width}x{self.height}")
        if kept := self.keeps_jpegs_at:
            lines.append(
                f"kept as sent:  with width = {kept[0]}, height = {kept[1]} its JPEGs are "
                "published as they come, nothing decoded"
            )
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
    if spec.kind == "url":
        return _probe_stream(str(spec.location), report, seconds, save_to)

    started = time.monotonic()
    capture = open_capture(camera)
    report.opened = bool(capture.isOpened())
    if not report.opened:
        capture.release()
        report.problems.append("could not open the source")
        return report
    claimed = capture.get(cv2.CAP_PROP_FPS)
    report.claimed_fps = round(claimed, 2) if 0 < claimed < 1000 else None

    def pictures() -> Iterator[np.ndarray]:
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                return
            yield image

    stuck, first = _read_for(pictures(), report, started, seconds, ends_fine=spec.kind == "file")
    if not stuck:
        capture.release()  # a reader stuck in read() keeps it; it dies with the process
    return _finish(report, first, save_to)


def _probe_stream(
    url: str, report: ProbeReport, seconds: float, save_to: Path | None
) -> ProbeReport:
    """A network camera, opened and decoded by FFmpeg through PyAV with the options
    and timeouts capture uses: what the probe sees is what capture will get."""
    import av

    started = time.monotonic()
    try:
        timeout = (OPEN_TIMEOUT_MS / 1000, READ_TIMEOUT_MS / 1000)
        container = av.open(url, options=stream_options(url), timeout=timeout)
    except (av.error.FFmpegError, OSError, ValueError) as error:
        report.problems.append(f"could not open the source ({type(error).__name__})")
        return report
    report.opened = True
    if not container.streams.video:
        container.close()
        report.problems.append("the source has no video stream")
        return report
    stream = container.streams.video[0]
    report.codec = stream.codec_context.name
    rate = stream.average_rate or stream.guessed_rate
    report.claimed_fps = round(float(rate), 2) if rate and 0 < rate < 1000 else None

    def pictures() -> Iterator[av.VideoFrame]:
        try:
            yield from container.decode(stream)
        except (av.error.FFmpegError, OSError, ValueError):
            return  # reported as a failed read

    def as_image(frame: av.VideoFrame) -> np.ndarray:
        return frame.to_ndarray(format="bgr24")

    stuck, first = _read_for(
        pictures(), report, started, seconds, ends_fine=False, as_image=as_image
    )
    if not stuck:
        container.close()
    return _finish(report, first, save_to)


def _read_for(
    pictures: Iterator[Any],
    report: ProbeReport,
    started: float,
    seconds: float,
    ends_fine: bool,
    as_image: Callable[[Any], np.ndarray] = np.asarray,
) -> tuple[bool, np.ndarray | None]:
    """Read ``pictures`` for ``seconds`` on a helper thread into ``report``; whether
    the source hung (the thread is left behind, stuck in its read), and the first
    picture (the only one made a BGR image, by ``as_image``)."""
    first: list[np.ndarray] = []
    times: list[float] = []
    done = threading.Event()
    last_read = [time.monotonic()]

    def read() -> None:
        opened_at = time.monotonic()
        for picture in pictures:
            last_read[0] = time.monotonic()
            if not first:
                first.append(as_image(picture))
                report.first_frame_ms = round((time.monotonic() - started) * 1000, 1)
            times.append(time.monotonic())
            if done.is_set() or time.monotonic() - opened_at >= seconds:
                return
        if not ends_fine or not times:  # a file that ends is fine
            report.problems.append("read failed (stream ended or broke)")

    reader = threading.Thread(target=read, name="probe:reader", daemon=True)
    reader.start()
    stuck = False
    while reader.is_alive():
        reader.join(0.2)
        if reader.is_alive() and time.monotonic() - last_read[0] > HANG_S:
            report.problems.append(f"no frame for {HANG_S:.0f} s: the source hangs in read()")
            stuck = True
            break
    done.set()
    report.frames = len(times)
    if len(times) > 1:
        report.measured_fps = round((len(times) - 1) / (times[-1] - times[0]), 2)
    return stuck, first[0] if first else None


def _finish(report: ProbeReport, first: np.ndarray | None, save_to: Path | None) -> ProbeReport:
    """The report with the first picture's size, and the picture saved if asked."""
    if first is not None:
        report.height, report.width = first.shape[:2]
        report.saved = _save(first, save_to)
    return report


def _probe_synthetic(
    camera: CameraConfig, report: ProbeReport, save_to: Path | None
) -> ProbeReport:
    frame = SyntheticSource(camera).next_frame(0)
    report.opened = frame is not None
    report.frames = 1 if frame is not None else 0
    return _finish(report, frame.image if frame is not None else None, save_to)


def _save(image, save_to: Path | None) -> str | None:
    if save_to is None:
        return None
    save_to.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(save_to), image):
        return None
    return str(save_to)
