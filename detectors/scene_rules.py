"""Where and what matters in a camera's view: zones, lines, masks and per-label filters.

A camera's config says them (``zones``, ``lines``, ``object_mask``,
``motion_mask``, ``filters``) and they are declared here once, with the
settings' blocks: a ``Zone`` read from the config is the zone the chain hands
the detectors with every frame (``FrameContext.rules``). Polygons are in the
camera's frame pixels. An object is *at* the bottom centre of its box: where a
person's feet are, which is what a zone drawn on the floor means.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Annotated, Any

import cv2
import numpy as np
from pydantic import PlainValidator, WithJsonSchema

from declared.blocks import NAME_PATTERN, Labels, Section, matching, setting
from declared.problems import refuse, type_name

Point = tuple[float, float]
Polygon = tuple[Point, ...]
Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels

# Bounds on what a camera's view may hold. A zone is drawn by hand: a few to a few
# dozen corners. The checks of a polygon compare its edges pairwise, so its corners
# are bounded, and so are the shapes a camera may have (each is checked on every
# load, and each becomes Home Assistant entities and Prometheus series).
MOST_POINTS = 64
MOST_SHAPES = 32


def _polygon(value: Any) -> Polygon:
    if isinstance(value, tuple) and all(isinstance(p, tuple) for p in value):
        return value  # made in code
    numbers = (int, float)
    if not isinstance(value, list) or not all(
        isinstance(point, list) and len(point) == 2
        and all(isinstance(v, numbers) and not isinstance(v, bool) for v in point)
        for point in value
    ):  # fmt: skip
        raise refuse(f"must be an array of [x, y] points, got {type_name(value)}")
    if len(value) > MOST_POINTS:
        raise refuse(f"must have at most {MOST_POINTS} points, got {len(value)}")
    for index, (x, y) in enumerate(value):  # TOML and JSON can say nan and inf
        if not (math.isfinite(x) and math.isfinite(y)):
            raise refuse(f"({x}, {y}): coordinates must be finite numbers", f"[{index}]")
    return tuple((float(x), float(y)) for x, y in value)


def _polygons(value: Any) -> tuple[Polygon, ...]:
    if isinstance(value, tuple):
        return value
    if not isinstance(value, list):
        raise refuse(f"must be an array of polygons, got {type_name(value)}")
    if len(value) > MOST_SHAPES:
        raise refuse(f"must have at most {MOST_SHAPES} polygons, got {len(value)}")
    return tuple(_polygon(polygon) for polygon in value)


def _segment(value: Any) -> Polygon:
    points = _polygon(value)
    if len(points) != 2:
        raise refuse(f"must be two [x, y] points, got {len(points)}")
    if points[0] == points[1]:  # a line of no length has no sides to cross between
        raise refuse("its two ends are the same point")
    return points


# Polygons (and a line's two ends) are checked against the frame with the camera's
# settings (``polygon_problem``): a zone alone does not know the frame's size.
POINTS_SCHEMA = {
    "type": "array", "minItems": 3, "maxItems": MOST_POINTS,
    "items": {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 2,
              "maxItems": 2},
}  # fmt: skip
PolygonPoints = Annotated[Polygon, PlainValidator(_polygon), WithJsonSchema(POINTS_SCHEMA)]
Polygons = Annotated[tuple[Polygon, ...], PlainValidator(_polygons),
                     WithJsonSchema({"type": "array", "items": POINTS_SCHEMA,
                                     "maxItems": MOST_SHAPES})]  # fmt: skip
LineEnds = Annotated[Polygon, PlainValidator(_segment),
                     WithJsonSchema({**POINTS_SCHEMA, "minItems": 2, "maxItems": 2})]  # fmt: skip
ShapeName = Annotated[str, matching(NAME_PATTERN)]

# How far past a counting line feet must be before a crossing counts, as a fraction of
# the object's height: chosen on one part of a pedestrian clip and checked on the rest
# (docs/accuracy.md, "Counting").
LINE_MARGIN = 0.02


class Zone(Section):
    """A named polygon (``[[cameras.zones]]``): an object is in it while its feet are."""

    name: ShapeName = setting(..., "the zone's name")
    points: PolygonPoints = setting(..., "its corners: [x, y] in frame pixels, at least 3")
    labels: Labels = setting((), "labels it counts; empty: every tracked label")
    inertia: int = setting(
        3, "frames an object's feet must be inside (outside) before it enters (leaves)", 1, 100
    )
    loitering_s: float = setting(
        0.0, "an object staying longer raises a 'loitering' event; 0: never", 0, 86_400
    )

    def wants(self, label: str) -> bool:
        return not self.labels or label in self.labels


class Line(Section):
    """A counting line (``[[cameras.lines]]``): objects whose feet cross it are counted,
    by direction. ``in`` is the crossing from its left to its right, looking from its
    first point to its second (on screen, y down: for a line drawn left to right, from
    above to below).

    Feet jitter by a few pixels from frame to frame, and people walk along lines: a
    crossing counts only once the feet are ``margin`` (a fraction of the object's
    height) beyond the line, on the other side from where they last were that far
    (``side``); an object wobbling on the line, or walking along it, is not traffic
    (supervision's ``LineZone`` has a minimum crossing distance for the same reason).
    """

    name: ShapeName = setting(..., "the line's name")
    points: LineEnds = setting(
        ..., "its two ends, [x, y] in frame pixels; 'in' is crossing from its left to its right"
    )
    labels: Labels = setting((), "labels it counts; empty: every tracked label")
    margin: float = setting(
        LINE_MARGIN,
        "feet count as across once this far past the line, a fraction of the object's "
        "height (jitter and walking along it are not crossings)",
        0,
        2,
    )

    @property
    def start(self) -> Point:
        return self.points[0]

    @property
    def end(self) -> Point:
        return self.points[1]

    def wants(self, label: str) -> bool:
        return not self.labels or label in self.labels

    def side(self, point: Point, height: float) -> int:
        """+1 or -1 for feet clearly on one side of the line (``out`` is leaving +1),
        0 within the margin of it (``height``: the object's, in pixels)."""
        length = math.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1])
        distance = _side(self.start, self.end, point) / length
        if abs(distance) <= self.margin * height:
            return 0
        return 1 if distance > 0 else -1

    def passes(self, before: Point, after: Point) -> bool:
        """Whether feet going from ``before`` to ``after`` went through the line itself,
        not beside its ends."""
        return _crossing(before, after, self.start, self.end)

    def crossed(self, before: Point, after: Point) -> str | None:
        """``"in"``, ``"out"`` or None for feet that moved from ``before`` to ``after``."""
        side_before, side_after = (
            _side(self.start, self.end, before),
            _side(self.start, self.end, after),
        )
        # A point on the line counts with its left side, so that feet passing exactly
        # through it are counted once, not twice or never.
        if (side_before > 0) == (side_after > 0):
            return None
        if not _crossing(before, after, self.start, self.end):
            return None  # it passed beside the line's ends
        return "out" if side_before > 0 else "in"


