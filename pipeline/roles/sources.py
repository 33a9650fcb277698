"""Camera sources behind one interface: synthetic, device, video file, RTSP/HTTP URL.

Capture asks a source for ``next_frame(seq)`` and never waits for the camera:
real cameras are read by a reader thread that keeps only the newest picture
(and tells capture at once, so that each picture is published as it comes),
and a watchdog replaces a reader that fails or stalls (a ``read()`` that hangs
on a dead stream) with a new one after a capped exponential backoff.
Meanwhile the source reports itself ``offline``.

Network cameras (RTSP, HTTP) are read with FFmpeg through PyAV: the stream is
decoded and scaled to the camera's size in C (swscale, bilinear, still YUV),
and its YUV planes go to the JPEG encoder as they are; only a picture capture
draws on is turned into BGR, at the small size (OpenCV's capture converts
every picture in full before it can be resized; ``python -m
benchmarks.sources`` measures both). An MJPEG camera that already sends
pictures of the camera's size needs none of that: its JPEGs are published as
they come, byte for byte, once their header has been read and found to be of
that size (a JPEG of any other size, or a camera capture draws on, is decoded
as any stream is). Devices and files use OpenCV.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
import segno
import simplejpeg

from pipeline.core.backoff import Backoff
from pipeline.core.camera_config import CameraConfig
from pipeline.core.jpeg import JpegError, jpeg_size
from pipeline.core.logs import Throttled
from pipeline.core.synthetic_scenes import scene_painter
from pipeline.roles.footage_packets import COPIED_CODECS, FootageBacklog, PacketCopier

LOGGER = logging.getLogger(__name__)

OPEN_TIMEOUT_MS = 5000
# More than an 8K picture: no camera sends it, and a decoder allocates what a
# header claims (a 30000x30000 JPEG is 1.3 GB of YUV).
MAX_SOURCE_PIXELS = 40_000_000
READ_TIMEOUT_MS = 5000


@dataclass
class CapturedFrame:
    """A picture at the camera's configured size: BGR pixels, YUV planes, or the
    camera's own JPEG.

    A video decoder's pictures are YUV, and so is JPEG inside: where capture draws
    nothing on a picture, the decoder's planes go to the JPEG encoder as they are
    (no conversion to BGR and back; 0.4 ms a 640x480 frame). An MJPEG camera's
    picture of the right size is not decoded at all.
    """

    image: np.ndarray | None  # BGR, or None when the planes or the JPEG are given instead
    captured_at: float  # wall clock, seconds since the epoch
    # Full-range I420 (JPEG's own YCbCr): ``height`` rows of Y, then U, then V at
    # half the size each way, as ``height * 3 // 2`` rows of ``width``.
    planes: np.ndarray | None = None
    # The camera's own JPEG, its header read: ``encoded_size`` is (width, height).
    encoded: bytes | None = None
    encoded_size: tuple[int, int] = (0, 0)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        if self.image is not None:
            return self.image.shape[1], self.image.shape[0]
        if self.encoded is not None:
            return self.encoded_size
        return self.planes.shape[1], self.planes.shape[0] * 2 // 3

    def jpeg(self, quality: int) -> bytes | None:
        """The picture as a JPEG (None if the encoder refused it); the camera's own
        as it came, when it sent one (re-encoding would only lose quality)."""
        if self.encoded is not None:
            return self.encoded
        if self.image is None:
            width, height = self.size
            quarter = (height // 2) * (width // 2)
            chroma = self.planes[height:].reshape(-1)
            try:
                return simplejpeg.encode_jpeg_yuv_planes(
                    self.planes[:height],
                    chroma[:quarter].reshape(height // 2, width // 2),
                    chroma[quarter:].reshape(height // 2, width // 2),
                    quality=quality,
                )
            except ValueError:  # planes of a shape it refuses: counted, not fatal
                return None
        ok, encoded = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return encoded.tobytes() if ok else None


class Source:
    """What capture needs from any camera."""

    state = "starting"
    reason = ""
    # A camera's pictures come when they come: capture publishes each as it
    # arrives (``on_frame`` tells it). A synthetic one is drawn when asked.
    paced_by_arrival = False
    on_frame: Callable[[], None] | None = None
    # A camera whose own compressed packets are its footage (H.264, H.265) fills
    # this; capture publishes them. Others' footage is the JPEGs capture publishes.
    footage: FootageBacklog | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def next_frame(self, seq: int) -> CapturedFrame | None:
        """The newest picture not handed out before, or None; never blocks."""
        raise NotImplementedError

    def has_new(self) -> bool:
        """Whether a picture is waiting that ``next_frame`` has not handed out."""
        return True


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


# --- synthetic -------------------------------------------------------------------------


class SyntheticSource(Source):
    """Moving shapes, a live clock, the camera id and a QR code of ``<camera>:<seq>``.

    The QR code lets a detector, a test or a person with a phone prove exactly
    which frame they are looking at. Its modules are an even number of pixels,
    on even coordinates, so that a half-size thumbnail still decodes.
    """

    state = "live"

    def __init__(self, camera: CameraConfig) -> None:
        self.camera = camera
        self.width, self.height = camera.width, camera.height
        digest = hashlib.sha1(camera.id.encode()).digest()
        self.hue = digest[0] * 180 // 256
        self.phase = digest[1] / 255 * 2 * math.pi
        self.background = self._background()
        self.painter = scene_painter(camera.scene, self.width, self.height)

    def _background(self) -> np.ndarray:
        gradient = np.linspace(40, 110, self.height, dtype=np.float32)[:, None]
        hsv = np.empty((self.height, self.width, 3), np.uint8)
        hsv[..., 0] = self.hue
        hsv[..., 1] = 120
        hsv[..., 2] = np.broadcast_to(gradient, (self.height, self.width)).astype(np.uint8)
        background = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        # What never changes is drawn once: the title, and a dark band that keeps
        # the clock readable without an outline (text is a third of a frame's cost).
        scale = self.text_scale
        _text(background, self.camera.title, (10, int(64 * scale)), scale)
        band_top = self.height - int(70 * scale)
        background[band_top:, : int(330 * scale)] //= 3
        return background

    @property
    def text_scale(self) -> float:
        return max(0.4, self.height / 480)

    def qr_image(self, text: str) -> np.ndarray:
        # segno with a fixed mask: OpenCV's encoder scores all eight masks and
        # takes 4-5 ms a frame, most of a synthetic camera's cost; one fixed mask
        # takes 0.5 ms, and any mask decodes the same.
        matrix = np.asarray(
            segno.make_qr(text, error="m", mask=0, boost_error=False).matrix, dtype=np.uint8
        )
        modules = matrix.shape[0]
        code = np.where(matrix == 1, 0, 255).astype(np.uint8)
        code = cv2.copyMakeBorder(code, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=255)  # quiet zone
        wanted = max(120.0, 0.25 * min(self.width, self.height))
        limit = 0.45 * min(self.width, self.height)
        module = max(1, math.ceil(wanted / modules))
        module += module % 2  # even modules survive a 2x downscale
        while module > 2 and module * code.shape[0] > limit:
            module -= 2
        return cv2.resize(code, None, fx=module, fy=module, interpolation=cv2.INTER_NEAREST)

    def render(self, seq: int, now: float) -> np.ndarray:
        image = self.background.copy()
        if self.painter is not None:
            self.painter(image, now)
        left = self.width
        if self.camera.qr:
            code = self.qr_image(f"{self.camera.id}:{seq}")
            side = code.shape[0]
            left = (self.width - side - 8) & ~1
            top = ((self.height - side) // 2) & ~1
            image[top : top + side, left : left + side] = code[..., None]

        if self.painter is not None:
            self._stamp(image, seq, now)
            return image
        # Shapes move in the area left of the code so they never hide it.
        span_x = max(1, left - 40)
        span_y = self.height - 40
        t = now + self.phase
        cx = int(20 + span_x * (0.5 + 0.45 * math.sin(t * 0.9)))
        cy = int(20 + span_y * (0.5 + 0.4 * math.sin(t * 1.3)))
        radius = max(6, self.height // 12)
        cv2.circle(image, (cx, cy), radius, (40, 200, 255), -1, cv2.LINE_AA)
        rx = int(20 + span_x * (0.5 + 0.45 * math.cos(t * 0.6)))
        ry = int(self.height * 0.7)
        size = max(8, self.height // 10)
        cv2.rectangle(
            image, (rx - size, ry - size // 2), (rx + size, ry + size // 2), (255, 120, 60), -1
        )

        self._stamp(image, seq, now)
        return image

    def _stamp(self, image: np.ndarray, seq: int, now: float) -> None:
        scale = self.text_scale
        stamp = datetime.fromtimestamp(now).strftime("%H:%M:%S.%f")[:-3]
        white, font = (255, 255, 255), cv2.FONT_HERSHEY_SIMPLEX
        thickness = max(1, round(2 * scale))
        cv2.putText(image, stamp, (10, self.height - int(12 * scale)), font, scale, white,
                    thickness, cv2.LINE_AA)  # fmt: skip
        cv2.putText(image, f"seq {seq}", (10, self.height - int(44 * scale)), font, scale * 0.7,
                    white, max(1, thickness - 1), cv2.LINE_AA)  # fmt: skip

    def next_frame(self, seq: int) -> CapturedFrame | None:
        image = self.render(seq, time.time())
        # The picture exists once rendered, as a real camera's once read out.
        return CapturedFrame(image, time.time())


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    thickness = max(1, round(2 * scale))
    cv2.putText(
        image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA
    )
    cv2.putText(
        image,
        text,
        origin,
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )


# --- OpenCV-backed sources ------------------------------------------------------------


class VideoSource(Source):
    """A device or a video file (looped, paced to its own fps), read by OpenCV."""

    paced_by_arrival = True

    def __init__(self, camera: CameraConfig, stall_timeout_s: float | None = None) -> None:
        self.camera = camera
        self.kind = camera.source.kind
        self.location = camera.source.location
        self.stall_timeout_s = stall_timeout_s or max(2.0, 5.0 / camera.fps)
        # Capped low: a camera that comes back should be on screen within seconds.
        self.backoff = Backoff(initial=0.5, maximum=2.0)
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.latest: CapturedFrame | None = None
        self.latest_number = 0
        self.handed_number = 0
        self.last_frame_at = time.monotonic()
        self.generation = 0
        self.reader: threading.Thread | None = None
        self.watchdog: threading.Thread | None = None
        self.state = "starting"
        self.reason = "opening"

    # public --------------------------------------------------------------------------

    def start(self) -> None:
        self._start_reader()
        self.watchdog = threading.Thread(
            target=self._watch, name=f"watchdog:{self.camera.id}", daemon=True
        )
        self.watchdog.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in (self.watchdog, self.reader):
            if thread is not None:
                # A reader stuck in a native read() cannot be interrupted; it is a
                # daemon thread and exits with the process.
                thread.join(timeout=2.0)

    def next_frame(self, seq: int) -> CapturedFrame | None:
        with self.lock:
            if self.latest is None or self.latest_number == self.handed_number:
                return None
            self.handed_number = self.latest_number
            return self.latest

    def has_new(self) -> bool:
        with self.lock:
            return self.latest is not None and self.latest_number != self.handed_number

    # reader --------------------------------------------------------------------------

    def _start_reader(self) -> None:
        with self.lock:
            self.generation += 1
            generation = self.generation
            self.last_frame_at = time.monotonic()
        self.reader = threading.Thread(
            target=self._read_loop, args=(generation,), name=f"reader:{self.camera.id}", daemon=True
        )
        self.reader.start()

    def _current(self, generation: int) -> bool:
        return generation == self.generation and not self.stop_event.is_set()

    def _open(self) -> cv2.VideoCapture:
        return open_capture(self.camera)

    def _offline(self, generation: int, reason: str) -> None:
        if generation == self.generation:
            if self.state != "offline":
                LOGGER.warning("camera %s offline: %s", self.camera.id, reason)
            self.state, self.reason = "offline", reason

    def _read_loop(self, generation: int) -> None:
        while self._current(generation):
            capture = self._open()
            if not capture.isOpened():
                capture.release()
                self._offline(generation, f"cannot open {self.camera.source.describe()}")
                self.stop_event.wait(self.backoff.next_delay())
                continue
            try:
                self._read_frames(capture, generation)
            finally:
                capture.release()
            if self._current(generation):
                self.stop_event.wait(self.backoff.next_delay())

    def _read_frames(self, capture: cv2.VideoCapture, generation: int) -> None:
        is_file = self.kind == "file"
        file_fps = capture.get(cv2.CAP_PROP_FPS) if is_file else 0.0
        period = 1.0 / file_fps if is_file and 0 < file_fps < 1000 else 0.0
        next_due = time.monotonic()
        rewound = False
        while self._current(generation):
            ok, image = capture.read()
            if not ok or image is None:
                if is_file and not rewound:
                    # End of the file: loop it. A file that cannot rewind is reopened.
                    rewound = capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    if rewound:
                        continue
                self._offline(generation, "stream ended or read failed")
                return
            rewound = False
            image = fit(image, self.camera.width, self.camera.height)
            if not self._deliver(CapturedFrame(image, time.time()), generation):
                return
            if period:
                next_due += period
                delay = next_due - time.monotonic()
                if delay > 0:
                    self.stop_event.wait(delay)
                else:
                    next_due = time.monotonic()

    def _deliver(self, frame: CapturedFrame, generation: int) -> bool:
        """Keep ``frame`` as the newest picture; False if this reader is obsolete."""
        with self.lock:
            if generation != self.generation:
                return False
            self.latest = frame
            self.latest_number += 1
            self.last_frame_at = time.monotonic()
            if self.state != "live":
                LOGGER.info("camera %s live", self.camera.id)
            self.state, self.reason = "live", ""
        self.backoff.reset()
        on_frame = self.on_frame
        if on_frame is not None:
            on_frame()
        return True

    def _watch(self) -> None:
        while not self.stop_event.wait(0.5):
            with self.lock:
                stalled_for = time.monotonic() - self.last_frame_at
            if self.state == "live" and stalled_for > self.stall_timeout_s:
                self._offline(self.generation, f"no frame for {stalled_for:.1f}s (stalled)")
                # The old reader may be stuck inside read(); leave it behind and
                # start afresh. It notices it is obsolete when (if) read() returns.
                self._start_reader()


def open_capture(camera: CameraConfig) -> cv2.VideoCapture:
    """An OpenCV capture for a device or file camera (open or not: check ``isOpened``).

    A device is asked for the camera's size and fps, with a one-frame driver
    buffer so that it never queues stale pictures behind the newest. (Network
    cameras are read by ``StreamSource``.)
    """
    location = camera.source.location
    if camera.source.kind == "device":
        capture = cv2.VideoCapture(int(location))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, camera.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, camera.height)
        capture.set(cv2.CAP_PROP_FPS, camera.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture
    return cv2.VideoCapture(str(location))


class StreamSource(VideoSource):
    """An RTSP or HTTP camera, read by FFmpeg through PyAV (see the module docstring)."""

    def __init__(self, camera: CameraConfig, stall_timeout_s: float | None = None) -> None:
        super().__init__(camera, stall_timeout_s)
        self.refused = 0  # MJPEG pictures dropped: a header claiming too much, or undecodable
        self.refusals = Throttled(LOGGER)

    def _read_loop(self, generation: int) -> None:
        import av

        while self._current(generation):
            try:
                container = av.open(
                    str(self.location),
                    options=stream_options(str(self.location)),
                    timeout=(OPEN_TIMEOUT_MS / 1000, READ_TIMEOUT_MS / 1000),
                )
            except (av.error.FFmpegError, OSError, ValueError) as error:
                self._offline(generation, f"cannot open {self.camera.source.describe()}: "
                                          f"{type(error).__name__}")  # fmt: skip
                self.stop_event.wait(self.backoff.next_delay())
                continue
            try:
                self._decode(container, generation)
            except (av.error.FFmpegError, OSError, ValueError) as error:
                LOGGER.debug("camera %s: %s", self.camera.id, error)
            finally:
                container.close()
            if self._current(generation):
                self._offline(generation, "stream ended or read failed")
                self.stop_event.wait(self.backoff.next_delay())

    def _decode(self, container, generation: int) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        stream = container.streams.video[0]
        stream.thread_type = "SLICE"  # one thread per camera, no frame-delay of its own
        stream.codec_context.thread_count = 1
        width, height = self.camera.width, self.camera.height
        # Pixels only where capture draws on them (a direct camera's banner); the
        # rest keep YUV all the way to the JPEG (I420 needs an even size).
        draws_on = self.camera.direct and self.camera.drawing == "picture"
        as_planes = not draws_on and width % 2 == 0 and height % 2 == 0
        # One scaler for the stream: a frame's own (``frame.to_ndarray(width=...)``)
        # builds swscale's context and filters afresh for every picture. One thread,
        # as everything of a camera's.
        scaler = VideoReformatter()
        # JPEG's YCbCr is full range; OpenCV's conversion to BGR expects video's.
        color_range = "JPEG" if as_planes else None
        # An MJPEG camera's pictures are JPEGs whose headers say their size: one that
        # claims more than any camera sends is dropped before FFmpeg allocates it,
        # and where capture draws nothing, those of the camera's size are kept as
        # they came.
        is_mjpeg = stream.codec_context.name == "mjpeg"
        copier = None
        if self.camera.footage != "none" and stream.codec_context.name in COPIED_CODECS:
            if self.footage is None:
                self.footage = FootageBacklog(self.camera.id)
            self.footage.interrupt()  # a new session of the camera: from its first key picture
            copier = PacketCopier(stream, self.camera.id)
        for packet in container.demux(stream):
            if not self._current(generation):
                return
            if copier is not None and self.footage is not None:
                for piece in copier.packets(packet, time.time()):
                    self.footage.put(piece)
            if is_mjpeg and packet.size:
                data = bytes(packet)
                size = _header_size(data)
                if size is not None and size[0] * size[1] > MAX_SOURCE_PIXELS:
                    self._refuse_picture(
                        f"a JPEG whose header says {size[0]}x{size[1]} "
                        f"(more than {MAX_SOURCE_PIXELS} pixels)"
                    )
                    continue
                if size is not None and not _ends_whole(data):
                    # (One with no readable header goes to the decoder, which says why.)
                    self._refuse_picture("a JPEG cut short (no end-of-image marker)")
                    continue
                if not draws_on and size == (width, height):
                    own = CapturedFrame(None, time.time(), encoded=data, encoded_size=size)
                    if not self._deliver(own, generation):
                        return
                    continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as error:
                if not is_mjpeg:
                    raise  # a video stream's picture needs those before it: start afresh
                # Each MJPEG picture stands alone: a broken one costs only itself.
                self._refuse_picture(f"a JPEG FFmpeg could not decode ({type(error).__name__})")
                continue
            for frame in frames:
                # Scaled while still YUV; for pixels, one SIMD colour conversion at
                # the small size after it, cheaper than scaling straight into BGR.
                planes = scaler.reformat(
                    frame, width, height, "yuv420p", interpolation="BILINEAR",
                    dst_color_range=color_range, threads=1,
                ).to_ndarray()  # fmt: skip
                if as_planes:
                    captured = CapturedFrame(None, time.time(), planes)
                else:
                    image = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)
                    captured = CapturedFrame(image, time.time())
                if not self._deliver(captured, generation):
                    return

    def _refuse_picture(self, what: str) -> None:
        self.refused += 1
        self.refusals.warning("camera %s: dropped %s", self.camera.id, what, camera=self.camera.id)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's own header, nothing decoded; None if it has no
    readable one (the decoder then says what is wrong with it)."""
    try:
        return jpeg_size(data)
    except JpegError:
        return None


