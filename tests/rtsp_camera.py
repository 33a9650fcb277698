"""An RTSP camera for tests: GStreamer's RTSP server with a moving test pattern.

Run with the system Python, which has GStreamer's bindings from Debian
(``scripts/ensure-test-tools.sh`` installs them): ``python3 tests/rtsp_camera.py PORT``.
It serves ``rtsp://127.0.0.1:PORT/cam`` (320x240, 10 fps, RTP/JPEG) and prints
``ready`` once it listens; kill it to take the camera away.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball "
    "! video/x-raw,format=I420,width=320,height=240,framerate=10/1 "
    "! jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26 )"
)


def main() -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[1])
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on port {sys.argv[1]}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
