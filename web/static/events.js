// The events page: recorded events, newest first, filtered by camera, label and
// time; an event's clip plays in place. Everything shown comes from cameras and
// the wire (labels, a QR code's text, camera names): it goes into the page as
// text, never as HTML.
"use strict";

const REFRESH_MS = 5000;
const list = document.getElementById("events");
const form = document.getElementById("filters");
const older = document.getElementById("older");
const template = document.getElementById("event-template");
const objectTemplate = document.getElementById("object-template");
const SVG = "http://www.w3.org/2000/svg";
const summary = document.getElementById("summary");
let nextPage = null;
let newestShown = null;

// datetime-local inputs speak the browser's local time; the API, seconds since 1970
// (toLocalInput, fromLocalInput: times.js).
function toSeconds(local) {
  return local ? String(fromLocalInput(local)) : "";
}

function asLocalInput(seconds) {
  return seconds ? toLocalInput(Number(seconds)) : "";
}

function filters() {
  const data = new FormData(form);
  const query = new URLSearchParams();
  for (const key of ["camera", "label"]) if (data.get(key)) query.set(key, data.get(key));
  const since = toSeconds(data.get("from"));
  const until = toSeconds(data.get("to"));
  if (since) query.set("since", since);
  if (until) query.set("until", until);
  return query;
}

// A filter from the address (a link, a bookmark) may name a label or a camera that has
// no event yet: it is offered too, so that the page shows what it filters by.
function choose(select, value) {
  if (value && ![...select.options].some((option) => option.value === value)) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value;
    select.append(option);
  }
  select.value = value || "";
}

function showFilters(query) {
  choose(form.elements.camera, query.get("camera"));
  choose(form.elements.label, query.get("label"));
  form.elements.from.value = asLocalInput(query.get("since"));
  form.elements.to.value = asLocalInput(query.get("until"));
}

function describe(event) {
  const parts = [];
  if (event.count > 1) parts.push(`${event.count} detections`);
  const span = event.ended_at - event.started_at;
  if (span >= 1) parts.push(`for ${Math.round(span)} s`);
  if (event.clip) parts.push(`clip ${event.clip_frames} frames, from ${event.pre_roll_s.toFixed(1)} s before`);
  if (event.state === "recording") parts.push("clip being recorded");
  if (event.state === "failed") parts.push(`no clip: ${event.reason}`);
  const text = event.detection.extra && typeof event.detection.extra.text === "string"
    ? event.detection.extra.text : null;
  if (text) parts.push(`text: ${text}`);
  return parts.join(" · ");
}

// A tracked object of the event: its best snapshot, how long it stayed, where it went.
function objectItem(seen) {
  const node = objectTemplate.content.firstElementChild.cloneNode(true);
  node.dataset.object = String(seen.object);
  node.dataset.inView = String(seen.duration_s === null);
  const what = `${seen.label} ${seen.object}`;
  node.querySelector(".what").textContent = what;
  const stay = [];
  if (seen.duration_s === null) stay.push("still in view");
  else stay.push(`stayed ${seen.duration_s < 10 ? seen.duration_s.toFixed(1) : Math.round(seen.duration_s)} s`);
  if (seen.zones.length) stay.push(`zones: ${seen.zones.join(", ")}`);
  node.querySelector(".stay").textContent = stay.join(" · ");
  const crop = node.querySelector("img.crop");
  crop.alt = what;
  if (seen.snapshot) crop.src = seen.snapshot;
  return node;
}

// The objects' paths over the thumbnail, in the frame's pixels (the snapshot's size).
function drawPaths(button, event) {
  const walked = event.objects.filter((seen) => seen.path.length > 1);
  if (!walked.length || !event.snapshot) return;
  const frame = new Image();
  frame.addEventListener("load", () => {
    const svg = document.createElementNS(SVG, "svg");
    svg.classList.add("paths");
    svg.setAttribute("viewBox", `0 0 ${frame.naturalWidth} ${frame.naturalHeight}`);
    svg.setAttribute("preserveAspectRatio", "none");
    for (const seen of walked) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", seen.path.map(([x, y]) => `${Number(x)},${Number(y)}`).join(" "));
      line.dataset.object = String(seen.object);
      const [x, y] = seen.path[seen.path.length - 1];
      const end = document.createElementNS(SVG, "circle");
      end.setAttribute("cx", String(Number(x)));
      end.setAttribute("cy", String(Number(y)));
      end.setAttribute("r", String(Math.max(frame.naturalWidth / 120, 2)));
      svg.append(line, end);
    }
    button.append(svg);
  });
  frame.src = event.snapshot;
}

