// Keeps the dashboard alive on its own: live figures once a second, and every
// stream reconnected (with backoff) when it breaks or the streamer comes back.
"use strict";

const POLL_MS = 1000;
const MAX_RETRY_MS = 5000;
const figures = new Map(
  [...document.querySelectorAll(".camera")].map((el) => [el.dataset.camera, el]),
);
let streamerUp = true;

function connectStream(figure, delay = 0) {
  const img = figure.querySelector("img.stream");
  clearTimeout(img._retry);
  img._retry = setTimeout(() => {
    // A fresh URL makes the browser open a new connection instead of reusing a dead one.
    img.src = `${img.dataset.src}?t=${Date.now()}`;
  }, delay);
}

function watchStream(figure) {
  const img = figure.querySelector("img.stream");
  img._backoff = 250;
  const retry = () => {
    img._backoff = Math.min(MAX_RETRY_MS, img._backoff * 2);
    connectStream(figure, img._backoff);
  };
  img.addEventListener("error", retry);
  connectStream(figure);
}

function fmt(value) {
  return value === null || value === undefined ? "–" : Math.round(value);
}

function show(camera) {
  const figure = figures.get(camera.id);
  if (!figure) return;
  const state = camera.status;
  figure.dataset.state = state;
  const badge = figure.querySelector(".status");
  badge.textContent = camera.reason && state !== "live" ? `${state}: ${camera.reason}` : state;
  badge.className = `badge status ${state}`;
  figure.querySelector(".fps").textContent = `${camera.fps.toFixed(1)} fps`;
  const lat = camera.latency_ms;
  figure.querySelector(".latency").textContent = `p50 ${fmt(lat.p50)} ms · p95 ${fmt(lat.p95)} ms`;
  const img = figure.querySelector("img.stream");
  if (state === "live") img._backoff = 250;
}

function setConnection(up) {
  const badge = document.getElementById("connection");
  badge.textContent = up ? "connected" : "reconnecting…";
  badge.className = `badge ${up ? "live" : "reconnecting"}`;
  badge.dataset.state = up ? "connected" : "reconnecting";
  if (up && !streamerUp) {
    // The streamer came back: every stream it served is gone, so reopen them all.
    figures.forEach((figure) => connectStream(figure));
  }
  streamerUp = up;
}

async function poll() {
  try {
    const response = await fetch("api/cameras", { cache: "no-store" });
    if (!response.ok) throw new Error(response.statusText);
    (await response.json()).forEach(show);
    setConnection(true);
  } catch (error) {
    setConnection(false);
    figures.forEach((figure) => {
      figure.querySelector(".status").textContent = "reconnecting";
      figure.querySelector(".status").className = "badge status reconnecting";
    });
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

figures.forEach(watchStream);
poll();
