"""Head pose: yaw, pitch and roll in degrees per face, from the face mesh.

The face landmark model gives every point of the mesh a depth as well (in
the same units as x and y), so the head's own axes can be read off the mesh:
across the face from the outer corner of one eye and cheek to the other's,
and up from the chin to the forehead; the third axis, where the face points,
is perpendicular to both. (A generic 3-D face fitted with ``solvePnP`` was
tried first: its fixed proportions read a broad smile as the head tilting
down by 50 degrees. The mesh follows the face it sees.)

- ``yaw``: the face turned towards the person's own left (positive) or right;
- ``pitch``: the face tilted up (positive) or down;
- ``roll``: the head tilted clockwise in the picture (positive).

The label is the way the person looks, in their own terms: ``looking_left``
when they turn to their left (towards the right of the picture) by more than
``yaw_deg``, ``looking_right``, ``looking_up``/``looking_down`` beyond
``pitch_deg``, else ``looking_forward``. The head's axes are drawn from the
nose (red: across, to the picture's right when facing it; green: up; blue:
where the face points).
"""

from __future__ import annotations

import math

import numpy as np

from declared.blocks import setting
from detectors.base import Detection, Detector, FrameContext, Params, register

# Mesh points (MediaPipe's face mesh numbering) that span the head's axes.
PICTURE_LEFT = [33, 234]  # outer eye corner and cheek on the picture's left (the person's right)
PICTURE_RIGHT = [263, 454]
FOREHEAD, CHIN, NOSE_TIP = 10, 152, 1


class HeadposeParams(Params):
    yaw_deg: float = setting(20.0, "turned further than this is looking left or right", 1.0, 90.0)
    pitch_deg: float = setting(15.0, "tilted further than this is looking up or down", 1.0, 90.0)


def head_axes(mesh: np.ndarray) -> np.ndarray:
    """The head's axes as rows (across, up, forward), unit vectors in the picture's
    frame: x to the right, y down, z away from the camera."""
    across = mesh[PICTURE_RIGHT].mean(axis=0) - mesh[PICTURE_LEFT].mean(axis=0)
    up = mesh[FOREHEAD] - mesh[CHIN]
    forward = np.cross(across, up)  # towards the camera (-z) for a face looking at it
    up = np.cross(forward, across)  # made perpendicular to the other two
    axes = np.stack([across, up, forward])
    return axes / np.linalg.norm(axes, axis=1, keepdims=True)


def head_angles(mesh: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """(yaw, pitch, roll) in degrees, and the axes' tips drawn from the nose (4x2)."""
    across, up, forward = head_axes(mesh.astype(np.float64))
    # Seen from the camera, a face turning to the person's left points to the picture's right.
    yaw = math.degrees(math.atan2(forward[0], -forward[2]))
    pitch = math.degrees(math.atan2(-forward[1], math.hypot(forward[0], forward[2])))
    roll = math.degrees(math.atan2(across[1], across[0]))
    nose = mesh[NOSE_TIP, :2]
    length = 0.5 * float(np.linalg.norm(mesh[FOREHEAD, :2] - mesh[CHIN, :2]))
    tips = [nose + length * axis[:2] for axis in (across, up, forward)]
    return yaw, pitch, roll, np.stack([nose, *tips])


@register
class HeadposeDetector(Detector):
    name = "headpose"
    labels = ("looking_forward", "looking_left", "looking_right", "looking_up", "looking_down")
    description = "per face: yaw, pitch and roll in degrees, 'looking_left|right|up|down|forward'"
    Params = HeadposeParams
    needs_one_of = ("landmarks",)

    def label(self, yaw: float, pitch: float) -> str:
        if abs(yaw) > self.params.yaw_deg and abs(yaw) >= abs(pitch):
            return "looking_left" if yaw > 0 else "looking_right"
        if abs(pitch) > self.params.pitch_deg:
            return "looking_up" if pitch > 0 else "looking_down"
        return "looking_forward"

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        found = []
        for face in context.carrying("mesh"):
            yaw, pitch, roll, axes = head_angles(face.internal["mesh"])
            extra = {
                "yaw": round(yaw, 1),
                "pitch": round(pitch, 1),
                "roll": round(roll, 1),
                "axes": np.rint(axes).astype(int).tolist(),
                # The caption on the frame and the line on the camera page.
                "text": f"yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f}",
            }
            found.append(Detection(self.label(yaw, pitch), face.score, face.box, extra))
        return found
