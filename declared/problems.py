"""Validation errors as operators read them: ``file: key.path: what is wrong``
(the site's config and a detector's parameters alike).

pydantic reports where (``('cameras', 1, 'fps')``) and what kind of error; this
module words them the way rabbitcam always has ("must be between 0.1 and 240,
got 0", "unknown key (allowed: ...)"), so that a message names the key and
says what would be right. Checks of rabbitcam's own raise ``refuse`` with
their message, and may name keys below the one validated (a detector entry's
parameter, a model's field checked against another).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

OWN_ERROR = "rabbitcam"


def refuse(message: str, key: str = "") -> PydanticCustomError:
    """An error with rabbitcam's own wording; ``key`` is below where it was raised
    (``"pre_s"``, ``"[0].scale"``; ``""``: right there)."""
    return refuse_all([(key, message)])


def refuse_all(problems: Sequence[tuple[str, str]]) -> PydanticCustomError:
    """Several problems found by one check, each with its key and message."""
    summary = "; ".join(message for _, message in problems)
    return PydanticCustomError(OWN_ERROR, "{summary}", {"summary": summary, "problems": problems})


def type_name(value: object) -> str:
    """How a TOML value's type is named in messages."""
    return {dict: "a table", list: "an array", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def key_path(loc: Sequence[str | int], below: str = "") -> str:
    """``('cameras', 1, 'fps')`` as ``cameras[1].fps``, with ``below`` appended."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if below:
        text += below if below.startswith("[") or not text else f".{below}"
    return text


def problems_of(error: ValidationError, root: type[BaseModel], file: Path) -> list[str]:
    """Every problem of ``error`` as ``file: key: message``."""
    return [f"{file}: {key}: {message}" for key, message in worded(error, root)]


def worded(error: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """Every problem of ``error`` as (key path, message)."""
    problems = []
    for detail in error.errors(include_url=False):
        loc = detail["loc"]
        if detail["type"] == OWN_ERROR:
            for below, message in detail["ctx"]["problems"]:
                problems.append((key_path(loc, below), message))
            continue
        problems.append((key_path(loc), _worded(detail, root)))
    return problems


def _worded(detail: Any, root: type[BaseModel]) -> str:
    kind, loc, value = detail["type"], detail["loc"], detail.get("input")
    got = f"{type_name(value)} {value!r}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {type_name(value)}"
    if kind == "string_type":
        return f"must be a string, got {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table, got {type_name(value)}"
    if kind in ("tuple_type", "list_type"):
        field = _field_at(root, loc)
        if field is not None and _model_in(field.annotation) is not None:
            return f"must be an array of tables ([[{loc[-1]}]])"
        return f"must be an array, got {type_name(value)}"
    if kind == "missing":
        field = _field_at(root, loc)
        help_text = field.description if field is not None else None
        return f"is required ({help_text})" if help_text else "is required"
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = ", ".join(sorted(_keys_of(model))) if model else ""
        return f"unknown key (allowed: {allowed})" if allowed else "unknown key"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        field = _field_at(root, loc)
        low, high = bounds(field) if field is not None else (None, None)
        if low is not None and high is not None:
            return f"must be between {low} and {high}, got {value!r}"
        side, bound = ("least", low) if low is not None else ("most", high)
        return f"must be at {side} {bound}, got {value!r}"
    if kind == "literal_error":
        return f"must be {detail['ctx']['expected']}, got {value!r}"
    return str(detail["msg"])


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the table at ``loc``."""
    model: type[BaseModel] | None = root
    keyed = False  # the last field was a table of models by key (``filters.person``)
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        field = _field_of(model, part) if model is not None else None
        model = _model_in(field.annotation) if field is not None else None
        keyed = field is not None and typing.get_origin(field.annotation) is dict
    return model


def _field_at(root: type[BaseModel], loc: Sequence[str | int]) -> FieldInfo | None:
    parent = _model_at(root, loc[:-1])
    return _field_of(parent, loc[-1]) if parent is not None and loc else None


def _field_of(model: type[BaseModel], key: str | int) -> FieldInfo | None:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation (``tuple[CameraConfig, ...]``, ``X | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for argument in typing.get_args(annotation):
            if (model := _model_in(argument)) is not None:
                return model
    return None


def bounds(field: FieldInfo) -> tuple[Any, Any]:
    """A setting's (minimum, maximum), None where it has none."""
    low = high = None
    for constraint in field.metadata:
        low = getattr(constraint, "ge", getattr(constraint, "gt", low))
        high = getattr(constraint, "le", getattr(constraint, "lt", high))
    return low, high
