"""A camera's settings: where its pictures come from, what runs on them, how they travel."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import PlainValidator, WithJsonSchema, model_validator

from declared.blocks import NAME_PATTERN, Labels, Section, one_of, setting, tables
from declared.problems import key_path, refuse, refuse_all, type_name
from detectors.scene_rules import (
    MOST_SHAPES,
    LabelFilter,
    Line,
    Polygons,
    SceneRules,
    Zone,
)
from pipeline.core.settings import ConfigError, base_dir
from pipeline.core.urls import redact_url
from pipeline.core.view_checks import labels_problems, problems_of_view

CAMERA_ID_PATTERN = NAME_PATTERN
DEVICE_PATH_PATTERN = re.compile(r"/dev/video(\d+)")
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


@dataclass(frozen=True)
class SourceSpec:
    """Where a camera's pictures come from."""

    kind: str  # "synthetic" | "device" | "file" | "url"
    location: str | int  # device index, absolute file path or URL; "" for synthetic

    def describe(self) -> str:
        if self.kind == "synthetic":
            return "synthetic"
        if self.kind == "url":
            return redact_url(str(self.location))
        return f"{self.kind}:{self.location}"


def source_of(value: Any, base_dir: Path) -> SourceSpec:
    """A camera's ``source``: ``synthetic``, a device (``0``, ``/dev/video0``), a URL
    or a video file relative to ``base_dir``; a refusal saying why not."""
    if isinstance(value, SourceSpec):
        return value
    if isinstance(value, bool):
        raise refuse("must be a string or a device index, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise refuse(f"device index must be >= 0, got {value}")
        return SourceSpec("device", value)
    if not isinstance(value, str) or not value.strip():
        raise refuse(f"must be a non-empty string or a device index, got {value!r}")
    if value == "synthetic":
        return SourceSpec("synthetic", "")
    if match := DEVICE_PATH_PATTERN.fullmatch(value):
        return SourceSpec("device", int(match.group(1)))
    if value.lower().startswith(URL_SCHEMES):
        return SourceSpec("url", value)
    if "://" in value:
        raise refuse(f"unsupported URL scheme in {redact_url(value)!r} (use rtsp, http, https)")
    file = (base_dir / value).resolve()
    if not file.is_file():
        raise refuse(f"video file not found: {file}")
    return SourceSpec("file", str(file))


def parse_source(value: str | int, base_dir: Path | None = None) -> SourceSpec:
    """A source given on a command line; ConfigError if it cannot be one."""
    from pydantic_core import PydanticCustomError

    if isinstance(value, str) and value.isdigit():
        value = int(value)
    try:
        return source_of(value, base_dir or Path.cwd())
    except PydanticCustomError as error:
        raise ConfigError([f"(command line): source: {error.message()}"]) from None


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    # The detector's ``Params``, validated (a table of them given here is validated
    # now: the detector is handed them typed, never checks them again).
    params: Any = field(default_factory=dict)
    # Run only when this earlier detector found something in the frame.
    when: str | None = None
    # ... and only on the picture around what it found (crops merged and padded).
    region: str | None = None

    def __post_init__(self) -> None:
        from detectors import build_params  # it imports OpenCV: load only when needed

        object.__setattr__(self, "params", build_params(self.name, self.params))


GATING_KEYS = ("when", "region")


def detectors_of(value: Any) -> tuple[DetectorSpec, ...]:
    """A camera's ``detectors``: names or tables of a name, parameters, ``when`` and
    ``region``, in an order where each finds what the next needs."""
    # They import OpenCV: loaded only when needed.
    from detectors import ParamError, check_order, validate_spec

    if not isinstance(value, (list, tuple)):
        raise refuse(f"must be an array of detector names or tables, got {type_name(value)}")
    if all(isinstance(item, DetectorSpec) for item in value):
        return tuple(value)
    problems: list[tuple[str, str]] = []
    specs: list[DetectorSpec] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            name, params, gating = item, {}, {}
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            name = item["name"]
            params = {k: v for k, v in item.items() if k not in ("name", *GATING_KEYS)}
            gating = {k: item[k] for k in GATING_KEYS if k in item}
        else:
            problems.append((f"[{index}]", "must be a detector name or a table with a 'name' key"))
            continue
        try:
            params = validate_spec(name, params)
        except ParamError as error:
            problems += [(key_path([index], key), message) for key, message in error.problems]
            continue
        gate = _gating(gating, f"[{index}]", [spec.name for spec in specs], problems)
        specs.append(DetectorSpec(name, params, **gate))
    names = [spec.name for spec in specs]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(("", f"detector {name!r} is listed more than once"))
    if len(specs) == len(value):  # indexes line up with the config only when all parsed
        problems += [(f"[{index}]", message) for index, message in check_order(names)]
    if problems:
        raise refuse_all(problems)
    return tuple(specs)


def _gating(
    gating: dict[str, Any], where: str, earlier: list[str], problems: list[tuple[str, str]]
) -> dict[str, str]:
    """``when`` and ``region`` of a detector entry: each names a detector listed before it."""
    gate = {}
    for key, value in gating.items():
        if not isinstance(value, str) or value not in earlier:
            listed = ", ".join(earlier) or "none"
            problems.append((f"{where}.{key}", f"must name a detector listed before it "
                             f"(here: {listed}), got {value!r}"))  # fmt: skip
            continue
        gate[key] = value
    if "region" in gate and gate.get("when", gate["region"]) != gate["region"]:
        problems.append((f"{where}.region", "must name the same detector as 'when'"))
    if "region" in gate:
        gate["when"] = gate["region"]  # a region implies the gate: no region, no run
    return gate


def check_camera_id(value: Any) -> str | None:
    """Why ``value`` cannot be a camera id, or None. Ids name queues, routing keys,
    URLs and files, so ``/``, ``.``, ``#``, ``*`` and capitals are out."""
    if not isinstance(value, str) or not CAMERA_ID_PATTERN.fullmatch(value):
        return f"must be 1 to 64 of a-z, 0-9, '_' and '-', got {value!r}"
    return None


def _camera_id(value: Any) -> str:
    if message := check_camera_id(value):
        raise refuse(message)
    return value


def _annotate(value: Any) -> bool | str:
    if value is True or value is False or value == "page":
        return value
    raise refuse(f'must be true, false or "page", got {value!r}')


def _scene(value: Any) -> str:
    from pipeline.core.synthetic_scenes import scene_problem

    if message := scene_problem(value):
        raise refuse(message)
    return value


# Where what the detectors found is drawn: into the picture (by the worker, or by
# capture for a direct camera), over it by the pages, or nowhere.
Drawing = Literal["picture", "page", "none"]


class CameraConfig(Section):
    id: Annotated[str, PlainValidator(_camera_id), WithJsonSchema(
        {"type": "string", "pattern": f"^{CAMERA_ID_PATTERN.pattern}$"})] = setting(
        ..., "names its queues, URLs and files (a drop-in file's name by default)"
    )  # fmt: skip
    source: Annotated[
        SourceSpec,
        PlainValidator(lambda value, info: source_of(value, base_dir(info))),
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}),
    ] = setting(..., '"synthetic", a device index or /dev/videoN, an rtsp/http(s) URL or a file')
    name: str = setting("", "shown on the pages (default: the id)")
    fps: float = setting(15.0, "frames a second captured", 0.1, 240)
    width: int = setting(640, "frame width in pixels", 16, 7680)
    height: int = setting(480, "frame height in pixels", 16, 4320)
    jpeg_quality: int = setting(80, "JPEG quality of published frames", 10, 100)
    detectors: Annotated[
        tuple[DetectorSpec, ...],
        PlainValidator(detectors_of),
        WithJsonSchema(
            {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["name"]}]},
            }
        ),
    ] = setting((), "detector names or tables (name, parameters, when, region), in order")
    max_age_ms: int = setting(1000, "frames older are not worked on", 50, 600_000)
    queue_length: int = setting(2, "frames the camera's queue holds", 1, 1000)
    queue_ttl_ms: int = setting(2000, "frames expire in the queue", 50, 600_000)
    ordered: bool = setting(
        False,
        "one worker at a time sees every frame, in order; default: on when a "
        "detector keeps state across frames",
    )
    annotate: Annotated[
        bool | Literal["page"],
        PlainValidator(_annotate),
        WithJsonSchema({"enum": [True, False, "page"]}),
    ] = setting(
        True,
        'draw what was found into the picture; "page": the pages draw it over the '
        "camera's own JPEG; false: nothing drawn (no detectors: the JPEG passes untouched)",
    )
    qr: bool = setting(True, "synthetic only: draw the QR code of <camera>:<seq>")
    scene: Annotated[str, PlainValidator(_scene), WithJsonSchema({"type": "string"})] = setting(
        "shapes", "synthetic only: what it shows (shapes, portrait, fall)"
    )
    record: Labels = setting(
        (), "labels whose events are recorded (snapshot, clip, the events page)"
    )
    footage: one_of("none", "continuous", "motion") = setting(
        "none", "footage kept: continuous, motion (the segments with motion or a "
        "detection), or none ([record] continuous_days, motion_days)",
    )  # fmt: skip
    zones: tables(Zone, MOST_SHAPES) = setting(
        (),
        "named polygons; an object is in one while its box's bottom centre is ([[cameras.zones]])",
    )
    lines: tables(Line, MOST_SHAPES) = setting(
        (), "named counting lines: objects crossing them counted by direction ([[cameras.lines]])"
    )
    object_mask: Polygons = setting((), "polygons where no object is taken (its feet inside)")
    motion_mask: Polygons = setting((), "polygons where motion does not count (a tree, a clock)")
    filters: dict[str, LabelFilter] = setting(
        {}, "per label: min_area, max_area, min_ratio, max_ratio, min_score, threshold"
    )
    direct: bool = setting(
        False, "frames go from capture straight to the viewers; default: on with no detectors"
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_detectors(cls, data: Any) -> Any:
        """``ordered`` and ``direct`` follow the detectors unless set."""
        if not isinstance(data, dict) or not isinstance(data.get("detectors", []), (list, tuple)):
            return data
        names = [item if isinstance(item, str) else getattr(item, "name", None) or
                 (item.get("name") if isinstance(item, dict) else None)
                 for item in data.get("detectors", [])]  # fmt: skip
        defaults: dict[str, Any] = {"direct": not names}
        if "ordered" not in data:
            from detectors import is_stateful

            defaults["ordered"] = is_stateful([n for n in names if isinstance(n, str)])
        return {**defaults, **data}

    @model_validator(mode="after")
    def _settings_fit_together(self) -> CameraConfig:
        problems = [(key, "only applies to the synthetic source")
                    for key in ("qr", "scene")
                    if key in self.model_fields_set
                    and self.source.kind != "synthetic"]  # fmt: skip
        if self.direct and self.detectors:
            problems.append(("direct", "a camera with detectors sends its frames to them"))
        if self.footage == "motion" and not self.detectors:
            problems.append(("footage", 'keeping "motion" needs a detector (motion, say) to '
                             "tell which segments to keep"))  # fmt: skip
        from detectors import labels_of

        # None: a plugin that does not say what it reports (its labels taken on trust)
        known = labels_of([spec.name for spec in self.detectors])
        problems += labels_problems("record", self.record, known)
        masks = {"object_mask": self.object_mask, "motion_mask": self.motion_mask}
        problems += problems_of_view(self.width, self.height, self.zones, self.lines, masks,
                                     self.filters, known)  # fmt: skip
        if problems:
            raise refuse_all(problems)
        return self

    def scene_rules(self) -> SceneRules:
        """Zones, masks and filters as the detectors read them."""
        return SceneRules(self.zones, self.lines, self.object_mask, self.motion_mask, self.filters)

    @property
    def drawing(self) -> Drawing:
        """Where what the detectors found is drawn: decided here, read where needed."""
        return "page" if self.annotate == "page" else "picture" if self.annotate else "none"

    @property
    def passthrough(self) -> bool:
        """No detectors and nothing drawn into the picture: results carry the camera's
        JPEG untouched (no decode, no re-encode), the cheapest path through a worker."""
        return not self.detectors and self.drawing != "picture"

    @property
    def title(self) -> str:
        return self.name or self.id
