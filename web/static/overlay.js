// Draws a frame's detections over its picture, for cameras with annotate = "page":
// their JPEG arrives untouched and its part carries the detections (X-Overlay,
// JSON), so the boxes drawn are always those of the frame on screen. The SVG
// lies over the <img> and stretches with it (viewBox in frame pixels).
// Labels and a code's text come from cameras and the wire: they go in as text
// nodes, and every number and colour is checked before it becomes an attribute.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const AXIS_COLOURS = ["#ff0000", "#00ff00", "#0000ff"]; // x, y, z, as drawn into pictures
const COLOUR = /^#[0-9a-f]{6}$/;

function svgElement(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function numbers(values, count) {
  if (!Array.isArray(values) || values.length !== count) return null;
  const out = values.map(Number);
  return out.every(Number.isFinite) ? out : null;
}

function overlayText(text, x, y, size, colour) {
  const node = svgElement("text", { x, y, "font-size": size, class: "caption", "data-colour": colour });
  node.textContent = String(text).slice(0, 80);
  return node;
}

// Captions as pictures have them: black text on a box of the label's colour,
// kept whole inside the frame. Their width is known only once they are laid out.
function boxCaptions(svg, width) {
  for (const text of svg.querySelectorAll("text.caption")) {
    const length = text.getComputedTextLength();
    const x = Math.max(0, Math.min(Number(text.getAttribute("x")), width - length - 4));
    text.setAttribute("x", x);
    const box = text.getBBox();
    text.before(svgElement("rect", {
      x: box.x - 2, y: box.y, width: box.width + 4, height: box.height,
      fill: text.dataset.colour, class: "caption-box",
    }));
  }
}

// A capture time as pictures show it: HH:MM:SS.mmm, local time.
function clock(seconds) {
  if (!Number.isFinite(seconds)) return "";
  const at = new Date(seconds * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.` +
    String(at.getMilliseconds()).padStart(3, "0");
}

// The path of segments [[x1, y1, x2, y2], ...] (a skeleton's bones).
function segments(list) {
  return list.map((s) => numbers(s, 4)).filter(Boolean)
    .map(([x1, y1, x2, y2]) => `M${x1} ${y1}L${x2} ${y2}`).join("");
}

// Clears the overlay of a camera whose frames have nothing to draw over them.
function clearOverlay(svg) {
  if (!svg) return;
  if (svg.childElementCount) svg.replaceChildren(); // every frame of most cameras: no-op
  svg.dataset.items = "0";
}

// headers: the part's (lower-case names); a header that does not parse clears it.
function drawOverlay(svg, headers) {
  if (!svg) return;
  let overlay = null;
  try {
    overlay = JSON.parse(headers["x-overlay"] || "null");
  } catch (error) {
    overlay = null;
  }
  const size = overlay && numbers([overlay.width, overlay.height], 2);
  if (!size || size[0] <= 0 || size[1] <= 0 || !Array.isArray(overlay.items)) {
    clearOverlay(svg);
    return;
  }
  const [width, height] = size;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const fontSize = Math.max(12, Math.round(height / 36));
  const nodes = [];
  let drawn = 0;
  for (const item of overlay.items.slice(0, 64)) {
    if (!item || typeof item !== "object") continue;
    const colour = COLOUR.test(item.colour) ? item.colour : "#ffffff";
    const points = Array.isArray(item.points) ? item.points.map((p) => numbers(p, 2)).filter(Boolean) : [];
    if (points.length) {
      const d = points.map(([x, y]) => `M${x} ${y}h0.01`).join("");
      nodes.push(svgElement("path", { d, stroke: colour, class: "points" }));
    }
    if (Array.isArray(item.lines) && item.lines.length) {
      nodes.push(svgElement("path", { d: segments(item.lines), stroke: colour, class: "lines" }));
    }
    const axes = Array.isArray(item.axes) ? item.axes.map((p) => numbers(p, 2)) : [];
    if (axes.length === 4 && axes.every(Boolean)) {
      const [origin, ...tips] = axes;
      tips.forEach((tip, index) => nodes.push(svgElement("path", {
        d: `M${origin[0]} ${origin[1]}L${tip[0]} ${tip[1]}`, stroke: AXIS_COLOURS[index], class: "axis",
      })));
    }
    const box = numbers(item.box, 4);
    if (box) {
      const [x, y, w, h] = box;
      nodes.push(svgElement("rect", { x, y, width: w, height: h, stroke: colour, class: "box" }));
      const top = y - 4 >= fontSize ? y - 4 : y + fontSize + 2;
      nodes.push(overlayText(item.caption || item.label || "", x + 2, top, fontSize, colour));
    }
    drawn += 1;
  }
  // The banner a picture would carry: camera, seq, capture time.
  const found = drawn ? `  ${drawn} found` : "";
  const banner = `${headers["x-camera"] || ""} #${headers["x-frame-seq"] || ""} ` +
    `${clock(Number(headers["x-captured-at"]))}${found}`;
  nodes.push(overlayText(banner, 2, fontSize, fontSize, "#ffffff"));
  svg.replaceChildren(...nodes);
  boxCaptions(svg, width);
  svg.dataset.items = String(drawn);
}
