"""The detector interface, the registry (name → class) and parameter validation.

Adding an algorithm is adding one module: subclass ``Detector``, give it a
``name`` and a ``Params`` model (a subclass of ``Params``, each field declared
with ``setting(default, help, minimum, maximum)`` as the site's settings are),
decorate it with ``@register``. Parameters come from the camera's config
(``{ name = "motion", scale = 0.5 }``) and are validated once, when the config
loads, into that model, which the detector is handed: a typo is a config error
that names the key, not a crash in a worker an hour later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import cv2
import numpy as np
from pydantic import BeforeValidator, ValidationError, model_validator

from declared.blocks import Labels, Section
from declared.problems import bounds, worded

# Box (x, y, width, height in frame pixels) is defined with the scene's geometry.
from detectors.scene_rules import NO_RULES, Box, SceneRules


@dataclass
class Detection:
    label: str
    score: float = 1.0
    box: Box | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # An occurrence (a blink, a fall) rather than a state seen in every frame:
    # published as an event every time, not rate-limited like ordinary labels.
    event: bool = False
    # Shown and drawn, never an event: a tracked object in every frame of its life
    # (its events are its own: when it comes, loiters, goes).
    quiet: bool = False
    # For later detectors of the same frame only, never sent: full-precision
    # arrays (a face mesh, a skeleton) that the wire carries rounded, if at all.
    internal: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # An event's picture of what it is about (a tracked object's crop, a JPEG):
    # sent with the event, never with results.
    snapshot: bytes | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"label": self.label, "score": round(float(self.score), 4)}
        if self.box is not None:
            body["box"] = [int(v) for v in self.box]
        if self.extra:
            body["extra"] = self.extra
        if self.event:
            body["event"] = True
        return body


@dataclass
class FrameContext:
    """What a detector may know besides the picture."""

    camera: str
    seq: int
    captured_at: float  # seconds; stateful detectors time things by this, not the wall clock
    found: list[Detection] = field(default_factory=list)  # earlier detectors' results
    ran: list[str] = field(default_factory=list)  # names of the detectors that ran before
    # The picture's size relative to the camera's frame: below 1 when every detector
    # of the camera reads a smaller one (``Detector.reads_at``) and the worker
    # decoded it smaller. Boxes are always reported in frame pixels.
    scale: float = 1.0
    # The camera's zones, masks and per-label filters.
    rules: SceneRules = NO_RULES

    def labelled(self, *labels: str) -> list[Detection]:
        return [d for d in self.found if d.label in labels and d.box is not None]

    def carrying(self, key: str) -> list[Detection]:
        """Earlier detections that carry ``internal[key]`` (a mesh, a skeleton)."""
        return [d for d in self.found if key in d.internal]


class Params(Section):
    """A detector's parameters: a table of the camera's config, unknown keys refused,
    TOML types taken as they are, fixed once validated."""

    @model_validator(mode="before")
    @classmethod
    def _arrays_as_tuples(cls, data: Any) -> Any:
        """TOML arrays arrive as lists; parameters are fixed, so they are tuples."""
        if isinstance(data, dict):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return data


class NoParams(Params):
    pass


LOGGER = logging.getLogger(__name__)


def _listed(value: Any) -> Any:
    """A comma-separated string, as labels were written before TOML lists: still
    taken, for one release, with a warning saying how to write it now."""
    if not isinstance(value, str):
        return value
    names = [name.strip() for name in value.split(",") if name.strip()]
    LOGGER.warning(
        "labels = %r: a comma-separated string is deprecated; write labels = %s",
        value, "[" + ", ".join(f'"{name}"' for name in names) + "]",
    )  # fmt: skip
    return names


# A detector's labels parameter: ``Labels``, or for one release the comma string too.
ParamLabels = Annotated[Labels, BeforeValidator(_listed)]


class Detector:
    """One algorithm, one instance per camera (so stateful ones keep per-camera state)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = NoParams
    # Needs the camera's previous frames (a background model, a track): a camera
    # using it gets a single-active-consumer frame queue, so one worker sees all
    # of its frames, in order.
    stateful: ClassVar[bool] = False
    # Works on what an earlier detector found: at least one of these names must
    # come before it in the camera's list.
    needs_one_of: ClassVar[tuple[str, ...]] = ()
    # The labels it reports (None: not said, as a plugin may leave it); a camera's
    # ``record`` labels are checked against them.
    labels: ClassVar[tuple[str, ...] | None] = None
    # Model files it loads (names in ``detectors.models.CATALOGUE``): a camera
    # using it is a config error until ``rabbitcam models fetch`` has them.
    models: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def reports(cls, params: Any) -> tuple[str, ...] | None:
        """The labels it reports with these parameters: by default all it can;
        None where that is open-ended or too many to name one by one (a general
        object model told to report all its classes)."""
        return cls.labels

    def replaces(self) -> tuple[str, ...]:
        """Labels of earlier detectors' results this one stands in for (a tracker's
        objects for the boxes they were made of): the chain drops those."""
        return ()

    def __init__(self, params: Any) -> None:
        self.params = params  # an instance of its Params, validated

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        """Find things in a BGR image; never modify it."""
        raise NotImplementedError

    def reads_at(self) -> float:
        """The largest scale of the frame this detector looks at (1.0: all of it).

        A detector that works on a scaled-down picture says so, and then takes
        ``context.scale`` into account: when every detector of a camera reads at
        half the frame or less and nothing is drawn into the picture, the worker
        has the JPEG decoded at that size (libjpeg scales in its DCT, for about
        half the cost of a full decode) instead of decoding in full to shrink it.
        """
        return 1.0


