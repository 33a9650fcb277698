"""What matters in a camera's view, as its config says it: zones, masks, per-label filters.

Polygons are arrays of ``[x, y]`` points in the camera's frame pixels
(``width`` x ``height``); they are checked against the frame when the camera's
config is (``problems_of_view``): at least three points, inside the frame, not
crossing themselves.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from declared.blocks import NAME_PATTERN, Section, matching, setting, words
from declared.problems import refuse, type_name
from detectors.base import LABEL_PATTERN
from detectors.scene_rules import LabelFilter, Line, Polygon, SceneRules, Zone, polygon_problem

ZONE_NAME_PATTERN = NAME_PATTERN
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
    return tuple((float(x), float(y)) for x, y in value)


POINTS_SCHEMA = {
    "type": "array",
    "minItems": 3,
    "maxItems": MOST_POINTS,
    "items": {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 2,
              "maxItems": 2},
}  # fmt: skip
PolygonPoints = Annotated[Polygon, PlainValidator(_polygon), WithJsonSchema(POINTS_SCHEMA)]


def _polygons(value: Any) -> tuple[Polygon, ...]:
    if isinstance(value, tuple):
        return value
    if not isinstance(value, list):
        raise refuse(f"must be an array of polygons, got {type_name(value)}")
    if len(value) > MOST_SHAPES:
        raise refuse(f"must have at most {MOST_SHAPES} polygons, got {len(value)}")
    return tuple(_polygon(polygon) for polygon in value)


Polygons = Annotated[
    tuple[Polygon, ...],
    PlainValidator(_polygons),
    WithJsonSchema({"type": "array", "items": POINTS_SCHEMA, "maxItems": MOST_SHAPES}),
]


Labels = words(LABEL_PATTERN)


class ZoneConfig(Section):
    name: Annotated[str, matching(ZONE_NAME_PATTERN)] = setting(..., "the zone's name")
    points: PolygonPoints = setting(..., "its corners: [x, y] in frame pixels, at least 3")
    labels: Labels = setting((), "labels it counts; empty: every tracked label")
    inertia: int = setting(
        Zone.inertia,
        "frames an object's feet must be inside (outside) before it enters (leaves)", 1, 100,
    )  # fmt: skip
    loitering_s: float = setting(
        Zone.loitering_s, "an object staying longer raises a 'loitering' event; 0: never",
        0, 86_400,
    )  # fmt: skip


def _segment(value: Any) -> Polygon:
    points = _polygon(value)
    if len(points) != 2:
        raise refuse(f"must be two [x, y] points, got {len(points)}")
    return points


SEGMENT_SCHEMA = {**POINTS_SCHEMA, "minItems": 2, "maxItems": 2}


class LineConfig(Section):
    name: Annotated[str, matching(ZONE_NAME_PATTERN)] = setting(..., "the line's name")
    points: Annotated[Polygon, PlainValidator(_segment), WithJsonSchema(SEGMENT_SCHEMA)] = setting(
        ..., "its two ends, [x, y] in frame pixels; 'in' is crossing from its left to its right"
    )
    labels: Labels = setting((), "labels it counts; empty: every tracked label")
    margin: float = setting(
        Line.margin,
        "feet count as across once this far past the line, a fraction of the object's "
        "height (jitter and walking along it are not crossings)",
        0,
        2,
    )


class FilterConfig(Section):
    """A label's filter as the config says it; its defaults are the rule's own."""

    min_area: int = setting(LabelFilter.min_area, "smallest box, in pixels", 0, 100_000_000)
    max_area: int = setting(LabelFilter.max_area, "largest box, in pixels", 0, 100_000_000)
    min_ratio: float = setting(LabelFilter.min_ratio, "narrowest box (width / height)", 0, 100)
    max_ratio: float = setting(LabelFilter.max_ratio, "widest box (width / height)", 0, 100)
    min_score: float = setting(
        LabelFilter.min_score, "a box scored lower is not used in that frame", 0, 1
    )
    threshold: float = setting(
        LabelFilter.threshold,
        "an object is real once the median of its last scores reaches this", 0, 1,
    )  # fmt: skip


def problems_of_view(
    width: int,
    height: int,
    zones: tuple[ZoneConfig, ...],
    lines: tuple[LineConfig, ...],
    masks: dict[str, tuple[Polygon, ...]],
    filters: dict[str, FilterConfig],
    known_labels: set[str] | None,
) -> list[tuple[str, str]]:
    """Zones, masks and filters that do not fit the frame or the camera's labels."""
    problems = []
    names: set[str] = set()
    for kind, shapes in (("zones", zones), ("lines", lines)):
        for index, shape in enumerate(shapes):
            where = f"{kind}[{index}]"
            if shape.name in names:
                problems.append((f"{where}.name", f"duplicate zone or line name {shape.name!r}"))
            names.add(shape.name)
            problem = polygon_problem(shape.points, width, height, segment=kind == "lines")
            problems += _at(f"{where}.points", problem)
            problems += labels_problems(f"{where}.labels", shape.labels, known_labels)
    for key, polygons in masks.items():
        for index, polygon in enumerate(polygons):
            problems += _at(f"{key}[{index}]", polygon_problem(polygon, width, height))
    for label in filters:
        if not LABEL_PATTERN.fullmatch(label):
            problems.append((f"filters.{label}", f"must be a label ({LABEL_PATTERN.pattern})"))
        elif known_labels is not None and label not in known_labels:
            problems.append((f"filters.{label}", unreported(label, known_labels)))
    for label, rule in filters.items():
        if rule.min_area > rule.max_area:
            problems.append((f"filters.{label}.min_area", "must not exceed max_area"))
        if rule.min_ratio > rule.max_ratio:
            problems.append((f"filters.{label}.min_ratio", "must not exceed max_ratio"))
    return problems


def labels_problems(
    where: str, labels: tuple[str, ...], known: set[str] | None
) -> list[tuple[str, str]]:
    """Labels at ``where`` that no detector of the camera reports (``known``)."""
    if known is None:  # a plugin that does not say what it reports: take the labels on trust
        return []
    return [(f"{where}[{index}]", unreported(label, known))
            for index, label in enumerate(labels) if label not in known]  # fmt: skip


def _at(where: str, problem: tuple[int | None, str] | None) -> list[tuple[str, str]]:
    """A shape's problem under its key (and the index of the point to blame, if one is)."""
    if problem is None:
        return []
    point, message = problem
    return [(where + (f"[{point}]" if point is not None else ""), message)]


def unreported(label: str, known: set[str]) -> str:
    """What is wrong with a label no detector of the camera reports."""
    return (f"no detector of this camera reports {label!r} "
            f"(they report: {', '.join(sorted(known)) or 'nothing'})")  # fmt: skip


def scene_rules(
    zones: tuple[ZoneConfig, ...],
    lines: tuple[LineConfig, ...],
    object_mask: tuple[Polygon, ...],
    motion_mask: tuple[Polygon, ...],
    filters: dict[str, FilterConfig],
) -> SceneRules:
    """The rules the detectors read, from the camera's settings."""
    return SceneRules(
        zones=tuple(Zone(z.name, z.points, z.labels, z.inertia, z.loitering_s) for z in zones),
        lines=tuple(
            Line(li.name, li.points[0], li.points[1], li.labels, li.margin) for li in lines
        ),
        object_mask=object_mask,
        motion_mask=motion_mask,
        filters={label: LabelFilter(**rule.model_dump()) for label, rule in filters.items()},
    )
