"""The detector interface, the registry (name → class) and parameter validation.

Adding an algorithm is adding one module: subclass ``Detector``, give it a
``name`` and a ``Params`` dataclass, decorate it with ``@register``. Parameters
come from the camera's config (``{ name = "motion", scale = 0.5 }``) and are
checked here, so a typo is a config error that names the key, not a crash in a
worker an hour later.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels


@dataclass
class Detection:
    label: str
    score: float = 1.0
    box: Box | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"label": self.label, "score": round(float(self.score), 4)}
        if self.box is not None:
            body["box"] = [int(v) for v in self.box]
        if self.extra:
            body["extra"] = self.extra
        return body


@dataclass
class NoParams:
    pass


class Detector:
    """One algorithm, one instance per camera (so stateful ones keep per-camera state)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    # Needs the camera's previous frames (a background model, a track): a camera
    # using it is best served by one worker that sees its frames in order.
    stateful: ClassVar[bool] = False

    def __init__(self, params: Any) -> None:
        self.params = params

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find things in a BGR image; never modify it."""
        raise NotImplementedError


class ParamError(ValueError):
    """A bad detector parameter; ``key`` is the parameter's name, if one is to blame."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a 'name'")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"detector name {cls.name!r} is already registered")
    REGISTRY[cls.name] = cls
    return cls


def _coerce(value: Any, annotation: str, key: str) -> Any:
    expected = {"int": int, "float": float, "bool": bool, "str": str}.get(annotation)
    if expected is None:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
        raise ParamError(f"must be {annotation}, got {type(value).__name__} {value!r}", key)
    return value


def _type_name(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")


def build_params(name: str, raw: dict[str, Any]) -> Any:
    """Typed parameters for detector ``name``; ParamError names the bad key."""
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise ParamError(f"unknown detector {name!r} (available: {known})")
    params_class = REGISTRY[name].Params
    fields = {f.name: f for f in dataclasses.fields(params_class)}
    values = {}
    for key, value in raw.items():
        if key not in fields:
            allowed = ", ".join(sorted(fields)) or "none"
            raise ParamError(f"unknown parameter for {name!r} (allowed: {allowed})", key)
        spec = fields[key]
        value = _coerce(value, _type_name(spec.type), key)
        low, high = spec.metadata.get("min"), spec.metadata.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ParamError(f"must be between {low} and {high}, got {value!r}", key)
        values[key] = value
    return params_class(**values)


def validate_spec(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Check a config entry; return its parameters as given (defaults stay implicit)."""
    build_params(name, raw)
    return dict(raw)


def create(name: str, raw_params: dict[str, Any] | None = None) -> Detector:
    """A new detector instance; ParamError (a ValueError) for unknown names or parameters."""
    params = build_params(name, raw_params or {})
    return REGISTRY[name](params)


def describe() -> list[dict[str, Any]]:
    """Every registered detector with its parameters, for ``rabbitcam detectors``."""
    rows = []
    for name, cls in sorted(REGISTRY.items()):
        params = [
            {
                "name": f.name,
                "type": _type_name(f.type),
                "default": f.default,
                "help": f.metadata.get("help", ""),
            }
            for f in dataclasses.fields(cls.Params)
        ]
        rows.append(
            {
                "name": name,
                "description": cls.description,
                "stateful": cls.stateful,
                "params": params,
            }
        )
    return rows


def param(default: Any, help: str, minimum: Any = None, maximum: Any = None) -> Any:
    """A documented, range-checked detector parameter."""
    return field(default=default, metadata={"help": help, "min": minimum, "max": maximum})