def _side(a: Point, b: Point, p: Point) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


class LabelFilter(Section):
    """What a box of one label must be to count (Frigate's per-object filters)."""

    min_area: int = setting(0, "smallest box, in pixels", 0, 100_000_000)
    max_area: int = setting(100_000_000, "largest box, in pixels", 0, 100_000_000)
    min_ratio: float = setting(0.0, "narrowest box (width / height)", 0, 100)
    max_ratio: float = setting(100.0, "widest box (width / height)", 0, 100)
    min_score: float = setting(0.5, "a box scored lower is not used in that frame", 0, 1)
    threshold: float = setting(
        0.7, "an object is real once the median of its last scores reaches this", 0, 1
    )

    def passes(self, box: Box, score: float) -> bool:
        _, _, width, height = box
        area = width * height
        ratio = width / height if height else float("inf")
        return (
            self.min_area <= area <= self.max_area
            and self.min_ratio <= ratio <= self.max_ratio
            and score >= self.min_score
        )


DEFAULT_FILTER = LabelFilter()


@dataclass(frozen=True)
class SceneRules:
    zones: tuple[Zone, ...] = ()
    lines: tuple[Line, ...] = ()
    object_mask: tuple[Polygon, ...] = ()
    motion_mask: tuple[Polygon, ...] = ()
    filters: dict[str, LabelFilter] = field(default_factory=dict)

    def filter_for(self, label: str) -> LabelFilter:
        return self.filters.get(label, DEFAULT_FILTER)

    def masked(self, box: Box) -> bool:
        """Whether an object with this box stands in the object mask."""
        return any(inside(feet(box), polygon) for polygon in self.object_mask)


NO_RULES = SceneRules()


def feet(box: Box) -> Point:
    """Where an object stands: the bottom centre of its box."""
    x, y, width, height = box
    return (x + width / 2, y + height)


