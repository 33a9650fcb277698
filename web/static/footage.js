// A camera's footage: a day at a glance (kept spans, lost spans, events), a player
// that chains the day's segments (one ends, the next starts), and export of a range.
// Everything shown from the server goes into the page as text.
"use strict";

const DAY_S = 86400;
const main = document.getElementById("footage");
const timeline = document.getElementById("timeline");
const video = document.getElementById("video");
const playing = document.getElementById("playing");
const dayForm = document.getElementById("day");
const exportForm = document.getElementById("export");
const exportLink = document.getElementById("export-link");
const recorder = document.getElementById("recorder");
const figures = document.getElementById("figures");
let segments = [];
let current = -1;
let dayStart = 0;

// (clock, toLocalInput, fromLocalInput: times.js)
const dayInput = (seconds) => toLocalInput(seconds).slice(0, 10);

function startOfDay(seconds) {
  const d = new Date(seconds * 1000);
  d.setHours(0, 0, 0, 0);
  return d.getTime() / 1000;
}

function place(node, from, to) {
  const left = Math.max(0, (from - dayStart) / DAY_S);
  const right = Math.min(1, (to - dayStart) / DAY_S);
  node.style.left = `${(left * 100).toFixed(4)}%`;
  node.style.width = `${Math.max(0.05, (right - left) * 100).toFixed(4)}%`;
}

// Segments that follow one another within a couple of seconds draw as one span.
function spans(list) {
  const merged = [];
  for (const s of list) {
    const last = merged[merged.length - 1];
    if (last && s.start - last.end < 2) last.end = Math.max(last.end, s.end);
    else merged.push({ start: s.start, end: s.end });
  }
  return merged;
}

function draw(data) {
  timeline.querySelectorAll(".span, .gap, .mark").forEach((node) => node.remove());
  for (const span of spans(data.segments)) {
    const node = document.createElement("div");
    node.className = "span";
    node.title = `${clock(span.start)} – ${clock(span.end)}`;
    place(node, span.start, span.end);
    timeline.append(node);
  }
  for (const gap of data.gaps) {
    const node = document.createElement("div");
    node.className = "gap";
    node.title = `${clock(gap.from)} – ${clock(gap.to)}: ${gap.reason}`;
    place(node, gap.from, gap.to);
    timeline.append(node);
  }
  for (const event of data.events) {
    const node = document.createElement("div");
    node.className = "mark";
    node.title = `${clock(event.start)} ${event.label}`;
    place(node, event.start, event.start);
    timeline.append(node);
  }
  const hours = data.segments.reduce((sum, s) => sum + (s.end - s.start), 0) / 3600;
  figures.textContent = `${data.segments.length} segments, ${hours.toFixed(2)} h kept, ` +
    `${data.gaps.length} lost spans, ${data.events.length} events`;
  recorder.textContent = data.state === "stopped" ? `stopped: ${data.reason}` : data.state;
  recorder.className = `badge recorder ${data.state}`;
}

async function load(day, at) {
  dayStart = day;
  dayForm.elements.day.value = dayInput(day + 1);
  const query = new URLSearchParams({ from: String(day), to: String(day + DAY_S) });
  main.dataset.state = "loading";
  try {
    const response = await fetch(`${main.dataset.listing}?${query}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    segments = data.segments;
    draw(data);
    main.dataset.state = segments.length ? "ready" : "empty";
    if (at !== undefined) playAt(at);
  } catch (error) {
    main.dataset.state = "error";
    figures.textContent = `cannot list the footage: ${error.message}`;
  }
}

function playAt(at) {
  let index = segments.findIndex((s) => s.end > at);
  if (index < 0) return;
  start(index, Math.max(0, at - segments[index].start));
  setExport(Math.max(segments[index].start, at));
}

function start(index, offset) {
  current = index;
  const segment = segments[index];
  video.dataset.segment = String(segment.id);
  video.src = segment.url;
  video.addEventListener("loadedmetadata", () => {
    video.currentTime = Math.min(offset, Math.max(0, video.duration - 0.1));
    video.play().catch(() => {});
  }, { once: true });
}

// One segment ends: the next one plays (after a span with no footage, from its start).
video.addEventListener("ended", () => {
  if (current >= 0 && current + 1 < segments.length) start(current + 1, 0);
});

function showPlace() {
  if (current < 0) return;
  const at = segments[current].start + video.currentTime;
  playing.textContent = `playing ${clock(at)}`;
  main.dataset.playingAt = String(at);
  const cursor = timeline.querySelector(".cursor");
  cursor.hidden = false;
  place(cursor, at, at);
  timeline.setAttribute("aria-valuenow", String(Math.round(at - dayStart)));
}

// Where the player is, in the day: while it plays, and wherever it is moved to.
video.addEventListener("timeupdate", showPlace);
video.addEventListener("seeked", showPlace);

function setExport(from) {
  exportForm.elements.from.value = toLocalInput(from);
  exportForm.elements.to.value = toLocalInput(from + 60);
  updateExport();
}

function updateExport() {
  const from = fromLocalInput(exportForm.elements.from.value);
  const to = fromLocalInput(exportForm.elements.to.value);
  if (!(from < to)) {
    exportLink.removeAttribute("href");
    return;
  }
  exportLink.href = `${main.dataset.export}?${new URLSearchParams({ from: String(from), to: String(to) })}`;
}

exportForm.addEventListener("input", updateExport);

timeline.addEventListener("click", (event) => {
  const box = timeline.getBoundingClientRect();
  playAt(dayStart + ((event.clientX - box.left) / box.width) * DAY_S);
});

dayForm.elements.day.addEventListener("change", () => {
  const value = dayForm.elements.day.value;
  if (value) load(startOfDay(fromLocalInput(`${value}T12:00:00`)));
});
document.getElementById("earlier").addEventListener("click", () => load(startOfDay(dayStart - 1)));
document.getElementById("later").addEventListener("click", () => load(startOfDay(dayStart + DAY_S + 1)));

const asked = Number(new URLSearchParams(window.location.search).get("at"));
const at = Number.isFinite(asked) && asked > 0 ? asked : undefined;
load(startOfDay(at ?? Date.now() / 1000), at);
