// The dashboard: every camera through one multi-camera stream, live figures
// once a second, and a "reconnecting" state whenever the streamer is away.
"use strict";

const POLL_MS = 1000;
const tiles = new Map(
  [...document.querySelectorAll(".camera")].map((el) => [el.dataset.camera, el]),
);

function fmt(value) {
  return value === null || value === undefined ? "–" : Math.round(value);
}

function setConnection(state) {
  const badge = document.getElementById("connection");
  badge.textContent = state === "connected" ? "connected" : "reconnecting…";
  badge.className = `badge ${state === "connected" ? "live" : "reconnecting"}`;
  document.body.dataset.connection = state;
  if (state !== "connected") {
    tiles.forEach((tile) => {
      const status = tile.querySelector(".status");
      status.textContent = "reconnecting";
      status.className = "badge status reconnecting";
    });
  }
}

function show(camera) {
  const tile = tiles.get(camera.id);
  if (!tile) return;
  const state = camera.status;
  tile.dataset.state = state;
  const badge = tile.querySelector(".status");
  badge.textContent = camera.reason && state !== "live" ? `${state}: ${camera.reason}` : state;
  badge.className = `badge status ${state}`;
  tile.querySelector(".fps").textContent = `${camera.fps.toFixed(1)} fps`;
  const lat = camera.latency_ms;
  tile.querySelector(".latency").textContent = `p50 ${fmt(lat.p50)} ms · p95 ${fmt(lat.p95)} ms`;
}

async function poll() {
  try {
    const response = await fetch("api/cameras", { cache: "no-store" });
    if (!response.ok) throw new Error(response.statusText);
    (await response.json()).forEach(show);
  } catch (error) {
    setConnection("reconnecting");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

openMux(
  `mux?cameras=${[...tiles.keys()].join(",")}`,
  (headers, bytes) => {
    const tile = tiles.get(headers["x-camera"]);
    if (tile) showPart(tile.querySelector("img.stream"), headers, bytes);
  },
  setConnection,
);
poll();