class ParamError(ValueError):
    """Parameters a detector cannot use: ``problems`` holds (the key to blame, or ""
    for the detector as a whole; what is wrong) for each."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems

    @property
    def key(self) -> str | None:
        """The first key to blame, if a parameter is."""
        return self.problems[0][0] or None


REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a 'name'")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"detector name {cls.name!r} is already registered")
    REGISTRY[cls.name] = cls
    return cls


def build_params(name: str, raw: Any) -> Params:
    """Detector ``name``'s parameters from a table (or already built); ParamError
    names the bad key, worded as every config problem is."""
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise ParamError([("", f"unknown detector {name!r} (available: {known})")])
    model = REGISTRY[name].Params
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ParamError([
            (key, message.replace("unknown key", f"unknown parameter for {name!r}", 1))
            for key, message in worded(error, model)
        ]) from None  # fmt: skip


def validate_spec(name: str, raw: dict[str, Any]) -> Params:
    """A config entry's parameters, validated; ParamError if they or the detector
    cannot be used here."""
    params = build_params(name, raw)
    if reason := unavailable(name):
        raise ParamError([("", reason)])
    return params


def unavailable(name: str) -> str | None:
    """Why detector ``name`` cannot run here (a model file missing), or None."""
    from detectors import models

    for model in REGISTRY[name].models:
        if reason := models.problem(model):
            return reason
    return None


def check_order(names: list[str]) -> list[tuple[int, str]]:
    """Problems with the order of a camera's detectors: (index, message) each."""
    problems = []
    for index, name in enumerate(names):
        needs = REGISTRY[name].needs_one_of if name in REGISTRY else ()
        if needs and not set(needs) & set(names[:index]):
            wanted = " or ".join(repr(n) for n in needs)
            problems.append((index, f"{name!r} works on what {wanted} found: list it before"))
    return problems


def labels_of(names: list[str]) -> set[str] | None:
    """Every label these detectors report; None if one of them does not say."""
    known: set[str] = set()
    for name in names:
        labels = REGISTRY[name].labels if name in REGISTRY else None
        if labels is None:
            return None
        known.update(labels)
    return known


def is_stateful(names: list[str]) -> bool:
    return any(REGISTRY[name].stateful for name in names if name in REGISTRY)


def create(name: str, params: Params | dict[str, Any] | None = None) -> Detector:
    """A new detector instance; ParamError (a ValueError) for unknown names or parameters."""
    built = build_params(name, {} if params is None else params)
    return REGISTRY[name](built)


def describe() -> list[dict[str, Any]]:
    """Every registered detector with its parameters, for ``rabbitcam detectors``."""
    rows = []
    for name, cls in sorted(REGISTRY.items()):
        params = [
            {
                "name": key,
                "type": _type_name(spec.annotation),
                "default": spec.default,
                "help": spec.description or "",
                "minimum": bounds(spec)[0],
                "maximum": bounds(spec)[1],
            }
            for key, spec in cls.Params.model_fields.items()
        ]
        rows.append(
            {
                "name": name,
                "description": cls.description,
                "stateful": cls.stateful,
                "needs_one_of": list(cls.needs_one_of),
                "models": list(cls.models),
                "labels": None if cls.labels is None else list(cls.labels),
                "unavailable": unavailable(name),
                "params": params,
            }
        )
    return rows


def scaled(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` resized by ``scale`` (area interpolation), or itself at 1.0."""
    # OpenCV's area resize is fast (SIMD) for an exact halving and slow for other
    # factors: 640x480 to a quarter took 0.84 ms in one step, 0.3 in two halvings
    # (the same box average). So halve while the factor allows, then the rest.
    while scale <= 0.5 and min(image.shape[:2]) >= 2:
        height, width = image.shape[:2]
        image = cv2.resize(image, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        scale *= 2
    if scale == 1.0:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _type_name(annotation: Any) -> str:
    """How ``rabbitcam detectors`` and the reference name a parameter's type."""
    if isinstance(annotation, type):
        return annotation.__name__
    return "list" if "tuple" in str(annotation) else str(annotation)