def inside(point: Point, polygon: Polygon) -> bool:
    """Whether ``point`` is inside ``polygon`` (on its edge counts as inside)."""
    return cv2.pointPolygonTest(_contour(polygon), (float(point[0]), float(point[1])), False) >= 0


# Asked for every object and zone of every frame, of the few polygons a camera has.
@functools.lru_cache(maxsize=256)
def _contour(polygon: Polygon) -> np.ndarray:
    return np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)


def polygon_problem(
    points: Polygon, width: int, height: int, *, segment: bool = False
) -> tuple[int | None, str] | None:
    """Why ``points`` cannot be a zone or mask (a counting line, with ``segment``) in a
    ``width`` x ``height`` frame, as (index of the point to blame or None, message);
    None when it can."""
    if not segment and len(points) < 3:
        return None, f"must have at least 3 points, got {len(points)}"
    for index, (x, y) in enumerate(points):
        if not (0 <= x <= width and 0 <= y <= height):
            return index, f"({x}, {y}) is outside the {width}x{height} frame"
    if segment:  # its two ends differ: a Line's own check
        return None
    if crossing := _self_crossing(points):
        return None, f"crosses itself (edges {crossing[0]} and {crossing[1]})"
    if abs(_area(points)) < 1.0:
        return None, "encloses no area"
    return None


def _self_crossing(points: Polygon) -> tuple[int, int] | None:
    """The first two edges of the polygon that meet, other than neighbours at their
    shared corner (as ``_crossing`` judges a pair, for every pair at once)."""
    corners = np.asarray(points, dtype=np.float64)
    count = len(corners)
    a, b = corners, np.roll(corners, -1, axis=0)  # edge i runs from a[i] to b[i]
    i, j = np.triu_indices(count, k=2)
    keep = ~((i == 0) & (j == count - 1))  # the first and last edges share a corner too
    i, j = i[keep], j[keep]
    if i.size == 0:
        return None
    p, q, r, t = a[i], b[i], a[j], b[j]

    def side(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (v[:, 0] - u[:, 0]) * (w[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (w[:, 0] - u[:, 0])

    def between(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (
            (np.minimum(u[:, 0], v[:, 0]) <= w[:, 0]) & (w[:, 0] <= np.maximum(u[:, 0], v[:, 0]))
            & (np.minimum(u[:, 1], v[:, 1]) <= w[:, 1]) & (w[:, 1] <= np.maximum(u[:, 1], v[:, 1]))
        )  # fmt: skip

    d1, d2, d3, d4 = side(r, t, p), side(r, t, q), side(p, q, r), side(p, q, t)
    proper = (((d1 > 0) & (d2 < 0)) | ((d1 < 0) & (d2 > 0))) & (
        ((d3 > 0) & (d4 < 0)) | ((d3 < 0) & (d4 > 0))
    )
    touching = (
        ((d1 == 0) & between(r, t, p)) | ((d2 == 0) & between(r, t, q))
        | ((d3 == 0) & between(p, q, r)) | ((d4 == 0) & between(p, q, t))
    )  # fmt: skip
    hits = np.flatnonzero(proper | touching)
    return (int(i[hits[0]]), int(j[hits[0]])) if hits.size else None


def _area(points: Polygon) -> float:
    return 0.5 * sum(
        x0 * y1 - x1 * y0
        for (x0, y0), (x1, y1) in zip(points, (*points[1:], points[0]), strict=True)
    )


def _crossing(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments ab and cd meet (touching counts)."""

    def between(p: Point, q: Point, r: Point) -> bool:
        return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(
            p[1], q[1]
        )

    d1, d2, d3, d4 = _side(c, d, a), _side(c, d, b), _side(a, b, c), _side(a, b, d)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and between(c, d, a))
        or (d2 == 0 and between(c, d, b))
        or (d3 == 0 and between(a, b, c))
        or (d4 == 0 and between(a, b, d))
    )


def mask_image(
    polygons: tuple[Polygon, ...], frame: tuple[int, int], picture: tuple[int, int]
) -> np.ndarray:
    """A ``picture``-sized (width, height) mask of a ``frame``-sized view: 255 where it
    is to be looked at, 0 in the polygons (given in frame pixels)."""
    mask = np.full((picture[1], picture[0]), 255, np.uint8)
    factor = np.array([picture[0] / frame[0], picture[1] / frame[1]])
    for polygon in polygons:
        cv2.fillPoly(mask, [np.round(np.asarray(polygon) * factor).astype(np.int32)], 0)
    return mask
