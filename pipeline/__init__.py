"""rabbitcam: a real-time camera frame pipeline over RabbitMQ."""

__version__ = "0.1.0"

import os as _os

# OpenCV and its FFmpeg backend print every failed open and read of a camera to
# stderr; rabbitcam reports camera state itself, once, in its own log lines.
_os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# A second line behind the JPEG header check (pipeline/core/jpeg.py): OpenCV refuses to
# decode any image over this many pixels (8K UHD is 33 million) instead of
# allocating what a hostile header claims. Read by OpenCV once, when it loads.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(40_000_000))
