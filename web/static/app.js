// The dashboard: every camera through one multi-camera stream, live figures
// once a second, and a "reconnecting" state whenever the streamer is away.
// Cameras added to or removed from the config while the page is open get or
// lose their tile at the next poll, and the stream is reopened for the new set.
"use strict";

const POLL_MS = 1000;
const grid = document.querySelector("main.grid");
const template = document.getElementById("tile-template");
const tiles = new Map(
  [...document.querySelectorAll("main .camera")].map((el) => [el.dataset.camera, el]),
);
let mux = null;

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

function makeTile(camera) {
  const tile = template.content.firstElementChild.cloneNode(true);
  const href = `camera/${encodeURIComponent(camera.id)}`;
  tile.dataset.camera = camera.id;
  tile.querySelector("a.frame-link").href = href;
  const title = tile.querySelector("a.title");
  title.href = href;
  title.textContent = camera.name;
  const img = tile.querySelector("img.stream");
  img.alt = `${camera.name} live`;
  img.width = camera.config.width;
  img.height = camera.config.height;
  return tile;
}

function openStream() {
  if (mux) mux.stop();
  if (tiles.size === 0) return;
  mux = openMux(
    `mux?cameras=${[...tiles.keys()].map(encodeURIComponent).join(",")}`,
    (headers, bytes) => {
      const tile = tiles.get(headers["x-camera"]);
      if (tile) showPart(tile.querySelector("img.stream"), headers, bytes);
    },
    setConnection,
  );
}

// Bring the tiles in line with the streamer's cameras; reopen the stream if they changed.
function syncTiles(cameras) {
  const ids = new Set(cameras.map((camera) => camera.id));
  let changed = false;
  for (const [id, tile] of tiles) {
    if (!ids.has(id)) {
      tile.remove();
      tiles.delete(id);
      changed = true;
    }
  }
  for (const camera of cameras) {
    if (!tiles.has(camera.id)) {
      const tile = makeTile(camera);
      grid.appendChild(tile);
      tiles.set(camera.id, tile);
      changed = true;
    }
  }
  if (changed) {
    const count = tiles.size;
    document.getElementById("camera-count").textContent =
      `${count} camera${count === 1 ? "" : "s"}`;
    openStream();
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
  showShedding(tile.querySelector(".shed"), camera);
  const lat = camera.latency_ms;
  tile.querySelector(".latency").textContent = `p50 ${fmt(lat.p50)} ms · p95 ${fmt(lat.p95)} ms`;
}

async function poll() {
  try {
    const response = await fetch("api/cameras", { cache: "no-store" });
    if (!response.ok) throw new Error(response.statusText);
    const cameras = await response.json();
    syncTiles(cameras);
    cameras.forEach(show);
  } catch (error) {
    setConnection("reconnecting");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

openStream();
poll();
