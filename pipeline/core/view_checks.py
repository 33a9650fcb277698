"""Whether what a camera's view holds fits its frame and its detectors: zones, lines,
masks and per-label filters (declared in ``detectors.scene_rules``), checked with the
camera's settings when its config is: polygons of at least three points, inside the
frame, not crossing themselves; labels some detector of the camera reports.
"""

from __future__ import annotations

from declared.blocks import LABEL_PATTERN
from detectors.scene_rules import LabelFilter, Line, Polygon, Zone, polygon_problem


def problems_of_view(
    width: int,
    height: int,
    zones: tuple[Zone, ...],
    lines: tuple[Line, ...],
    masks: dict[str, tuple[Polygon, ...]],
    filters: dict[str, LabelFilter],
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
