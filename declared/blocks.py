"""Building blocks of every declared thing: a section, a setting, a check.

A setting is declared once, with ``setting(default, help, minimum, maximum)``:
the site's config (``pipeline.core``) and each detector's parameters
(``detectors``) are made of the same blocks, so both are validated, worded
(``declared.problems``), documented and given a JSON Schema the same way.
Checks of our own (``checked``, ``matching``, ``words``) raise ``refuse`` with
the message an operator reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)

from declared.problems import refuse, type_name

# A name an operator gives (a camera's id, a zone's or a line's, an alarm's): one word of
# a queue's name, a routing key, a URL and a file name, so lower case, digits, _ and -.
NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")
# A detection's label: one word of a topic routing key (``<camera>.<label>``).
LABEL_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Section(BaseModel):
    """A table of the config: unknown keys refused, TOML types taken as they are
    (``fps = "15"`` is an error, not a conversion), values fixed once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def setting(default: Any, help: str, minimum: Any = None, maximum: Any = None) -> Any:
    """A setting's declaration: its default, one line of help and its bounds."""
    return Field(default, description=help, ge=minimum, le=maximum)


def checked(check: Callable[[Any], str | None]) -> AfterValidator:
    """A value check of our own: ``check`` returns why the value is wrong, or None."""

    def validate(value: Any) -> Any:
        if message := check(value):
            raise refuse(message)
        return value

    return AfterValidator(validate)


def matching(pattern: re.Pattern[str], message: str | None = None) -> AfterValidator:
    return checked(
        lambda value: (
            None if pattern.fullmatch(value) else message or f"must match {pattern.pattern}"
        )
    )


def one_of(*choices: str) -> Any:
    """A string that is one of ``choices`` (its schema lists them)."""
    problem = f"must be one of {', '.join(choices)}"
    return Annotated[
        str, checked(lambda value: None if value in choices else problem),
        WithJsonSchema({"enum": list(choices)}),
    ]  # fmt: skip


def words(pattern: re.Pattern[str]) -> Any:
    """An array of short names (labels, camera ids, host names), each matching
    ``pattern``; repeats dropped."""

    def validate(value: Any) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise refuse(f"must be an array of strings, got {type_name(value)}")
        for index, word in enumerate(value):
            if not pattern.fullmatch(word):
                raise refuse(f"must match {pattern.pattern}, got {word!r}", f"[{index}]")
        return tuple(dict.fromkeys(value))

    schema = {"type": "array", "items": {"type": "string", "pattern": f"^({pattern.pattern})$"}}
    return Annotated[tuple[str, ...], PlainValidator(validate), WithJsonSchema(schema)]


# Detection labels as a TOML array (``["person", "car"]``), each one word of a routing key.
Labels = words(LABEL_PATTERN)


def tables(model: type[BaseModel], most: int | None = None) -> Any:
    """An array of tables (``[[cameras]]``), each validated by ``model``; at most
    ``most`` of them (checked before any is)."""

    def as_tuple(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if most is not None and len(value) > most:
            raise refuse(f"must have at most {most} tables, got {len(value)}")
        return tuple(value)

    return Annotated[tuple[model, ...], BeforeValidator(as_tuple), Field(max_length=most)]
