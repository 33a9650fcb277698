// Times as the pages show and take them: the API speaks seconds since 1970, people
// and datetime-local inputs the browser's local time.
"use strict";

const pad = (n) => String(n).padStart(2, "0");

// 14:03:22, local time.
function clock(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// A datetime-local input's value: 2026-12-05T14:03:22.
function toLocalInput(seconds) {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${clock(seconds)}`;
}

// Seconds since 1970 from a datetime-local input's value.
function fromLocalInput(text) {
  return new Date(text).getTime() / 1000;
}