# Some cameras pad a part after the picture's end-of-image marker (a line break,
# zeros); that much is allowed after it.
_TRAILER_ALLOWED = 32


def _ends_whole(data: bytes) -> bool:
    """Whether a JPEG reaches its end-of-image marker. A picture cut off mid-way
    (the camera's link dropped) still has a good header: kept as sent, it is half
    a grey picture on every screen and a frame every detector refuses (and sends
    to the dead-letter queue as bad input); decoded, FFmpeg fills in the missing
    part with what was there in the picture before. (The marker cannot occur
    inside the picture's coded data, where a 0xFF byte is always followed by 0x00.)
    """
    return data.rfind(b"\xff\xd9", max(0, len(data) - 2 - _TRAILER_ALLOWED)) >= 0


def stream_options(url: str) -> dict[str, str]:
    """FFmpeg's options for a network camera: RTSP over TCP (a camera that dies
    closes the connection, so it is noticed at once, where over UDP it only goes
    quiet; and no lost packets smear the picture), a one-second stream probe
    (FFmpeg's default takes longer: a camera that comes back is on screen sooner),
    no buffering."""
    options = {"analyzeduration": "1000000", "fflags": "nobuffer"}
    if url.lower().startswith(("rtsp://", "rtsps://")):
        options["rtsp_transport"] = "tcp"
    return options


def open_source(camera: CameraConfig) -> Source:
    if camera.source.kind == "synthetic":
        return SyntheticSource(camera)
    if camera.source.kind == "url":
        return StreamSource(camera)
    return VideoSource(camera)
