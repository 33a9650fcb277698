"""The environment variables rabbitcam reads, each declared once, like a setting.

A variable is a field of ``Environment``: its name, type, default, bounds and
one line of help, from which its check and its line in docs/configuration.md
come. The process reads them once (``environment()``); a bad value is a
``ConfigError`` that names the variable, before anything starts, never a bare
``int()`` failing in a worker. An empty variable is an unset one.

(``RABBITCAM_MODELS``, where model weights are cached, belongs to the detectors'
layer, which reads nothing of this one: ``detectors/models.py`` declares it.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from declared.blocks import matching
from declared.problems import worded
from pipeline.core.settings import ConfigError

NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Capture's niceness by default: lowered, it gets what the roles delivering its
# frames leave (docs/architecture.md, "Capture yields", measures why).
CAPTURE_NICENESS = 10


def variable(name: str, default: Any, help: str, minimum: Any = None, maximum: Any = None) -> Any:
    """An environment variable's declaration: its name, default, help and bounds."""
    return Field(default, alias=name, description=help, ge=minimum, le=maximum)


class Environment(BaseModel):
    """Every ``RABBITCAM_*`` variable the roles and commands read."""

    # Text in, typed out: "0" is the integer 0 and the boolean false.
    model_config = ConfigDict(extra="ignore", frozen=True)

    amqp_url: str = variable(
        "RABBITCAM_AMQP_URL", "",
        "overrides `[broker] url`: one amqp:// or amqps:// URL, or several, comma-separated",
    )  # fmt: skip
    namespace: Annotated[str, matching(NAMESPACE_PATTERN)] | None = variable(
        "RABBITCAM_NAMESPACE", None, "overrides `[broker] namespace`"
    )
    data: Path | None = variable(
        "RABBITCAM_DATA", None,
        "where events are kept when `[record] dir` is not set (default: ~/.local/share/rabbitcam)",
    )  # fmt: skip
    config: Path | None = variable(
        "RABBITCAM_CONFIG", None,
        "the site file `rabbitcam cameras` changes (default: configs/demo.toml)",
    )  # fmt: skip
    media: Path | None = variable(
        "RABBITCAM_MEDIA", None,
        "where the demo's and the tests' videos are cached (default: ~/.cache/rabbitcam/media)",
    )  # fmt: skip
    web_user: str = variable(
        "RABBITCAM_WEB_USER", "", "an admin the streamer knows besides its users file"
    )
    web_password: str = variable("RABBITCAM_WEB_PASSWORD", "", "that admin's password")
    web_token: str = variable(
        "RABBITCAM_WEB_TOKEN", "", "a bearer token with an admin's rights (for scripts)"
    )
    capture_nice: int = variable(
        "RABBITCAM_CAPTURE_NICE", CAPTURE_NICENESS,
        "niceness capture adds to itself, to yield to the roles delivering its frames (0: none)",
        0, 19,
    )  # fmt: skip
    capture_shed: bool = variable(
        "RABBITCAM_CAPTURE_SHED", True,
        "capture sheds frames while the machine cannot deliver them (0: publish every frame)",
    )  # fmt: skip
    opencv_threads: int = variable(
        "RABBITCAM_OPENCV_THREADS", 1,
        "OpenCV threads in each worker process (0: OpenCV's default, one a core)", 0, 1024,
    )  # fmt: skip


def read_environment(environ: Mapping[str, str]) -> Environment:
    """The declared variables of ``environ``, checked; ConfigError naming each bad one."""
    names = {field.alias for field in Environment.model_fields.values()}
    given = {name: value for name, value in environ.items() if name in names and value.strip()}
    try:
        return Environment.model_validate(given)
    except ValidationError as error:
        problems = [f"environment {key}: {message}" for key, message in worded(error, Environment)]
        raise ConfigError(problems) from None


def environment() -> Environment:
    """This process's environment, checked (as it is now: tests change it)."""
    return read_environment(os.environ)
