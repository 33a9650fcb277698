#!/usr/bin/env bash
# What the tests drive besides Python packages, all from Debian (nothing
# downloads a browser or a server):
# - Chromium and chromium-driver, for the browser tests;
# - GStreamer's RTSP server and its Python bindings, for the RTSP camera test.
# Installs what is missing with apt when we are root.
set -euo pipefail

have_browser() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
have_rtsp() {
  /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); \
from gi.repository import GstRtspServer" >/dev/null 2>&1
}

packages=()
have_browser || packages+=(chromium chromium-driver)
have_rtsp || packages+=(python3-gi gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing ${packages[*]} (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    "${packages[@]}" >/dev/null
else
  echo "Some tests need: sudo apt-get install ${packages[*]}" >&2
  [ -n "${CI:-}" ] && exit 1
fi
exit 0