function card(event) {
  const node = template.content.firstElementChild.cloneNode(true);
  node.dataset.id = String(event.id);
  node.dataset.state = event.state;
  const when = new Date(event.started_at * 1000);
  const time = node.querySelector("time");
  time.dateTime = when.toISOString();
  time.textContent = when.toLocaleString();
  node.querySelector(".camera-name").textContent = event.camera_name;
  node.querySelector(".labels").textContent = event.labels.join(", ");
  const badge = node.querySelector(".state");
  badge.textContent = event.state;
  badge.classList.add(event.state);
  node.querySelector(".details").textContent = describe(event);
  node.querySelector(".objects").append(...event.objects.map(objectItem));
  const thumb = node.querySelector("img.thumb");
  thumb.alt = `${event.labels.join(", ")} on ${event.camera_name}`;
  if (event.thumb) thumb.src = event.thumb;
  const player = node.querySelector(".player");
  const video = node.querySelector("video");
  const snapshot = node.querySelector(".snapshot-link");
  const download = node.querySelector(".clip-link");
  if (event.snapshot) snapshot.href = event.snapshot; else snapshot.hidden = true;
  if (event.clip) download.href = event.clip; else download.hidden = true;
  const footage = node.querySelector(".footage-link");
  if (event.footage) footage.href = event.footage;
  else node.querySelector(".footage-part").hidden = true;
  const open = node.querySelector("button.open");
  drawPaths(open, event);
  open.addEventListener("click", () => {
    const opening = player.hidden;
    player.hidden = !opening;
    open.setAttribute("aria-expanded", String(opening));
    if (opening && event.clip) {
      if (!video.src) video.src = event.clip;
      video.play().catch(() => {});
    } else if (opening && event.snapshot) {
      video.poster = event.snapshot;
    } else {
      video.pause();
    }
  });
  node.querySelector("button.delete").addEventListener("click", async () => {
    if (!window.confirm("Delete this event, its snapshot and its clip?")) return;
    const response = await fetch(`api/events/${event.id}`, { method: "DELETE" });
    if (response.ok || response.status === 404) node.remove();
    else if (response.status === 401 || response.status === 403) {
      window.alert("Only an admin may delete events: log in as one (the link at the top).");
    }
  });
  return node;
}

async function fetchPage(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return response.json();
}

async function load({ append = false } = {}) {
  const query = filters();
  const url = append && nextPage ? nextPage : `api/events?${query}`;
  try {
    const page = await fetchPage(url);
    const cards = page.events.map(card);
    if (append) list.append(...cards); else list.replaceChildren(...cards);
    if (!append) newestShown = page.events.length ? page.events[0].id : null;
    nextPage = page.next;
    older.hidden = !nextPage;
    list.dataset.state = list.children.length ? "loaded" : "empty";
    summary.textContent = `${list.children.length} event${list.children.length === 1 ? "" : "s"} shown`;
  } catch (error) {
    list.dataset.state = "error";
    summary.textContent = `cannot load events (${error.message}); retrying`;
  }
}

// New events appear on their own while nobody is watching a clip.
async function refresh() {
  try {
    const watching = [...list.querySelectorAll(".player")].some((p) => !p.hidden);
    // An event still recording, or with an object still in view, changes: reloaded.
    const changing = [...list.querySelectorAll(".event")].some((n) => n.dataset.state === "recording") ||
      [...list.querySelectorAll(".object")].some((n) => n.dataset.inView === "true");
    const query = filters();
    if (!watching && !query.has("until")) {
      const page = await fetchPage(`api/events?${query}&limit=1`);
      const top = page.events.length ? page.events[0].id : null;
      if (top !== newestShown || changing) await load();
    }
  } catch (error) {
    summary.textContent = `cannot load events (${error.message}); retrying`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = filters();
  history.replaceState(null, "", query.toString() ? `?${query}` : location.pathname);
  load();
});
document.getElementById("reset").addEventListener("click", () => {
  form.reset();
  history.replaceState(null, "", location.pathname);
  load();
});
older.addEventListener("click", () => load({ append: true }));

showFilters(new URLSearchParams(location.search));
load();
setTimeout(refresh, REFRESH_MS);
