#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through chromium-driver (nothing
# downloads a browser). Installs both with apt when missing and we are root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing chromium and chromium-driver (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
  echo "Browser tests need Chromium and its driver: sudo apt-get install chromium chromium-driver" >&2
  [ -n "${CI:-}" ] && exit 1
fi
exit 0
