"""Computer-vision algorithms, one module each, behind one small interface (``base``).

Built-in detectors register on import (every module here is imported);
third-party ones install as plugins through the entry-point group
``rabbitcam.detectors`` (each entry names a module or a Detector class). A
plugin that fails to import is logged and skipped: one broken package must not
take every camera down.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from importlib.metadata import entry_points

from detectors.base import (
    REGISTRY,
    Detection,
    Detector,
    FrameContext,
    ParamError,
    Params,
    build_params,
    check_order,
    create,
    describe,
    is_stateful,
    labels_of,
    register,
    unavailable,
    validate_spec,
)

LOGGER = logging.getLogger(__name__)

# Every module of the package is imported, and each built-in detector registers
# itself: adding one is adding its module, and nothing else.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

PLUGIN_GROUP = "rabbitcam.detectors"
FAILED_PLUGINS: dict[str, str] = {}


def load_plugins() -> list[str]:
    """Import every installed plugin; return the names of those that loaded."""
    loaded = []
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            target = entry.load()
            if isinstance(target, type) and issubclass(target, Detector):
                register(target)
        except Exception as error:  # a broken plugin is reported, never fatal
            FAILED_PLUGINS[entry.name] = f"{type(error).__name__}: {error}"
            LOGGER.warning(
                "detector plugin %r (%s) failed to load: %s", entry.name, entry.value, error
            )
            continue
        loaded.append(entry.name)
    return loaded


load_plugins()

__all__ = [
    "FAILED_PLUGINS",
    "REGISTRY",
    "Detection",
    "Detector",
    "FrameContext",
    "ParamError",
    "Params",
    "build_params",
    "check_order",
    "create",
    "describe",
    "is_stateful",
    "labels_of",
    "load_plugins",
    "register",
    "unavailable",
    "validate_spec",
]
