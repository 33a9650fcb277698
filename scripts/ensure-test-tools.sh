#!/usr/bin/env bash
# What the tests drive besides Python packages, all from Debian (nothing
# downloads a browser or a server):
# - Chromium and chromium-driver, for the browser tests;
# - GStreamer's RTSP server and its Python bindings, for the RTSP camera tests, and
#   x264 (plugins-ugly), for the camera that sends H.264 (the footage test);
# - Mosquitto, an MQTT broker, for the MQTT alarms test (started if it is stopped).
# Installs what is missing with apt when we are root.
set -euo pipefail

have_browser() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
have_rtsp() {
  /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); \
from gi.repository import GstRtspServer" >/dev/null 2>&1
}

have_x264() {
  /usr/bin/python3 -c "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; \
Gst.init(None); assert Gst.ElementFactory.find('x264enc')" >/dev/null 2>&1
}

mqtt_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }

packages=()
have_browser || packages+=(chromium chromium-driver)
mqtt_up || command -v mosquitto >/dev/null 2>&1 || packages+=(mosquitto)
have_rtsp || packages+=(python3-gi gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
have_x264 || packages+=(gstreamer1.0-plugins-ugly)
start_mqtt() {
  mqtt_up && return 0
  echo "==> starting Mosquitto (MQTT) on 127.0.0.1:1883"
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf || mosquitto -d -p 1883
  else
    mosquitto -d -p 1883
  fi
  for _ in $(seq 50); do mqtt_up && return 0; sleep 0.1; done
  echo "Mosquitto did not start; the MQTT alarms test needs a broker on 127.0.0.1:1883" >&2
  [ -z "${CI:-}" ]
}

if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing ${packages[*]} (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      "${packages[@]}" >/dev/null
  else
    echo "Some tests need: sudo apt-get install ${packages[*]}" >&2
    [ -n "${CI:-}" ] && exit 1
  fi
fi
start_mqtt
exit 0
