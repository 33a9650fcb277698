#!/usr/bin/env bash
# Real photographs and video for the detector tests, from Debian's opencv-doc
# package (OpenCV's sample data: people playing basketball, pedestrians walking).
# Extracted once into a cache outside the repository; nothing is committed.
set -euo pipefail

CACHE=${RABBITCAM_MEDIA:-${XDG_CACHE_HOME:-$HOME/.cache}/rabbitcam/media}
FILES=(basketball1.png vtest.avi)

missing=0
for file in "${FILES[@]}"; do [ -s "$CACHE/$file" ] || missing=1; done
[ "$missing" = 0 ] && exit 0

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "Test media need Debian's apt-get and dpkg-deb (package opencv-doc); put ${FILES[*]} in $CACHE by hand." >&2
  exit 1
fi

echo "==> fetching test media (Debian package opencv-doc) into $CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
download() { (cd "$work" && apt-get download -qq opencv-doc) >/dev/null 2>&1; }
if ! download; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    download
  else
    echo "apt-get download opencv-doc failed; run 'sudo apt-get update' and try again." >&2
    exit 1
  fi
fi
mkdir -p "$CACHE"
prefix=./usr/share/doc/opencv-doc/examples/data
dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb \
  | tar -x -C "$work" "${FILES[@]/#/$prefix/}"
for file in "${FILES[@]}"; do cp "$work/$prefix/$file" "$CACHE/$file"; done
