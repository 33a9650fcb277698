"""rabbitcam: a real-time camera frame pipeline over RabbitMQ."""

__version__ = "0.1.0"

import os as _os

# OpenCV and its FFmpeg backend print every failed open and read of a camera to
# stderr; rabbitcam reports camera state itself, once, in its own log lines.
_os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# RTSP over TCP: a camera that dies closes the connection, so it is noticed at
# once (over UDP it only goes quiet), and no packet loss smears the picture.
# A one-second stream probe instead of FFmpeg's default of several seconds
# puts a camera that comes back on screen sooner. Set the variable to override.
_os.environ.setdefault(
    "OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp|analyzeduration;1000000"
)
# A second line behind the JPEG header check (pipeline/core/jpeg.py): OpenCV refuses to
# decode any image over this many pixels (8K UHD is 33 million) instead of
# allocating what a hostile header claims. Read by OpenCV once, when it loads.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(40_000_000))
