"""An RTSP camera for tests and benchmarks: GStreamer's RTSP server, a moving pattern.

Run with the system Python, which has GStreamer's bindings from Debian
(``scripts/ensure-test-tools.sh`` installs them):

- ``python3 testkit/rtsp_camera.py PORT``: ``rtsp://127.0.0.1:PORT/cam``, 320x240 at
  10 fps, RTP/JPEG;
- ``python3 testkit/rtsp_camera.py PORT 1280x720@15``: H.264 as IP cameras send it
  (x264enc, from gstreamer1.0-plugins-ugly), at that size and rate.

It prints ``ready`` once it listens; kill it to take the camera away.
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
H264_PIPELINE = (
    "( videotestsrc is-live=true pattern=smpte horizontal-speed=4 "
    "! video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max={gop} "
    "! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def launch_line(argv: list[str]) -> str:
    if len(argv) < 3:
        return PIPELINE
    size, fps = argv[2].split("@")
    width, height = (int(v) for v in size.split("x"))
    kbps = max(500, width * height * int(fps) // 4000)
    return H264_PIPELINE.format(width=width, height=height, fps=fps, kbps=kbps, gop=2 * int(fps))


def main() -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[1])
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(sys.argv))
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on port {sys.argv[1]}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
