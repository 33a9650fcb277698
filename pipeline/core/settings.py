"""What the config file adds to the declared blocks (``declared.blocks``): the
error a broken file raises, and paths named relative to the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationInfo, WithJsonSchema

from declared.problems import refuse


class ConfigError(ValueError):
    """A config that cannot be used; ``problems`` holds one ``file: key: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def path_in_config(value: Any, info: ValidationInfo, *, must_exist: bool = False) -> Path:
    """A directory named relative to the config file's folder."""
    if isinstance(value, Path):  # made in code, not read from a file
        return value
    if not isinstance(value, str) or not value.strip():
        raise refuse(f"must be a directory path, got {value!r}")
    directory = (base_dir(info) / value).resolve()
    if must_exist and not directory.is_dir():
        raise refuse(f"directory not found: {directory}")
    return directory


def base_dir(info: ValidationInfo) -> Path:
    """The folder of the file being read: files named in it are relative to it."""
    return Path(info.context["base_dir"]) if info.context else Path.cwd()


DIRECTORY_SCHEMA = WithJsonSchema({"type": "string", "description": "a directory"})
