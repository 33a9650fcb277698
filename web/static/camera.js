// One camera: its live stream, figures, a latency chart of the last minute,
// recent detections, drops by reason and its config.
"use strict";

const page = document.querySelector("[data-camera]");
const cameraId = page.dataset.camera;
const img = page.querySelector("img.stream");

function fmt(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value)} ms`;
}

function drawChart(canvas, series) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const values = series.filter((v) => v !== null);
  const top = Math.max(50, ...values) * 1.15;
  ctx.strokeStyle = "#444";
  ctx.fillStyle = "#999";
  ctx.font = "11px system-ui";
  for (const mark of [top / 2, top]) {
    const y = height - (mark / top) * (height - 14);
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(width, y); ctx.stroke();
    ctx.fillText(`${Math.round(mark)} ms`, 4, y - 2);
  }
  ctx.strokeStyle = "#4fc3f7";
  ctx.lineWidth = 2;
  ctx.beginPath();
  let drawing = false;
  series.forEach((value, index) => {
    const x = (index / (series.length - 1)) * width;
    if (value === null) { drawing = false; return; }
    const y = height - (value / top) * (height - 14);
    if (drawing) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    drawing = true;
  });
  ctx.stroke();
}

// Everything shown comes from cameras and the wire (a QR code's text, a plugin's
// label): it goes into the page as text nodes, never as HTML.
function element(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fillList(list, items, empty) {
  list.replaceChildren(...(items.length ? items : [element("li", empty)]));
}

function render(camera) {
  page.dataset.state = camera.status;
  const badge = page.querySelector(".status");
  badge.textContent = camera.reason && camera.status !== "live" ? `${camera.status}: ${camera.reason}` : camera.status;
  badge.className = `badge status ${camera.status}`;
  page.querySelector(".fps").textContent =
    `${camera.fps.toFixed(1)} fps out · ${camera.fps_in.toFixed(1)} in`;
  showShedding(page.querySelector(".shed"), camera);
  const lat = camera.latency_ms;
  page.querySelector(".p50").textContent = fmt(lat.p50);
  page.querySelector(".p95").textContent = fmt(lat.p95);
  page.querySelector(".p99").textContent = fmt(lat.p99);
  drawChart(page.querySelector("canvas"), camera.latency_series_ms);
  const drops = Object.entries(camera.dropped).map(([reason, count]) => {
    const item = element("li");
    item.append(element("b", reason), ` ${count}`);
    return item;
  });
  fillList(page.querySelector(".drops"), drops, "none");
  const recent = camera.recent_detections.slice().reverse().slice(0, 10).map((entry) => {
    const when = new Date(entry.captured_at * 1000).toLocaleTimeString();
    const labels = entry.detections.map((d) => {
      const text = d.extra && typeof d.extra.text === "string" ? ` ${d.extra.text}` : "";
      return `${d.label}${text}`;
    }).join(", ");
    const item = element("li");
    item.append(element("time", when), ` #${entry.seq}: ${labels}`);
    return item;
  });
  fillList(page.querySelector(".detections"), recent, "none yet");
  page.querySelector(".config").textContent = JSON.stringify(camera.config, null, 2);
}

async function poll() {
  try {
    const response = await fetch(`../api/cameras/${cameraId}`, { cache: "no-store" });
    if (!response.ok) throw new Error(response.statusText);
    render(await response.json());
    document.body.dataset.connection = "connected";
  } catch (error) {
    document.body.dataset.connection = "reconnecting";
    page.querySelector(".status").textContent = "reconnecting";
    page.querySelector(".status").className = "badge status reconnecting";
  } finally {
    setTimeout(poll, 1000);
  }
}

openMux(`../mux?cameras=${cameraId}`, (headers, bytes) => showPart(img, headers, bytes), (state) => {
  document.body.dataset.connection = state;
});
poll();
