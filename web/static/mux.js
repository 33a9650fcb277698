// Reads the streamer's multi-camera stream (/mux): one HTTP connection carries
// every camera's frames, so a page can show more cameras than the browser's
// six connections per host would allow with one <img> stream each. Each part
// names its camera (X-Camera); the JPEG goes to that camera's <img> as a blob.
// The connection heals itself: when it breaks or goes silent, it reopens with
// a capped backoff.
"use strict";

const MUX_RETRY_MAX_MS = 2000;
const MUX_SILENCE_MS = 5000; // the server sends something at least once a second
const CRLF2 = [13, 10, 13, 10];

function indexOfSeq(buffer, length, seq, from) {
  outer: for (let i = from; i <= length - seq.length; i++) {
    for (let j = 0; j < seq.length; j++) if (buffer[i + j] !== seq[j]) continue outer;
    return i;
  }
  return -1;
}

function parseHeaders(bytes) {
  const headers = {};
  for (const line of new TextDecoder().decode(bytes).split("\r\n")) {
    const at = line.indexOf(":");
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return headers;
}

// onPart(headers, jpegBytes) for every part; onState("connected" | "reconnecting").
function openMux(url, onPart, onState) {
  let retry = 250;
  let stopped = false;
  let controller = null;

  async function readOnce() {
    controller = new AbortController();
    let lastData = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - lastData > MUX_SILENCE_MS) controller.abort();
    }, 1000);
    try {
      const response = await fetch(url, { cache: "no-store", signal: controller.signal });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      onState("connected");
      retry = 250;
      const reader = response.body.getReader();
      let buffer = new Uint8Array(1 << 20);
      let length = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        lastData = Date.now();
        if (length + value.length > buffer.length) {
          const bigger = new Uint8Array(Math.max(buffer.length * 2, length + value.length));
          bigger.set(buffer.subarray(0, length));
          buffer = bigger;
        }
        buffer.set(value, length);
        length += value.length;
        let start = 0;
        for (;;) {
          const headEnd = indexOfSeq(buffer, length, CRLF2, start);
          if (headEnd < 0) break;
          const headers = parseHeaders(buffer.subarray(start, headEnd));
          const size = parseInt(headers["content-length"] || "-1", 10);
          if (size < 0) throw new Error("part without Content-Length");
          const bodyStart = headEnd + 4;
          if (length < bodyStart + size + 2) break; // the rest has not arrived yet
          onPart(headers, buffer.slice(bodyStart, bodyStart + size));
          start = bodyStart + size + 2;
        }
        buffer.copyWithin(0, start, length);
        length -= start;
      }
    } catch (error) {
      // Network error, abort by the watchdog, or a server that went away: retry below.
    } finally {
      clearInterval(watchdog);
    }
  }

  (async () => {
    while (!stopped) {
      await readOnce();
      if (stopped) break;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retry));
      retry = Math.min(MUX_RETRY_MAX_MS, retry * 2);
    }
  })();
  return {
    stop: () => {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}

// Shows a JPEG part in an <img>, freeing the previous frame's blob once replaced.
function showPart(img, headers, bytes) {
  const url = URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));
  const previous = img.dataset.blob;
  // The detections of a camera drawn by the page go over this very frame, once it shows.
  const svg = img.parentElement ? img.parentElement.querySelector("svg.overlay") : null;
  img.onload = () => {
    if (previous) URL.revokeObjectURL(previous);
    if (headers["x-overlay"]) drawOverlay(svg, headers); else clearOverlay(svg);
  };
  img.src = url;
  img.dataset.blob = url;
  img.dataset.frames = String(parseInt(img.dataset.frames || "0", 10) + 1);
  img.dataset.seq = headers["x-frame-seq"] || "";
  img.dataset.placeholder = headers["x-placeholder"] || "";
}
