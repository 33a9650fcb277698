#!/usr/bin/env bash
# One command: set everything up, then run every role for every demo camera.
# Open http://127.0.0.1:8000/ ; Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/rabbitcam run configs/demo.toml "$@"
