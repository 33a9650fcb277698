// Capture publishes fewer frames while the machine is too busy to deliver them
// all (load shed at the source). Both pages say so, so that a lower frame rate
// is not taken for the camera's fault.
"use strict";

function showShedding(element, camera) {
  const share = camera.capture_share;
  const shedding = typeof share === "number" && share < 1;
  element.hidden = !shedding;
  element.textContent = shedding ? `${Math.round((1 - share) * 100)} % held back` : "";
  element.title = "capture holds back this share of the camera's frames: "
    + "the machine is too busy to deliver them all";
}
