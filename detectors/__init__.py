"""Computer-vision algorithms, one module each, behind one small interface (``base``)."""

from detectors import codes, motion  # noqa: F401  (importing registers them)
from detectors.base import (
    REGISTRY,
    Detection,
    Detector,
    ParamError,
    create,
    describe,
    register,
    validate_spec,
)

__all__ = [
    "REGISTRY",
    "Detection",
    "Detector",
    "ParamError",
    "create",
    "describe",
    "register",
    "validate_spec",
]
