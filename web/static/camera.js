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
  zones = camera.config.zones || [];
  zonesVersion = camera.zones_version;
  lines = camera.config.lines || [];
  drawZones();
  const counts = zones.map((zone) => {
    const inside = (camera.occupancy || {})[zone.name] || {};
    const text = Object.entries(inside).map(([label, n]) => `${n} ${label}`).join(", ");
    const item = element("li");
    item.append(element("b", zone.name), ` ${text || "empty"}`);
    return item;
  });
  const crossings = lines.map((line) => {
    const counted = (camera.lines || {})[line.name] || { in: 0, out: 0 };
    const item = element("li");
    item.append(element("b", line.name), ` in ${counted.in} · out ${counted.out}`);
    return item;
  });
  fillList(page.querySelector(".occupancy"), [...counts, ...crossings], "none");
}

// Zones: drawn over the picture in the camera's own pixels (the svg's viewBox), and
// drawn anew with the mouse: click the corners, name the zone, save. The server
// checks it as it checks any config and answers 400 with why for a bad one.
const SVG = "http://www.w3.org/2000/svg";
const zoneLayer = page.querySelector("svg.zones");
const editor = page.querySelector(".zone-editor");
let zones = [];
let zonesVersion = null;  // the camera file's version the zones were read from (If-Match)
let lines = [];  // counting lines, drawn beside the zones
let draft = null;  // the corners clicked so far, or null when not drawing

function svgElement(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawZones() {
  const shapes = zones.map((zone) => {
    const group = svgElement("g", { class: "zone" });
    group.append(svgElement("polygon", { points: zone.points.map((p) => p.join(",")).join(" ") }));
    const [x, y] = zone.points[0];
    group.append(svgElement("text", { x: x + 4, y: y + 16 }, zone.name));
    return group;
  });
  for (const line of lines) {
    const group = svgElement("g", { class: "line" });
    group.append(svgElement("polyline", { points: line.points.map((p) => p.join(",")).join(" ") }));
    const [x, y] = line.points[0];
    group.append(svgElement("text", { x: x + 4, y: y + 16 }, line.name));
    shapes.push(group);
  }
  if (draft) {
    const points = draft.map((p) => p.join(",")).join(" ");
    shapes.push(svgElement("polyline", { class: "draft", points }));
  }
  zoneLayer.replaceChildren(...shapes);
}

zoneLayer.addEventListener("click", (event) => {
  if (!draft) return;
  const box = zoneLayer.getBoundingClientRect();
  const [width, height] = zoneLayer.getAttribute("viewBox").split(" ").slice(2).map(Number);
  const x = Math.round(((event.clientX - box.left) / box.width) * width);
  const y = Math.round(((event.clientY - box.top) / box.height) * height);
  draft.push([Math.min(Math.max(x, 0), width), Math.min(Math.max(y, 0), height)]);
  editor.querySelector(".save").disabled = draft.length < 3;
  drawZones();
});

editor.querySelector(".draw").addEventListener("click", () => {
  draft = [];
  zoneLayer.classList.add("drawing");
  editor.querySelector(".zone-message").textContent = "click the zone's corners on the picture";
  drawZones();
});

async function saveZones(wanted) {
  const message = editor.querySelector(".zone-message");
  const headers = { "Content-Type": "application/json" };
  if (zonesVersion) headers["If-Match"] = `"${zonesVersion}"`;
  const response = await fetch(`../api/cameras/${cameraId}/zones`, {
    method: "PUT",
    headers,
    body: JSON.stringify({ zones: wanted }),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.ok) {
    zonesVersion = answer.version;
    message.textContent = `saved to ${answer.saved}`;
  } else if (response.status === 401 || response.status === 403) {
    message.textContent = "only an admin may change zones: log in as one (the link at the top)";
  } else {
    message.textContent = (answer.problems || [answer.detail || response.statusText]).join("; ");
  }
  return response.ok;
}

function kept(zone) {
  // Every setting of the zone as the config holds it (the page is given them all).
  return { ...zone };
}

editor.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = editor.elements.zone.value;
  const others = zones.filter((zone) => zone.name !== name).map(kept);
  if (await saveZones([...others, { name, points: draft }])) {
    draft = null;
    zoneLayer.classList.remove("drawing");
    editor.querySelector(".save").disabled = true;
  }
});

editor.querySelector(".remove").addEventListener("click", async () => {
  const name = editor.elements.zone.value;
  await saveZones(zones.filter((zone) => zone.name !== name).map(kept));
});

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
